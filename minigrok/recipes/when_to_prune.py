"""when-to-prune: how robust a ticket is across seeds, and how it depends on when the
dense net is pruned.

The same seeds, the same rate (0.6) and scope, the ticket rewound to theta_0 and trained
with the same settings; only the dense weights the mask is taken from differ:

    cap E          the dense run at its epoch cap --epochs E (30,000: the paper's "after
                   30k iterations"), read from that run's checkpoint at E
    held N         the dense run stopped once its test accuracy has held >= the threshold
                   (0.99) for N epochs (`minigrok ticket --dense-stop-after N`), or at the
                   cap E if it never has; for each N of --held
    cap L          the dense run trained on to a later cap --late-epochs L (50,000)

The "cap" policies share one dense run per seed (trained to L, with a checkpoint at E; the
epoch cap is not part of a run's key); each "held N" is its own run, which starts from
that run's checkpoint just before it stops (runs.fork_run: the same steps, so the same
bits as training it from epoch 0, in at most checkpoint_every epochs of its own). Per policy and seed
the table reads: the epoch pruned at, the dense t_gen(0.99) (as that policy's dense run
saw it: a dense run that reached 0.99 only after E has "never" under cap E), the
ticket's t_gen(0.99) and the speed-up dense / ticket. The gap between grokking and
pruning (epoch pruned - dense t_gen) is what the policies vary; the report bins every
(policy, seed) by its gap and gives the Spearman rank correlation of gap and ticket t_gen.
"""
import statistics
import time

from scipy import stats as scipy_stats

from .. import store
from ..errors import MinigrokError
from ..figures import plot_prune_timing
from ..fmt import fmt_count, fmt_epoch, fmt_speedup
from ..pruning.magnitude import magnitude_prune
from ..settings import check_setting
from ..train import grokking_times
from .common import (dense_config, finish, format_table, parse_list, result_row, say, spread,
                     ticket_hp, train_dense, train_masked)

NAME = "when-to-prune"
OPTIONS = ("rate", "held", "late_epochs")  # the options it takes besides the training settings
HELD = (1000, 5000, 10000)
LATE_EPOCHS = 50000
GAP_BINS = (0, 2000, 5000, 10000, 20000)  # left edges of the gap bins, in epochs


def check(cfg, seeds, opts):
    held = parse_list(opts.get("held") or list(HELD), int, "--held")
    for n in held:
        check_setting("dense_stop_after", n)
    late = check_setting("late_epochs", opts.get("late_epochs", LATE_EPOCHS))
    every = cfg["checkpoint_every"]
    if late <= cfg["epochs"]:
        raise MinigrokError(f"late_epochs = {late} is not allowed: give a cap after --epochs ({cfg['epochs']})")
    if not (every and cfg["epochs"] % every == 0):
        raise MinigrokError(f"--epochs {cfg['epochs']} is not a multiple of --checkpoint-every ({every}): "
                            "the cap policy reads the dense run's checkpoint there")
    return {**opts, "held": held, "late_epochs": late}


def policies(cfg, opts):
    """[(name, dense stop_after or None, epoch cap of its dense run)] in report order."""
    return ([(f"cap {cfg['epochs']}", None, cfg["epochs"])]
            + [(f"held {n}", n, cfg["epochs"]) for n in opts["held"]]
            + [(f"cap {opts['late_epochs']}", None, opts["late_epochs"])])


def until(metrics, epoch):
    """The metrics rows up to and including `epoch`."""
    n = sum(1 for e in metrics["epoch"] if e <= epoch)
    return {c: list(v[:n]) for c, v in metrics.items()}


def run(cfg, where, folder, seeds, opts, quiet=False):
    t0 = time.perf_counter()
    # the dense runs to the later cap first; each "held N" run then starts from its seed's
    # run at the last checkpoint before it stops (the same steps: runs.fork_run)
    dense = train_dense({("late", s): dense_config({**cfg, "epochs": opts["late_epochs"]}, s) for s in seeds},
                        where, quiet)
    dense.update(train_dense({(n, s): dense_config(cfg, s, stop_after=n) for n in opts["held"] for s in seeds},
                             where, quiet, start_from={(n, s): dense["late", s]["dir"]
                                                       for n in opts["held"] for s in seeds}))
    prunes = {}  # (policy, seed): {"weights", "epoch", "dense_t_gen", "dense"}
    for name, stop_after, cap in policies(cfg, opts):
        for s in seeds:
            if stop_after is not None:
                d = dense[stop_after, s]
                prunes[name, s] = {"weights": d["params"], "epoch": d["summary"]["epochs_run"],
                                   "dense_t_gen": d["times"]["0.99"]["t_gen"], "dense": d}
            else:
                d = dense["late", s]
                weights = d["params"] if cap == opts["late_epochs"] else \
                    store.load_commit(d["dir"], cap, d["key"])["params"]
                prunes[name, s] = {"weights": weights, "epoch": cap, "dense": d,
                                   "dense_t_gen": grokking_times(until(d["metrics"], cap))["0.99"]["t_gen"]}
    jobs = [{"policy": name, "seed": s, "params": prunes[name, s]["dense"]["theta_0"],
             "masks": magnitude_prune(prunes[name, s]["weights"], rate=opts["rate"])}
            for name, _, _ in policies(cfg, opts) for s in seeds]
    say(f"{NAME}: {fmt_count(len(jobs), 'ticket')}", quiet)
    results = train_masked(jobs, ticket_hp(cfg), where, fmt_count(len(jobs), "ticket"), quiet)
    rows, curves = [], {}
    for job, result in zip(jobs, results):
        pr = prunes[job["policy"], job["seed"]]
        dense_t_gen, t_gen = pr["dense_t_gen"], result["times"]["0.99"]["t_gen"]
        rows.append(result_row(job["policy"], job["seed"], result, job["masks"], pruned_at=pr["epoch"],
                               dense_t_gen=dense_t_gen,
                               gap=pr["epoch"] - dense_t_gen if dense_t_gen is not None else None,
                               speedup=dense_t_gen / t_gen if (dense_t_gen and t_gen) else None))
        curves[(job["policy"], job["seed"])] = result["metrics"]
    runs = [d["dir"] for d in dense.values()]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": opts["rate"], "held": opts["held"], "late_epochs": opts["late_epochs"],
                         "gap_bins": gap_table(rows), "spearman_gap_t_gen": spearman(rows)},
                  plot=lambda summary, curves, path: plot_prune_timing(summary["results"], path),
                  runs=runs + [r["dir"] for r in results], quiet=quiet)


def gap_table(rows):
    """Per gap bin (GAP_BINS): the rows whose dense run grokked and was pruned that long
    after, with the median ticket t_gen and speed-up of those whose ticket reached 0.99."""
    out = []
    edges = list(GAP_BINS) + [None]
    for lo, hi in zip(edges[:-1], edges[1:]):
        mine = [r for r in rows if r["gap"] is not None and r["gap"] >= lo and (hi is None or r["gap"] < hi)]
        reached = [r for r in mine if r["t_gen"] is not None]
        out.append({"from": lo, "to": hi, "n": len(mine), "reached": len(reached),
                    "median_t_gen": statistics.median([r["t_gen"] for r in reached]) if reached else None,
                    "median_speedup": statistics.median([r["speedup"] for r in reached]) if reached else None})
    return out


def spearman(rows):
    """Spearman's rank correlation of the gap and the ticket's t_gen over the rows where
    both exist, and their number."""
    both = [r for r in rows if r["gap"] is not None and r["t_gen"] is not None]
    if len(both) < 3:
        return {"rho": None, "n": len(both)}
    rho = scipy_stats.spearmanr([r["gap"] for r in both], [r["t_gen"] for r in both]).statistic
    return {"rho": float(rho), "n": len(both)}


def report(summary):
    rows = summary["results"]
    lines = [format_table(summary), "",
             f"per policy, over the seeds where dense and ticket reached 0.99 (rate {summary['rate']}):"]
    for policy in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == policy]
        both = [r for r in mine if r["speedup"] is not None]
        lines.append(f"{policy}: {len(both)} of {len(mine)} seeds; pruned at "
                     f"{spread([r['pruned_at'] for r in mine], fmt_epoch)}")
        if both:
            lines.append(f"  dense t_gen {spread([r['dense_t_gen'] for r in both], fmt_epoch)}")
            lines.append(f"  ticket t_gen {spread([r['t_gen'] for r in both], fmt_epoch)}")
            lines.append(f"  speed-up {spread([r['speedup'] for r in both], fmt_speedup)}; "
                         f"below 10x on {sum(r['speedup'] < 10 for r in both)} seeds")
    lines += ["", "by the gap between the dense run's t_gen(0.99) and the epoch pruned at (every policy and seed):",
              f"{'gap (epochs)':<16}{'runs':>6}{'reached':>9}{'median ticket t_gen':>21}{'median speed-up':>17}"]
    for b in summary["gap_bins"]:
        span = f"{b['from']:,}-{b['to']:,}" if b["to"] is not None else f">= {b['from']:,}"
        lines.append(f"{span:<16}{b['n']:>6}{b['reached']:>9}{fmt_epoch(b['median_t_gen']):>21}"
                     f"{fmt_speedup(b['median_speedup']) if b['median_speedup'] else '-':>17}")
    rho = summary["spearman_gap_t_gen"]
    lines.append(f"Spearman rank correlation of gap and ticket t_gen: "
                 + (f"{rho['rho']:.2f} over {rho['n']} tickets" if rho["rho"] is not None else "n/a"))
    return "\n".join(lines)
