"""non-grokking: tickets from dense checkpoints taken before grokking vs the grokked ticket.

    m_t = top (1 - rate) of |theta_t|,  t in --at (default 2k, 5k, 10k, 16k, 28k epochs)
    grokked ticket: the mask of the final dense weights (the epoch cap, 30k)
    each mask rewound to theta_0 and retrained; all (mask, seed) tickets stacked

The cached dense run keeps a checkpoint every --checkpoint-every epochs (default 1000),
which covers the default epochs. Paper: the earlier the mask, the later (or never) the
ticket groks; only the grokked ticket gives the full speed-up.
"""
import time

from ..errors import MinigrokError
from ..masks import apply
from ..pruning.magnitude import magnitude_prune
from ..pruning.non_grokking import EPOCHS, non_grokking_masks
from .common import as_result, dense_run, finish, result_row, say, ticket_hp, train_group
from .plots import plotter

NAME = "non-grokking"


def check_epochs(cfg, epochs):
    every = cfg.get("checkpoint_every") or 0
    for e in epochs:
        if not (isinstance(e, int) and 0 <= e < cfg["epochs"]) or (e and (not every or e % every)):
            raise MinigrokError(
                f"checkpoint epoch {e} is not available: give epochs in [0, --epochs "
                f"{cfg['epochs']}) that are multiples of --checkpoint-every {every}")
    return list(epochs)


def run(cfg, out, seeds, opts, quiet=False):
    rate = opts.get("rate", 0.6)
    epochs = check_epochs(cfg, opts.get("at") or list(EPOCHS))
    t0 = time.perf_counter()
    dense = {s: dense_run(cfg, out, s, quiet) for s in seeds}
    jobs = []
    for s in seeds:
        masks = non_grokking_masks(dense[s]["dir"], epochs, rate=rate)
        masks[cfg["epochs"]] = magnitude_prune(dense[s]["params"], rate=rate)
        for epoch, m in masks.items():
            cond = f"grokked ({epoch})" if epoch == cfg["epochs"] else f"epoch {epoch}"
            jobs.append({"cond": cond, "epoch": epoch, "seed": s, "masks": m,
                         "data": dense[s]["data"], "params": apply(dense[s]["theta_0"], m)})
    say(f"{NAME}: {len(jobs)} tickets stacked", quiet)
    results = train_group(dense[seeds[0]]["model"], jobs, ticket_hp(cfg), f"{len(jobs)} tickets", quiet)
    rows, curves = [], {}
    for s in seeds:
        rows.append(result_row("dense", s, as_result(dense[s]), None, mask_epoch=None))
        curves[("dense", s)] = dense[s]["metrics"]
    for job, result in sorted(zip(jobs, results), key=lambda jr: (jr[0]["epoch"], jr[0]["seed"])):
        rows.append(result_row(job["cond"], job["seed"], result, job["masks"], mask_epoch=job["epoch"]))
        curves[(job["cond"], job["seed"])] = result["metrics"]
    return finish(NAME, out, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "mask_epochs": epochs + [cfg["epochs"]]},
                  plot=plotter(f"non-grokking tickets (rate {rate:g})"), quiet=quiet)
