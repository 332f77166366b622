"""The pruning-rate sweep: grokking tickets at several rates and seeds, trained together.

    for each seed:  dense run (cached in DIR/dense_seed<s>/, resumed or reused on rerun),
                    trained to the epoch cap as ticket.py's (or until dense_stop_after)
    for each (rate, seed):  mask = top (1 - rate) of |theta_T| of that seed's dense run,
                            ticket = theta_0 * mask
    all tickets:  one stacked run (stacked.py), each with its own t_mem / t_gen and stop

Output folder: dense_seed<s>/ run directories, metrics/rate<r>_seed<s>.csv (one row per
logged epoch), results.csv (one row per (rate, seed)) and summary.json (settings, the
results, t_gen per rate over seeds, wall times). Tickets are retrained on a rerun.
"""
import csv
import io as _io
import os
import statistics
import time

from . import io
from .backend import set_backend, to_device
from .errors import MinigrokError
from .masks import apply
from .masks import density as mask_density
from .pruning.magnitude import SCOPES, density_from, magnitude_prune
from .runs import _write_metrics, build_run, with_defaults
from .stacked import train_stacked
from .ticket import TICKET_DEFAULTS, _run_or_resume

RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RESULT_COLUMNS = ("rate", "density", "seed", "t_mem", "t_gen", "t_mem_0.95", "t_gen_0.95",
                  "tau_grok", "final_test_acc", "epochs_run", "dense_t_gen", "speedup")


def parse_list(text, kind, what):
    """'0.1,0.2' -> [0.1, 0.2] (kind float or int), with a one-line error."""
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise MinigrokError(f"{what} {text!r} is not a comma-separated list of {kind.__name__}s") from None
    if not values:
        raise MinigrokError(f"{what} is empty")
    return values


def sweep_experiment(cfg, out_dir, rates=RATES, seeds=(0, 1, 2), scope="global",
                     dense_stop_after=None, quiet=False):
    """Dense runs, masks, and all (rate, seed) tickets in one stacked run; returns the
    summary dict (also written to out_dir/summary.json). The tickets stop as in
    ticket.ticket_experiment: once test accuracy has held cfg['stop_threshold'] for
    cfg['stop_after'] epochs."""
    cfg = with_defaults({"stop_after": TICKET_DEFAULTS["stop_after"], **cfg})
    for rate in rates:
        density_from(rate=rate)  # every check before anything is trained
    if scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {scope!r}; allowed: {', '.join(SCOPES)}")
    if len(set(seeds)) != len(seeds) or len(set(rates)) != len(rates):
        raise MinigrokError("--rates and --seeds must not repeat a value")
    set_backend(cfg["backend"])
    t0 = time.perf_counter()
    dense, theta_0, data = {}, {}, {}
    for seed in seeds:
        run_cfg = {**cfg, "seed": seed, "init": None, "mask": None, "stop_after": dense_stop_after}
        dense_dir = os.path.join(out_dir, f"dense_seed{seed}")
        dense[seed] = _run_or_resume(run_cfg, dense_dir, f"dense seed {seed}", quiet)
        model, data[seed], _, _ = build_run(run_cfg)
        theta_0[seed] = io.load_params(os.path.join(dense_dir, "init.npz"), model.PARAM_NAMES)
    dense_wall = time.perf_counter() - t0

    jobs = [(rate, seed) for rate in rates for seed in seeds]
    masks = {job: magnitude_prune(dense[job[1]]["params"], rate=job[0], scope=scope) for job in jobs}
    device = lambda arrays: {k: to_device(v) for k, v in arrays.items()}
    t1 = time.perf_counter()
    results = train_stacked(
        model, [device(apply(theta_0[s], masks[(r, s)])) for r, s in jobs],
        [device({k: data[s][k] for k in ("train_x", "train_y", "test_x", "test_y")}) for _, s in jobs],
        cfg, [device(masks[job]) for job in jobs], label=f"{len(jobs)} tickets", quiet=quiet)
    tickets_wall = time.perf_counter() - t1

    rows = []
    for (rate, seed), result in zip(jobs, results):
        _write_metrics(os.path.join(out_dir, "metrics", f"rate{rate:g}_seed{seed}.csv"), result["metrics"])
        rows.append(_result_row(rate, seed, masks[(rate, seed)], result, dense[seed]["summary"]))
    summary = {"config": cfg, "rates": list(rates), "seeds": list(seeds), "scope": scope,
               "rewind": "theta_0", "dense_stop_after": dense_stop_after, "results": rows, "t_gen_by_rate": _by_rate(rows, rates),
               "wall_time_s": {"dense": dense_wall, "tickets": tickets_wall,
                               "total": time.perf_counter() - t0},
               "n_tickets": len(jobs)}
    _write_results(os.path.join(out_dir, "results.csv"), rows)
    io.save_json(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _result_row(rate, seed, masks, result, dense_summary):
    times, final = result["times"], {c: v[-1] for c, v in result["metrics"].items()}
    t_gen, dense_t_gen = times["0.99"]["t_gen"], dense_summary["t_gen"]
    return {"rate": rate, "density": mask_density(masks), "seed": seed,
            "t_mem": times["0.99"]["t_mem"], "t_gen": t_gen,
            "t_mem_0.95": times["0.95"]["t_mem"], "t_gen_0.95": times["0.95"]["t_gen"],
            "tau_grok": times["0.99"]["tau_grok"], "final_test_acc": final["test_acc"],
            "epochs_run": final["epoch"], "dense_t_gen": dense_t_gen,
            "speedup": dense_t_gen / t_gen if (dense_t_gen is not None and t_gen) else None}


def _by_rate(rows, rates):
    """{rate: {"t_gen": [per seed], "median": ...}} (None where a seed never generalised)."""
    out = {}
    for rate in rates:
        values = [r["t_gen"] for r in rows if r["rate"] == rate]
        reached = [v for v in values if v is not None]
        out[f"{rate:g}"] = {"t_gen": values,
                            "median": statistics.median(reached) if len(reached) == len(values) else None}
    return out


def _write_results(path, rows):
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in RESULT_COLUMNS])
    io._atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def format_table(summary):
    """The table printed by `minigrok sweep`: t_gen(0.99) per rate, one column per seed."""
    seeds = summary["seeds"]
    lines = [f"{'rate':>6}{'density':>9}" + "".join(f"{'seed ' + str(s):>10}" for s in seeds)
             + f"{'median':>9}"]
    for rate in summary["rates"]:
        rows = {r["seed"]: r for r in summary["results"] if r["rate"] == rate}
        median = summary["t_gen_by_rate"][f"{rate:g}"]["median"]
        lines.append(f"{rate:>6g}{rows[seeds[0]]['density']:>9.3f}"
                     + "".join(f"{_fmt(rows[s]['t_gen']):>10}" for s in seeds) + f"{_fmt(median):>9}")
    wall = summary["wall_time_s"]
    lines.append(f"t_gen = first epoch with test accuracy >= 0.99 ('-': never); wall time "
                 f"{wall['total']:.0f}s (dense {wall['dense']:.0f}s, {summary['n_tickets']} "
                 f"tickets stacked {wall['tickets']:.0f}s)")
    return "\n".join(lines)


def _fmt(x):
    return "-" if x is None else f"{x:g}"
