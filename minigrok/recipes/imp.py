"""imp: iterative magnitude pruning vs one-shot pruning to the same final density.

    IMP:      level 0 = the dense run; level k prunes 20% of the remaining weights (by
              |theta^(k-1)|, pruning/imp.py), rewinds to theta_0 and retrains, down to
              density 1 - rate (0.8, 0.64, 0.512, 0.4 for rate 0.6)
    one-shot: the grokking ticket, top (1 - rate) of the dense |theta_T|, rewound, retrained

Levels train with the ticket's settings and early stop (test accuracy held >= 0.99 for
stop_after epochs), so level k is pruned from the weights at that stop, not at the epoch
cap (the dense run, level 0, is pruned at the cap). Each level is a unit of the store.
"""
import time

from ..figures import plotter
from ..pruning.imp import imp_densities, imp_level_mask
from ..pruning.magnitude import magnitude_prune
from .common import dense_runs, finish, format_table, result_row, say, ticket_hp, train_one

NAME = "imp"
OPTIONS = ("rate",)  # the options it takes besides the training settings


def run(cfg, root, folder, seeds, opts, quiet=False):
    rate = opts["rate"]
    t0 = time.perf_counter()
    rows, curves, dirs = [], {}, []
    hp = ticket_hp(cfg)
    for s in seeds:
        d = dense_runs(cfg, root, [s], quiet)[s]
        rows.append(result_row("dense", s, d, None, level=0))
        curves[("dense", s)] = d["metrics"]
        dirs.append(d["dir"])
        say(f"{NAME}: seed {s} IMP levels", quiet)
        trained, masks = d["params"], None
        for level, density in enumerate(imp_densities(1 - rate), start=1):
            masks = imp_level_mask(trained, density, masks)
            result = train_one(d["theta_0"], s, hp, masks, root, f"imp {level} seed {s}", quiet)
            trained = result["params"]
            cond = f"IMP level {level} ({density:.3f})"
            rows.append(result_row(cond, s, result, masks, level=level))
            curves[(cond, s)] = result["metrics"]
            dirs.append(result["dir"])
        masks = magnitude_prune(d["params"], rate=rate)
        result = train_one(d["theta_0"], s, hp, masks, root, f"one-shot seed {s}", quiet)
        cond = f"one-shot ({1 - rate:.3f})"
        rows.append(result_row(cond, s, result, masks, level=None))
        curves[(cond, s)] = result["metrics"]
        dirs.append(result["dir"])
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "level_rate": 0.2},
                  plot=plotter(f"IMP (20% per level) vs one-shot, final density {1 - rate:.2f}"),
                  runs=dirs, quiet=quiet)


report = format_table
