"""pai: the grokking ticket vs pruning-at-initialisation masks of the same density.

    ticket              top (1 - rate) of |theta_T| (the grokked dense weights)
    random              random_like(ticket): the ticket's count in every matrix, at random
    snip                |dL/dW * W| at theta_0 on the training batch
    grasp               -W * (H g) at theta_0 (keeps the lowest; pruning/grasp.py)
    synflow             the paper's SynFlow: 100 rounds, all-ones input, exponential schedule
    synflow-1round-data the reference code's variant: one round on the training batch

All masks global (one threshold over all matrices) except random (per-matrix counts of the
ticket), rewound to theta_0 and trained together (stacked) with the ticket's settings.
Paper: none of the PaI masks, nor random, groks sooner than dense.
"""
import time

import numpy as np

from ..figures import plotter
from ..fmt import fmt_rate
from ..pruning import (grasp, magnitude_prune, random_like, snip, synflow,
                       synflow_reference_one_round)
from .common import dense_runs, finish, format_table, result_row, say, ticket_hp, train_masked

NAME = "pai"
OPTIONS = ("rate",)  # the options it takes besides the training settings
METHODS = ("ticket", "random", "snip", "grasp", "synflow", "synflow-1round-data")


def pai_masks(model, theta_0, trained, data, rate, seed):
    """{method: mask} at density 1 - rate (METHODS order)."""
    x, y = data["train_x"], data["train_y"]
    ticket = magnitude_prune(trained, rate=rate)
    return {"ticket": ticket,
            "random": random_like(ticket, np.random.default_rng(seed)),
            "snip": snip(model, theta_0, x, y, rate=rate),
            "grasp": grasp(model, theta_0, x, y, rate=rate),
            "synflow": synflow(model, theta_0, rate=rate),
            "synflow-1round-data": synflow_reference_one_round(model, theta_0, x, rate=rate)}


def run(cfg, where, folder, seeds, opts, quiet=False):
    rate = opts["rate"]
    t0 = time.perf_counter()
    dense = dense_runs(cfg, where, seeds, quiet)
    jobs = []
    for s in seeds:
        say(f"{NAME}: scoring masks for seed {s}", quiet)
        d = dense[s]
        for method, m in pai_masks(d["model"], d["theta_0"], d["params"], d["data"], rate, s).items():
            jobs.append({"cond": method, "seed": s, "masks": m, "params": d["theta_0"]})
    say(f"{NAME}: {len(jobs)} masks", quiet)
    results = train_masked(jobs, ticket_hp(cfg), where, f"{len(jobs)} masks", quiet)
    rows, curves = [], {}
    for s in seeds:
        rows.append(result_row("dense", s, dense[s], None, method="dense"))
        curves[("dense", s)] = dense[s]["metrics"]
    for job, result in sorted(zip(jobs, results), key=lambda jr: METHODS.index(jr[0]["cond"])):
        rows.append(result_row(job["cond"], job["seed"], result, job["masks"], method=job["cond"]))
        curves[(job["cond"], job["seed"])] = result["metrics"]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "methods": list(METHODS)},
                  plot=plotter(f"ticket vs pruning at init (rate {fmt_rate(rate)})"),
                  runs=[d["dir"] for d in dense.values()] + [r["dir"] for r in results], quiet=quiet)


report = format_table
