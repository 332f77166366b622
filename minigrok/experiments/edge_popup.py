"""edge-popup: Table 1 of the paper's latest version, on the *memorising* dense weights.

Start: the cached dense run's checkpoint at --from-epoch (default 1000, the reference
scripts' choice): by then the net has memorised (train acc >= 0.99, from epoch ~90) and
not yet generalised (dense t_gen is ~8k-16k at p = 67). The summary records that
checkpoint's train and test accuracy and flags a start that is not memorising.

    wd only     the memorising weights trained further, dense, AdamW with weight decay
                (fresh optimiser state, lr --ep-lr as the scores: the same optimiser,
                applied to the weights instead of the scores)
    EP w/o wd   edge-popup: frozen weights, scores trained by AdamW with wd = 0
    EP + wd     the same with wd = cfg's weight decay (1)

Edge-popup keeps 1 - rate (default 40%) of every matrix (scope 'layer', the reference
code's), scores drawn kaiming-uniform from numpy.random.default_rng(seed). Test accuracy
is read at 600 / 1000 / 1400 / 2000 epochs (--ep-epochs caps the runs, default 2000).
Paper (Table 1): wd only .53/.95/1.00/1.00, EP w/o wd .68/.80/.84/.92, EP + wd .82/.96/.99/1.00.
"""
import time

import numpy as np

from .. import io
from ..errors import MinigrokError
from ..pruning.edge_popup import REPORT_EPOCHS, edge_popup_train
from ..pruning.non_grokking import checkpoint_path
from ..train import grokking_times
from .common import (dense_run, eval_grid, finish, on_device, result_row, say, ticket_hp,
                     train_one)
from .plots import plotter

NAME = "edge-popup"
PAPER = {"wd only": (0.53, 0.95, 1.00, 1.00), "EP w/o wd": (0.68, 0.80, 0.84, 0.92),
         "EP + wd": (0.82, 0.96, 0.99, 1.00)}


def memorising_state(dense, epoch):
    """(weights at `epoch`, train acc, test acc there) from the cached dense run."""
    params = io.load_npz(checkpoint_path(dense["dir"], epoch))["params"]
    m = dense["metrics"]
    i = max((i for i, e in enumerate(m["epoch"]) if e <= epoch), default=0)
    return {k: params[k] for k in dense["model"].PARAM_NAMES}, m["train_acc"][i], m["test_acc"][i]


def run(cfg, out, seeds, opts, quiet=False):
    rate, start = opts.get("rate", 0.6), opts.get("from_epoch", 1000)
    ep_epochs, lr = opts.get("ep_epochs", 2000), opts.get("ep_lr", 1e-2)
    if not (isinstance(start, int) and 0 < start <= cfg["epochs"]):
        raise MinigrokError(f"--from-epoch {start} is not allowed: give a checkpoint epoch in (0, --epochs]")
    if not (isinstance(ep_epochs, int) and ep_epochs >= 1):
        raise MinigrokError(f"--ep-epochs {ep_epochs} is not allowed: give an integer >= 1")
    report = [e for e in REPORT_EPOCHS if e <= ep_epochs] or [ep_epochs]
    hp = {"lr": lr, "weight_decay": cfg["weight_decay"], "betas": cfg["betas"], "eps": cfg["eps"],
          "epochs": ep_epochs, "eval_every": eval_grid(cfg["eval_every"], report)}
    t0 = time.perf_counter()
    rows, curves, starts = [], {}, {}
    for s in seeds:
        d = dense_run(cfg, out, s, quiet)
        weights, train_acc, test_acc = memorising_state(d, start)
        starts[s] = {"epoch": start, "train_acc": train_acc, "test_acc": test_acc,
                     "memorising": train_acc >= 0.99 and test_acc < 0.95}
        say(f"{NAME}: seed {s} from epoch {start} (train {train_acc:.3f}, test {test_acc:.3f})", quiet)
        runs = {"wd only": train_one(d["model"], weights, d["data"],
                                     ticket_hp(cfg, **hp, stop_after=None), None, f"wd only seed {s}", quiet)}
        for cond, wd in (("EP w/o wd", 0.0), ("EP + wd", cfg["weight_decay"])):
            r = edge_popup_train(d["model"], on_device(weights), d["device_data"],
                                 {**hp, "weight_decay": wd}, rate=rate, scope="layer",
                                 rng=np.random.default_rng(s), report_epochs=report, quiet=quiet)
            runs[cond] = {"metrics": r["metrics"], "times": grokking_times(r["metrics"]),
                          "masks": r["masks"]}
        for cond, result in runs.items():
            m = result["metrics"]
            at = {f"test_acc@{e}": next(a for x, a in zip(m["epoch"], m["test_acc"]) if x == e)
                  for e in report}
            rows.append(result_row(cond, s, result, result.get("masks"), **at))
            curves[(cond, s)] = m
    table = {cond: {f"{e}": float(np.mean([r[f"test_acc@{e}"] for r in rows if r["condition"] == cond]))
                    for e in report} for cond in PAPER}
    return finish(NAME, out, cfg, seeds, rows, curves, t0,
                  extra={"rate": rate, "density": 1 - rate, "start": starts, "edge_popup_hp": hp,
                         "table1": table, "paper_table1": {k: dict(zip(map(str, REPORT_EPOCHS), v))
                                                           for k, v in PAPER.items()}},
                  plot=plotter(f"edge-popup from the epoch-{start} (memorising) weights"), quiet=quiet)


def format_table1(summary):
    """Test accuracy at the report epochs, ours (mean over seeds) next to the paper's."""
    lines = [f"{'run':<12}" + "".join(f"{e:>12}" for e in summary["table1"]["wd only"])]
    for cond, accs in summary["table1"].items():
        paper = summary["paper_table1"][cond]
        lines.append(f"{cond:<12}" + "".join(
            f"{a:>6.2f} ({paper[e]:.2f})" if e in paper else f"{a:>12.2f}" for e, a in accs.items()))
    lines.append("ours (paper's Table 1 in brackets)")
    return "\n".join(lines)
