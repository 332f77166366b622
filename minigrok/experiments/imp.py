"""imp: iterative magnitude pruning vs one-shot pruning to the same final density.

    IMP:      level 0 = the cached dense run; level k prunes 20% of the remaining weights
              (by |theta^(k-1)|), rewinds to theta_0 and retrains (pruning/imp.py), down to
              density 1 - rate (0.8, 0.64, 0.512, 0.4 for rate 0.6)
    one-shot: the grokking ticket, top (1 - rate) of the dense |theta_T|, rewound, retrained

Levels train with the ticket's settings and early stop (test accuracy held >= 0.99 for
stop_after epochs), so level k is pruned from the weights at that stop, not at the epoch
cap (the dense run, level 0, is pruned at the cap). Plain train_loop, one run at a time.
"""
import time

from ..masks import apply
from ..pruning.imp import imp
from ..pruning.magnitude import magnitude_prune
from .common import as_result, dense_run, finish, on_device, result_row, say, ticket_hp, train_one
from .plots import plotter

NAME = "imp"


def run(cfg, out, seeds, opts, quiet=False):
    rate = opts.get("rate", 0.6)
    t0 = time.perf_counter()
    rows, curves = [], {}
    hp = ticket_hp(cfg)
    for s in seeds:
        d = dense_run(cfg, out, s, quiet)
        rows.append(result_row("dense", s, as_result(d), None, level=0))
        curves[("dense", s)] = d["metrics"]
        say(f"{NAME}: seed {s} IMP levels", quiet)
        levels = imp(d["model"], on_device(d["theta_0"]), d["device_data"], hp, rate=rate,
                     trained=on_device(d["params"]), quiet=quiet)
        for lv in levels[1:]:
            cond = f"IMP level {lv['level']} ({lv['density']:.3f})"
            result = {"metrics": lv["metrics"], "times": lv["summary"]["thresholds"]}
            rows.append(result_row(cond, s, result, lv["masks"], level=lv["level"]))
            curves[(cond, s)] = lv["metrics"]
        masks = magnitude_prune(d["params"], rate=rate)
        result = train_one(d["model"], apply(d["theta_0"], masks), d["data"], hp, masks,
                           f"one-shot seed {s}", quiet)
        cond = f"one-shot ({1 - rate:.3f})"
        rows.append(result_row(cond, s, result, masks, level=None))
        curves[(cond, s)] = result["metrics"]
    return finish(NAME, out, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "level_rate": 0.2},
                  plot=plotter(f"IMP (20% per level) vs one-shot, final density {1 - rate:.2f}"),
                  quiet=quiet)
