"""non-grokking: tickets from dense checkpoints taken before grokking vs the grokked ticket.

    m_t = top (1 - rate) of |theta_t|,  t in --at (default 2k, 5k, 10k, 16k, 28k epochs)
    grokked ticket: the mask of the final dense weights (the epoch cap, 30k)
    each mask rewound to theta_0 and retrained; all (mask, seed) tickets stacked

The dense run keeps a checkpoint every --checkpoint-every epochs (default 1000),
which covers the default epochs. Paper: the earlier the mask, the later (or never) the
ticket groks; only the grokked ticket gives the full speed-up.
"""
import time

from ..errors import MinigrokError
from .. import store
from ..figures import plotter
from ..fmt import fmt_count, fmt_rate
from ..pruning.magnitude import magnitude_prune
from ..pruning.non_grokking import EPOCHS, non_grokking_masks
from ..runs import plan, unit_folder
from .common import (dense_config, dense_runs, finish, format_table, result_row, say, ticket_hp,
                     train_masked)

NAME = "non-grokking"
OPTIONS = ("rate", "at")  # the options it takes besides the training settings


def check_epochs(cfg, epochs):
    every = cfg.get("checkpoint_every") or 0
    for e in epochs:
        if not (isinstance(e, int) and 0 <= e < cfg["epochs"]) or (e and (not every or e % every)):
            raise MinigrokError(
                f"checkpoint epoch {e} is not available: give epochs in [0, --epochs "
                f"{cfg['epochs']}) that are multiples of --checkpoint-every {every}")
    return list(epochs)


def check(cfg, seeds, opts):
    return {**opts, "at": check_epochs(cfg, opts.get("at") or list(EPOCHS))}


def check_store(cfg, root, seeds, opts):
    """A dense run already on disk is reused as it is, with the checkpoints it was trained
    with (--checkpoint-every does not name a run): one line, before anything is written,
    when it lacks a mask epoch it has already passed."""
    for s in seeds:
        unit = unit_folder(root, plan(dense_config(cfg, s)))
        if not store.is_run(unit):
            continue
        have = {0, *store.checkpoint_epochs(unit)}  # 0: init.npz
        trained = max(have)
        missing = [e for e in opts["at"] if e not in have and e <= trained]
        if missing:
            raise MinigrokError(
                f"the dense run of seed {s} in {unit!r} (reused as it is) has no checkpoint at "
                f"epoch {', '.join(map(str, missing))}: it was trained with other --checkpoint-every; "
                "give --at epochs it holds or another --out")


def run(cfg, where, folder, seeds, opts, quiet=False):
    rate, epochs = opts["rate"], opts["at"]
    t0 = time.perf_counter()
    dense = dense_runs(cfg, where, seeds, quiet)
    jobs = []
    for s in seeds:
        weights = {e: store.load_commit(dense[s]["dir"], e, dense[s]["key"])["params"] for e in epochs}
        masks = non_grokking_masks(weights, rate=rate)
        masks[cfg["epochs"]] = magnitude_prune(dense[s]["params"], rate=rate)
        for epoch, m in masks.items():
            cond = f"grokked ({epoch})" if epoch == cfg["epochs"] else f"epoch {epoch}"
            jobs.append({"cond": cond, "epoch": epoch, "seed": s, "masks": m,
                         "params": dense[s]["theta_0"]})
    say(f"{NAME}: {fmt_count(len(jobs), 'ticket')}", quiet)
    results = train_masked(jobs, ticket_hp(cfg), where, f"{fmt_count(len(jobs), 'ticket')}", quiet)
    rows, curves = [], {}
    for s in seeds:
        rows.append(result_row("dense", s, dense[s], None, mask_epoch=None))
        curves[("dense", s)] = dense[s]["metrics"]
    for job, result in sorted(zip(jobs, results), key=lambda jr: (jr[0]["epoch"], jr[0]["seed"])):
        rows.append(result_row(job["cond"], job["seed"], result, job["masks"], mask_epoch=job["epoch"]))
        curves[(job["cond"], job["seed"])] = result["metrics"]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "mask_epochs": epochs + [cfg["epochs"]]},
                  plot=plotter(f"non-grokking tickets (rate {fmt_rate(rate)})"),
                  runs=[d["dir"] for d in dense.values()] + [r["dir"] for r in results], quiet=quiet)


report = format_table
