"""norm-control: the ticket vs dense nets with the ticket's initial norm (paper section 5).

    ticket       theta_0 * mask                     (mask: top (1 - rate) of |theta_T|)
    dense L1     theta_0 * r_1, r_1 = |theta_0 * mask|_1 / |theta_0|_1, trained dense
    dense L2     theta_0 * r_2 (the same with L2 norms)
    dense        the cached dense run (theta_0 itself)

Each trained on its own with the ticket's settings and early stop. The figure
adds the L1 and L2 norm curves of the effective weights. Paper: the norm-matched dense
nets grok later than the ticket, so the ticket's smaller norm does not explain it.
"""
import time

from ..figures import norm_panels, plotter
from ..pruning.magnitude import magnitude_prune
from ..pruning.norm_control import norm_matched_init, norm_ratio
from .common import dense_runs, finish, format_table, result_row, say, ticket_hp, train_one

NAME = "norm-control"
OPTIONS = ("rate",)  # the options it takes besides the training settings


def run(cfg, root, folder, seeds, opts, quiet=False):
    rate = opts["rate"]
    t0 = time.perf_counter()
    rows, curves, dirs = [], {}, []
    hp = ticket_hp(cfg)
    for s in seeds:
        d = dense_runs(cfg, root, [s], quiet)[s]
        masks = magnitude_prune(d["params"], rate=rate)
        runs = {"ticket": (d["theta_0"], masks, None)}
        for norm in ("l1", "l2"):
            runs[f"dense {norm.upper()}-matched"] = (norm_matched_init(d["theta_0"], masks, norm),
                                                      None, norm_ratio(d["theta_0"], masks, norm))
        for cond, (params, m, ratio) in runs.items():
            say(f"{NAME}: seed {s} {cond}", quiet)
            result = train_one(params, s, hp, m, root, f"{cond} seed {s}", quiet)
            dirs.append(result["dir"])
            rows.append(result_row(cond, s, result, m, norm_ratio=ratio,
                                   l1_init=result["metrics"]["l1"][0], l2_init=result["metrics"]["l2"][0]))
            curves[(cond, s)] = result["metrics"]
        dirs.append(d["dir"])
        rows.append(result_row("dense", s, d, None, norm_ratio=1.0,
                               l1_init=d["metrics"]["l1"][0], l2_init=d["metrics"]["l2"][0]))
        curves[("dense", s)] = d["metrics"]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0, extra={"rate": rate},
                  plot=plotter(f"ticket vs norm-matched dense (rate {rate:g})", norm_panels),
                  runs=dirs, quiet=quiet)


report = format_table
