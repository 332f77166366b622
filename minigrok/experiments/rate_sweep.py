"""rate-sweep: ticket t_gen against the pruning rate (the paper's Figure 4).

    for each seed: the cached dense run (OUT/dense_seed<s>/), pruned at its epoch cap
    rate r > 0:    ticket = theta_0 * top (1 - r) of |theta_T|, all (rate, seed) tickets
                   trained together as one stacked model (minigrok.stacked)
    rate 0.0:      the dense baseline = the cached dense run itself (theta_0 with every
                   weight kept, trained with the same settings), not retrained

Paper: every rate in 0.1-0.7 groks sooner than dense, 0.5 fastest, 0.9 never groks.
"""
import time

from ..masks import apply
from ..pruning.magnitude import magnitude_prune
from .common import (as_result, check_rates, dense_run, finish, result_row, say, ticket_hp,
                     train_group)
from .plots import plotter

NAME = "rate-sweep"
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def run(cfg, out, seeds, opts, quiet=False):
    rates = check_rates(opts.get("rates") or RATES)
    t0 = time.perf_counter()
    dense = {s: dense_run(cfg, out, s, quiet) for s in seeds}
    jobs = []
    for rate in (r for r in rates if r > 0):
        for s in seeds:
            masks = magnitude_prune(dense[s]["params"], rate=rate, scope=opts.get("scope", "global"))
            jobs.append({"rate": rate, "seed": s, "masks": masks, "data": dense[s]["data"],
                         "params": apply(dense[s]["theta_0"], masks)})
    say(f"{NAME}: {len(jobs)} tickets stacked", quiet)
    model = dense[seeds[0]]["model"]
    results = train_group(model, jobs, ticket_hp(cfg), f"{len(jobs)} tickets", quiet)
    rows, curves = [], {}
    for rate in rates:
        for s in seeds:
            dense_t_gen = dense[s]["summary"]["t_gen"]
            if rate == 0:
                result, masks, cond = as_result(dense[s]), None, "rate=0.0 (dense)"
            else:
                i = next(i for i, j in enumerate(jobs) if j["rate"] == rate and j["seed"] == s)
                result, masks, cond = results[i], jobs[i]["masks"], f"rate={rate:g}"
            t_gen = result["times"]["0.99"]["t_gen"]
            rows.append(result_row(cond, s, result, masks, rate=rate, dense_t_gen=dense_t_gen,
                                   speedup=dense_t_gen / t_gen if (dense_t_gen and t_gen) else None))
            curves[(cond, s)] = result["metrics"]
    fastest = _fastest(rows)
    return finish(NAME, out, cfg, seeds, rows, curves, t0,
                  extra={"rates": rates, "fastest": fastest,
                         "note": "rate 0.0 is the cached dense run (not retrained)"},
                  plot=plotter("ticket t_gen vs pruning rate"), quiet=quiet)


def _fastest(rows):
    """The rate of smallest mean t_gen(0.99) among those every seed reached, and its speed-up."""
    best = None
    for rate in dict.fromkeys(r["rate"] for r in rows):
        mine = [r for r in rows if r["rate"] == rate]
        if all(r["t_gen"] is not None for r in mine):
            mean = sum(r["t_gen"] for r in mine) / len(mine)
            if best is None or mean < best["mean_t_gen"]:
                speedups = [r["speedup"] for r in mine]
                best = {"rate": rate, "mean_t_gen": mean,
                        "mean_speedup": (sum(speedups) / len(speedups)) if None not in speedups else None}
    return best
