"""Run directories: a training run on disk, and its resume.

A run directory holds config.json, split.npz, init.npz, checkpoints/epoch_<n>.npz
(parameters, mask and AdamW state after n steps), metrics.csv, final.npz and
summary.json. `resume_run(dir)` continues from the newest checkpoint and, the training
loop being deterministic, reproduces the uninterrupted run exactly.
"""
import csv
import glob
import io as _io
import os
import platform
import re
import sys
import time

import numpy as np

from . import __version__
from . import io
from .backend import backend_name, set_backend, to_device, to_numpy
from .data import TASK_DEFAULTS, make_dataset
from .errors import MinigrokError
from .masks import check_matches
from .models import get_model, model_config
from .train import METRIC_COLUMNS, grokking_times, train_loop

TRAIN_DEFAULTS = {
    "task": "modular", "op": "add", "p": 67, "frac": 0.4, "split": "sym", "seed": 0,
    "model": "mlp", "dtype": "float32", "backend": "numpy",
    "lr": 1e-3, "weight_decay": 1.0, "betas": [0.9, 0.98], "eps": 1e-8,
    "epochs": 30000, "eval_every": 1, "checkpoint_every": 1000,
    "stop_after": None, "stop_threshold": 0.99, "init": None, "mask": None,
}


def with_defaults(cfg):
    """cfg completed by its task's defaults (data.TASK_DEFAULTS), then TRAIN_DEFAULTS."""
    task = cfg.get("task", "modular")
    if task not in TASK_DEFAULTS:
        raise MinigrokError(f"unknown task {task!r}; allowed: {', '.join(TASK_DEFAULTS)}")
    return {**TRAIN_DEFAULTS, **TASK_DEFAULTS[task], **cfg}


def check_hyperparameters(cfg):
    """One-line errors for bad training settings."""
    if not (isinstance(cfg["epochs"], int) and cfg["epochs"] >= 0):
        raise MinigrokError(f"epochs = {cfg['epochs']} is not allowed: give an integer >= 0")
    if not (isinstance(cfg["eval_every"], int) and cfg["eval_every"] >= 1):
        raise MinigrokError(f"eval_every = {cfg['eval_every']} is not allowed: give an integer >= 1")
    if not cfg["lr"] > 0:
        raise MinigrokError(f"lr = {cfg['lr']} is not allowed: the learning rate must be > 0")
    if not cfg["weight_decay"] >= 0:
        raise MinigrokError(f"weight decay = {cfg['weight_decay']} is not allowed: it must be >= 0")
    if cfg["dtype"] not in ("float32", "float64"):
        raise MinigrokError(f"dtype {cfg['dtype']!r} is not allowed: use float32 or float64")
    extra = cfg.get("report_threshold")
    if extra is not None and not 0.0 < extra <= 1.0:
        raise MinigrokError(f"report threshold {extra} is not allowed: give an accuracy in (0, 1]")
    if cfg.get("kappa") is not None and not cfg["kappa"] > 0:
        raise MinigrokError(f"kappa = {cfg['kappa']} is not allowed: the init scale must be > 0")
    if cfg.get("n_train") is not None and not cfg["n_train"] >= 1:
        raise MinigrokError(f"n_train = {cfg['n_train']} is not allowed: give an integer >= 1")
    if cfg["stop_after"] is not None and cfg["stop_after"] < 0:
        raise MinigrokError(f"stop_after = {cfg['stop_after']} is not allowed: give an integer >= 0")


def build_run(cfg):
    """Everything a run starts from, on the host: (model, data, params, masks).

    Data: the task's split from cfg['seed']. Params: cfg['init'] (a checkpoint) or a fresh
    init drawn with numpy.random.default_rng(cfg['seed']). A cfg['mask'] file is applied
    to the initial parameters (W * mask) and kept fixed during training.
    """
    check_hyperparameters(cfg)
    model = get_model(cfg["model"])
    data = make_dataset(cfg)
    model_settings = {k: cfg[k] for k in model.DEFAULTS if k in cfg}  # e.g. sizes, kappa
    sizes, meta = model_settings.get("sizes"), data["meta"]
    if sizes and "n_in" in meta and (sizes[0], sizes[-1]) != (meta["n_in"], meta["n_out"]):
        raise MinigrokError(f"layer sizes {sizes} do not fit the {meta['task']} data: it has "
                            f"{meta['n_in']} inputs and {meta['n_out']} outputs")
    mcfg = model_config(cfg["model"], data["meta"].get("vocab"), cfg["dtype"], **model_settings)
    fresh = model.init(mcfg, np.random.default_rng(cfg["seed"]))
    params = fresh
    if cfg.get("init"):
        params = io.load_params(cfg["init"], list(fresh))
        check_matches(params, fresh, where=f"init file {cfg['init']!r}")
        params = {k: w.astype(cfg["dtype"]) for k, w in params.items()}
    masks = None
    if cfg.get("mask"):
        masks = io.load_masks(cfg["mask"])
        check_matches(masks, fresh, where=f"mask file {cfg['mask']!r}")
        params = {k: w * masks[k].astype(w.dtype) for k, w in params.items()}
    return model, data, params, masks


def _versions():
    return {"minigrok": __version__, "numpy": np.__version__, "python": platform.python_version(),
            "backend": backend_name()}


def _write_metrics(path, metrics):
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for row in zip(*(metrics[c] for c in METRIC_COLUMNS)):
        writer.writerow([row[0]] + [repr(float(v)) for v in row[1:]])
    io._atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def read_metrics(path):
    """metrics.csv as {column: list}; a clear error when it is missing or malformed."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != METRIC_COLUMNS:
        raise MinigrokError(f"{path!r} is not a minigrok metrics file (header {rows[:1]})")
    metrics = {c: [] for c in METRIC_COLUMNS}
    for row in rows[1:]:
        metrics["epoch"].append(int(row[0]))
        for c, v in zip(METRIC_COLUMNS[1:], row[1:]):
            metrics[c].append(float(v))
    return metrics


def summarize(cfg, data_meta, metrics, masks, wall_time_s):
    """The summary.json dict: config, data, t_mem / t_gen at both thresholds, final row."""
    times = grokking_times(metrics, cfg.get("report_threshold"))
    final = {c: metrics[c][-1] for c in METRIC_COLUMNS} if metrics["epoch"] else {}
    density = None
    if masks is not None:
        density = sum(int(m.sum()) for m in masks.values()) / sum(m.size for m in masks.values())
    return {"config": cfg, "data": data_meta, **times["0.99"], "thresholds": times,
            "epochs_run": final.get("epoch"), "final": final, "density": density,
            "wall_time_s": wall_time_s, "versions": _versions()}


def _device_data(data):
    return {k: to_device(data[k]) for k in ("train_x", "train_y", "test_x", "test_y")}


def _train_in_dir(out_dir, cfg, model, data, params, masks, opt_state, metrics, start_epoch,
                  wall_before, label, quiet):
    """Run the loop with checkpoints in out_dir; write final.npz, metrics.csv, summary.json."""
    t0 = time.perf_counter()
    meta = {"config": cfg}
    if not quiet and data["meta"].get("source"):
        print(f"[data] {label}: {data['meta']['source']}", file=sys.stderr, flush=True)

    def on_checkpoint(epoch, p, s, m):
        wall = wall_before + time.perf_counter() - t0
        io.save_npz(os.path.join(out_dir, "checkpoints", f"epoch_{epoch}.npz"), p, masks, s,
                    {**meta, "epoch": epoch, "wall_time_s": wall})
        _write_metrics(os.path.join(out_dir, "metrics.csv"),
                       {c: [v for e, v in zip(m["epoch"], m[c]) if e < epoch] for c in m})

    d_params = {k: to_device(w) for k, w in params.items()}
    d_masks = {k: to_device(m) for k, m in masks.items()} if masks is not None else None
    d_state = None
    if opt_state is not None:
        d_state = {"step": opt_state["step"],
                   "m": {k: to_device(v) for k, v in opt_state["m"].items()},
                   "v": {k: to_device(v) for k, v in opt_state["v"].items()}}
    d_params, d_state, metrics = train_loop(
        model, d_params, _device_data(data), cfg, d_masks, d_state, metrics, start_epoch,
        on_checkpoint, label, quiet)
    wall = wall_before + time.perf_counter() - t0
    final = {k: to_numpy(w) for k, w in d_params.items()}
    io.save_npz(os.path.join(out_dir, "final.npz"), final, masks, d_state,
                {**meta, "epoch": metrics["epoch"][-1]})
    _write_metrics(os.path.join(out_dir, "metrics.csv"), metrics)
    summary = summarize(cfg, data["meta"], metrics, masks, wall)
    io.save_json(os.path.join(out_dir, "summary.json"), summary)
    return {"params": final, "masks": masks, "metrics": metrics, "summary": summary, "dir": out_dir}


def run(cfg, out_dir, label="train", quiet=False):
    """Train from scratch into a new run directory (see the module docstring)."""
    cfg = with_defaults(cfg)
    set_backend(cfg["backend"])
    model, data, params, masks = build_run(cfg)  # every check before anything is written
    if os.path.exists(os.path.join(out_dir, "config.json")):
        raise MinigrokError(f"{out_dir!r} already holds a run; continue it with --resume "
                            f"{out_dir} or choose another --out")
    io.save_json(os.path.join(out_dir, "config.json"), cfg)
    io.save_split(os.path.join(out_dir, "split.npz"), data)
    io.save_npz(os.path.join(out_dir, "init.npz"), params, masks, None, {"config": cfg, "epoch": 0})
    return _train_in_dir(out_dir, cfg, model, data, params, masks, None, None, 0, 0.0, label, quiet)


def latest_checkpoint(out_dir):
    """(epoch, path) of the newest checkpoints/epoch_<n>.npz, or (0, None)."""
    best = (0, None)
    for path in glob.glob(os.path.join(out_dir, "checkpoints", "epoch_*.npz")):
        match = re.search(r"epoch_(\d+)\.npz$", path)
        if match and int(match.group(1)) > best[0]:
            best = (int(match.group(1)), path)
    return best


def resume_run(out_dir, epochs=None, label="train", quiet=False, report_threshold=None):
    """Continue the run in out_dir from its newest checkpoint (optionally to more epochs).
    A finished run with nothing left to do is returned as it is; given a new
    report_threshold, its summary is recomputed from metrics.csv (no training)."""
    cfg = io.load_json(os.path.join(out_dir, "config.json"))
    if epochs is not None:
        cfg["epochs"] = epochs
    if report_threshold is not None:
        cfg["report_threshold"] = report_threshold
    set_backend(cfg["backend"])
    model, data, params, masks = build_run(cfg)
    summary_path = os.path.join(out_dir, "summary.json")
    if os.path.isfile(summary_path):
        summary = io.load_json(summary_path)
        done = summary["epochs_run"]
        stopped_early = done is not None and done < summary["config"]["epochs"]
        if done == cfg["epochs"] or (stopped_early and cfg["epochs"] == summary["config"]["epochs"]):
            final = io.load_npz(os.path.join(out_dir, "final.npz"))
            metrics = read_metrics(os.path.join(out_dir, "metrics.csv"))
            if summary["config"].get("report_threshold") != cfg.get("report_threshold"):
                summary = summarize(cfg, data["meta"], metrics, masks, summary["wall_time_s"])
                io.save_json(os.path.join(out_dir, "config.json"), cfg)
                io.save_json(summary_path, summary)
            return {"params": final["params"], "masks": masks, "summary": summary, "dir": out_dir,
                    "metrics": metrics}
    epoch, path = latest_checkpoint(out_dir)
    if path is None:  # stopped before the first checkpoint: start again from init.npz
        state, metrics, wall = None, None, 0.0
        params = io.load_params(os.path.join(out_dir, "init.npz"), list(params))
    else:
        ckpt = io.load_npz(path)
        params, state = ckpt["params"], ckpt["opt_state"]
        wall = ckpt["meta"].get("wall_time_s", 0.0)
        metrics = read_metrics(os.path.join(out_dir, "metrics.csv"))
        metrics = {c: [v for e, v in zip(metrics["epoch"], metrics[c]) if e < epoch] for c in metrics}
    io.save_json(os.path.join(out_dir, "config.json"), cfg)
    return _train_in_dir(out_dir, cfg, model, data, params, masks, state, metrics, epoch, wall,
                         label, quiet)
