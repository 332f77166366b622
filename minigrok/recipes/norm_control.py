"""norm-control: the ticket vs dense nets with the ticket's initial norm (paper section 5).

    ticket       theta_0 * mask                     (mask: top (1 - rate) of |theta_T|)
    dense L1     theta_0 * r_1, r_1 = |theta_0 * mask|_1 / |theta_0|_1, trained dense
    dense L2     theta_0 * r_2 (the same with L2 norms)
    dense L2 ref theta_0 * r_2^ref, the reference code's ratio of the sums of per-matrix L2
                 norms (pruning/norm_control.py; its L1 ratio is r_1 itself)
    dense        the cached dense run (theta_0 itself)

Each trained on its own with the ticket's settings and early stop (all seeds' dense runs
first, then every other run as an independent unit). The figure
adds the L1 and L2 norm curves of the effective weights. Paper: the norm-matched dense
nets grok later than the ticket, so the ticket's smaller norm does not explain it.
"""
import time

from ..figures import norm_panels, plotter
from ..fmt import fmt_rate
from ..pruning.magnitude import magnitude_prune
from ..pruning.norm_control import norm_matched_init, norm_ratio
from .common import dense_runs, finish, format_table, result_row, ticket_hp, train_masked

NAME = "norm-control"
OPTIONS = ("rate",)  # the options it takes besides the training settings


def run(cfg, where, folder, seeds, opts, quiet=False):
    rate = opts["rate"]
    t0 = time.perf_counter()
    rows, curves, dirs = [], {}, []
    dense = dense_runs(cfg, where, seeds, quiet)
    jobs = []
    for s in seeds:
        theta_0, masks = dense[s]["theta_0"], magnitude_prune(dense[s]["params"], rate=rate)
        jobs.append({"cond": "ticket", "seed": s, "params": theta_0, "masks": masks, "ratio": None})
        for norm, variant, cond in (("l1", "global", "dense L1-matched"), ("l2", "global", "dense L2-matched"),
                                    ("l2", "matrix_sum", "dense L2-matched (ref)")):
            jobs.append({"cond": cond, "seed": s, "masks": None,
                         "params": norm_matched_init(theta_0, masks, norm, variant),
                         "ratio": norm_ratio(theta_0, masks, norm, variant)})
    results = train_masked(jobs, ticket_hp(cfg), where, "norm control", quiet, stacked=False)
    for s in seeds:
        d = dense[s]
        for job, result in zip(jobs, results):
            if job["seed"] != s:
                continue
            dirs.append(result["dir"])
            rows.append(result_row(job["cond"], s, result, job["masks"], norm_ratio=job["ratio"],
                                   l1_init=result["metrics"]["l1"][0], l2_init=result["metrics"]["l2"][0]))
            curves[(job["cond"], s)] = result["metrics"]
        dirs.append(d["dir"])
        rows.append(result_row("dense", s, d, None, norm_ratio=1.0,
                               l1_init=d["metrics"]["l1"][0], l2_init=d["metrics"]["l2"][0]))
        curves[("dense", s)] = d["metrics"]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0, extra={"rate": rate},
                  plot=plotter(f"ticket vs norm-matched dense (rate {fmt_rate(rate)})", norm_panels),
                  runs=dirs, quiet=quiet)


report = format_table
