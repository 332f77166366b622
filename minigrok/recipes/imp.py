"""imp: iterative magnitude pruning vs one-shot pruning to the same final density.

    IMP:      level 0 = the dense run; level k prunes 20% of the remaining weights (by
              |theta^(k-1)|, pruning/imp.py), rewinds to theta_0 and retrains, down to
              density 1 - rate (0.8, 0.64, 0.512, 0.4 for rate 0.6)
    one-shot: the grokking ticket, top (1 - rate) of the dense |theta_T|, rewound, retrained

Levels train with the ticket's settings and early stop (test accuracy held >= 0.99 for
stop_after epochs), so level k is pruned from the weights at that stop, not at the epoch
cap (the dense run, level 0, is pruned at the cap). Each level is a unit of the store; a
level of every seed trains at once (in parallel with --workers).
"""
import time

from ..figures import plotter
from ..pruning.imp import imp_densities, imp_level_mask
from ..pruning.magnitude import magnitude_prune
from .common import dense_runs, finish, format_table, result_row, say, ticket_hp, train_masked

NAME = "imp"
OPTIONS = ("rate",)  # the options it takes besides the training settings


def run(cfg, where, folder, seeds, opts, quiet=False):
    rate = opts["rate"]
    t0 = time.perf_counter()
    hp = ticket_hp(cfg)
    dense = dense_runs(cfg, where, seeds, quiet)
    runs = {s: [("dense", dense[s], None, 0)] for s in seeds}  # (condition, result, mask, level)
    trained, masks = {s: dense[s]["params"] for s in seeds}, {s: None for s in seeds}
    for level, density in enumerate(imp_densities(1 - rate), start=1):
        say(f"{NAME}: level {level}, density {density:.3f}", quiet)
        masks = {s: imp_level_mask(trained[s], density, masks[s]) for s in seeds}
        jobs = [{"seed": s, "params": dense[s]["theta_0"], "masks": masks[s]} for s in seeds]
        for s, result in zip(seeds, train_masked(jobs, hp, where, f"imp {level}", quiet, stacked=False)):
            trained[s] = result["params"]
            runs[s].append((f"IMP level {level} ({density:.3f})", result, masks[s], level))
    one_shot = {s: magnitude_prune(dense[s]["params"], rate=rate) for s in seeds}
    jobs = [{"seed": s, "params": dense[s]["theta_0"], "masks": one_shot[s]} for s in seeds]
    for s, result in zip(seeds, train_masked(jobs, hp, where, "one-shot", quiet, stacked=False)):
        runs[s].append((f"one-shot ({1 - rate:.3f})", result, one_shot[s], None))
    rows, curves, dirs = [], {}, []
    for s in seeds:
        for cond, result, m, level in runs[s]:
            rows.append(result_row(cond, s, result, m, level=level))
            curves[(cond, s)] = result["metrics"]
            dirs.append(result["dir"])
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "level_rate": 0.2},
                  plot=plotter(f"IMP (20% per level) vs one-shot, final density {1 - rate:.2f}"),
                  runs=dirs, quiet=quiet)


report = format_table
