"""rate-sweep: ticket t_gen against the pruning rate (the paper's Figure 4).

    for each seed: the dense run (a unit of ROOT/runs/), pruned at its epoch cap (or
                   once it has held the threshold for --dense-stop-after epochs)
    rate r > 0:    ticket = theta_0 * top (1 - r) of |theta_T|, the (rate, seed) tickets
                   not on disk yet trained together as one stacked model
    rate 0.0:      the dense baseline = the dense run itself (theta_0 with every weight
                   kept, trained with the same settings), not retrained

`minigrok sweep` runs this recipe into its --out folder; `minigrok experiment rate-sweep`
into OUT/rate-sweep/. Paper: every rate in 0.1-0.7 groks sooner than dense, 0.5
fastest, 0.9 never groks.
"""
import time

from ..errors import MinigrokError
from ..figures import plotter
from ..fmt import fmt_count, fmt_epoch, fmt_rate, fmt_speedup
from ..pruning.magnitude import SCOPES, magnitude_prune
from .common import (check_rates, dense_runs, finish, format_table, result_row, say, spread,
                     ticket_hp, train_masked)

NAME = "rate-sweep"
OPTIONS = ("rates", "scope", "dense_stop_after")  # the options it takes besides the training settings
ANY_TASK = True  # modular, MNIST, regression, parity alike
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def check(cfg, seeds, opts):
    scope = opts.get("scope") or "global"
    if scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {scope!r}; allowed: {', '.join(SCOPES)}")
    return {**opts, "rates": check_rates(opts.get("rates") or RATES), "scope": scope}


def run(cfg, where, folder, seeds, opts, quiet=False):
    rates = opts["rates"]
    t0 = time.perf_counter()
    dense = dense_runs(cfg, where, seeds, quiet, stop_after=opts.get("dense_stop_after"))
    jobs = []
    for rate in (r for r in rates if r > 0):
        for s in seeds:
            masks = magnitude_prune(dense[s]["params"], rate=rate, scope=opts["scope"])
            jobs.append({"rate": rate, "seed": s, "masks": masks, "params": dense[s]["theta_0"]})
    say(f"{NAME}: {fmt_count(len(jobs), 'ticket')}", quiet)
    results = train_masked(jobs, ticket_hp(cfg), where, f"{fmt_count(len(jobs), 'ticket')}", quiet)
    rows, curves = [], {}
    for rate in rates:
        for s in seeds:
            dense_t_gen = dense[s]["summary"]["t_gen"]
            if rate == 0:
                result, masks, cond = dense[s], None, "rate=0.0 (dense)"
            else:
                i = next(i for i, j in enumerate(jobs) if j["rate"] == rate and j["seed"] == s)
                result, masks, cond = results[i], jobs[i]["masks"], f"rate={fmt_rate(rate)}"
            t_gen = result["times"]["0.99"]["t_gen"]
            rows.append(result_row(cond, s, result, masks, rate=rate, dense_t_gen=dense_t_gen,
                                   speedup=dense_t_gen / t_gen if (dense_t_gen and t_gen) else None))
            curves[(cond, s)] = result["metrics"]
    fastest = _fastest(rows)
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rates": rates, "scope": opts["scope"], "fastest": fastest,
                         "dense_stop_after": opts.get("dense_stop_after"),
                         "note": "rate 0.0 is the dense run itself (not retrained)"},
                  plot=plotter("ticket t_gen vs pruning rate"),
                  runs=[d["dir"] for d in dense.values()] + [r["dir"] for r in results], quiet=quiet)


def report(summary):
    text = format_table(summary) + "\n" + per_seed_table(summary["results"])
    text += "".join("\n" + line for line in distribution_lines(summary["results"]))
    f = summary["fastest"]
    if f:
        speedup = (fmt_speedup(f["mean_speedup"]) if f["mean_speedup"] is not None
                   else "n/a (a seed's dense run never reached 0.99)")
        text += (f"\nfastest rate {fmt_rate(f['rate'])}: mean t_gen {f['mean_t_gen']:.0f}, "
                 f"mean speed-up {speedup}")
    else:
        text += "\nfastest rate: none (no rate > 0 reached t_gen(0.99) on every seed)"
    return text


def _fastest(rows):
    """The pruning rate > 0 of smallest mean t_gen(0.99) among those every seed reached, and
    its speed-up (rate 0 is the dense run itself, never "the fastest ticket")."""
    best = None
    for rate in dict.fromkeys(r["rate"] for r in rows if r["rate"] > 0):
        mine = [r for r in rows if r["rate"] == rate]
        if all(r["t_gen"] is not None for r in mine):
            mean = sum(r["t_gen"] for r in mine) / len(mine)
            if best is None or mean < best["mean_t_gen"]:
                speedups = [r["speedup"] for r in mine]
                best = {"rate": rate, "mean_t_gen": mean,
                        "mean_speedup": (sum(speedups) / len(speedups)) if None not in speedups else None}
    return best


def per_seed_table(rows):
    """t_gen(0.99) of every seed at every rate (rate 0.0: the dense run)."""
    rates = list(dict.fromkeys(r["rate"] for r in rows))
    t_gen = {(r["seed"], r["rate"]): r["t_gen"] for r in rows}
    lines = ["t_gen(0.99) per seed:", "seed" + "".join(f"{fmt_rate(rate):>8}" for rate in rates)]
    for seed in dict.fromkeys(r["seed"] for r in rows):
        lines.append(f"{seed:<4}" + "".join(f"{fmt_epoch(t_gen[seed, rate]):>8}" for rate in rates))
    return "\n".join(lines)


def distribution_lines(rows):
    """Per rate > 0, over the seeds where both the dense run and the ticket reached 0.99:
    the median, quartiles and range of the dense t_gen, the ticket's t_gen and the speed-up."""
    lines = []
    for rate in dict.fromkeys(r["rate"] for r in rows if r["rate"] > 0):
        both = [r for r in rows if r["rate"] == rate and r["speedup"] is not None]
        n = len([r for r in rows if r["rate"] == rate])
        if not both:
            lines.append(f"rate {fmt_rate(rate)}: no seed where both reached 0.99 (of {n})")
            continue
        lines.append(f"rate {fmt_rate(rate)}, the {len(both)} of {n} seeds where dense and ticket "
                     f"reached 0.99: dense t_gen {spread([r['dense_t_gen'] for r in both], fmt_epoch)}; "
                     f"ticket t_gen {spread([r['t_gen'] for r in both], fmt_epoch)}; "
                     f"speed-up {spread([r['speedup'] for r in both], fmt_speedup)}")
    return lines
