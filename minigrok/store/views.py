"""What is rebuilt from a run's commits: final.npz's commit, then metrics.csv and
summary.json (views), a diverged run's summary, the finished result a recipe reads, and a
recipe's own report files.
"""
import hashlib
import json
import os
import platform
import shutil

import numpy as np

from .. import __version__, io
from ..backend import backend_name
from ..errors import MinigrokError
from ..threads import blas_info
from ..train import grokking_times
from .folder import checkpoint_epochs, load_commit
from .keys import FORMAT


def write_final(folder, key, outcome, masks, wall_time_s):
    """Commit final.npz, then rebuild the metrics.csv and summary.json views."""
    metrics = outcome["metrics"]
    io.save_npz(os.path.join(folder, "final.npz"), outcome["params"], masks, outcome["opt_state"],
                {"format": FORMAT, "run_key": key, "epoch": metrics["epoch"][-1],
                 "stopped_early": outcome["stopped_early"], "wall_time_s": wall_time_s}, metrics)
    write_views(folder, key)


def write_views(folder, key, final=None):
    """metrics.csv and summary.json rebuilt from final.npz (or its already loaded commit
    `final`) and config.json; summary.json names the SHA-256 of the metrics.csv it was
    written with, so that a view edited or cut short later is noticed (load_result)."""
    final = load_commit(folder, "final", key) if final is None else final
    io.save_metrics(os.path.join(folder, "metrics.csv"), final["metrics"])
    summary = {**summarize(_config(folder), _data_meta(folder), final, key),
               "metrics_csv_sha256": _file_digest(os.path.join(folder, "metrics.csv"))}
    io.save_json(os.path.join(folder, "summary.json"), summary)
    return summary


def _config(folder):
    return io.load_json(os.path.join(folder, "config.json"))


def _data_meta(folder):
    split_meta = io.load_arrays(os.path.join(folder, "split.npz"), ["meta"]).get("meta")
    return json.loads(str(split_meta)) if split_meta is not None else {}


def _file_digest(path):
    """SHA-256 of a file's bytes, or None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def summarize(cfg, data_meta, final, key):
    """The summary.json dict: settings, data, t_mem / t_gen at every threshold, the final
    row, density, wall time, run key and versions."""
    metrics, masks = final["metrics"], final["masks"]
    times = grokking_times(metrics, cfg.get("report_threshold"))
    row = {c: metrics[c][-1] for c in io.METRIC_COLUMNS}
    density = None
    if masks is not None:
        density = sum(int(m.sum()) for m in masks.values()) / sum(m.size for m in masks.values())
    return {"config": cfg, "data": data_meta, **times["0.99"], "thresholds": times,
            "epochs_run": row["epoch"], "stopped_early": final["meta"]["stopped_early"],
            "final": row, "density": density, "wall_time_s": final["meta"]["wall_time_s"],
            "run_key": key, "versions": versions()}


def versions():
    """What computed the numbers: versions, backend, the BLAS (library, build, kernel,
    threads) and the machine."""
    return {"minigrok": __version__, "numpy": np.__version__, "python": platform.python_version(),
            "backend": backend_name(), "blas": blas_info(), "machine": platform.platform()}


def write_divergence(folder, key, outcome, wall_time_s):
    """A run that diverged: no final.npz (no NaN result); summary.json says where it
    diverged and metrics.csv holds the rows before. Its checkpoints stay as they were."""
    cfg = io.load_json(os.path.join(folder, "config.json"))
    io.save_metrics(os.path.join(folder, "metrics.csv"), outcome["metrics"])
    io.save_json(os.path.join(folder, "summary.json"),
                 {"config": cfg, "run_key": key, "diverged": outcome["diverged"],
                  "last_checkpoint": max([0] + checkpoint_epochs(folder)),
                  "wall_time_s": wall_time_s, "versions": versions()})


def divergence_message(folder, diverged):
    """The one line a diverged run gets."""
    last = max([0] + checkpoint_epochs(folder))
    kept = f"its checkpoints up to epoch {last} are kept" if last else "no checkpoint was reached"
    return (f"training diverged in {folder!r} at epoch {diverged['epoch']} (train loss "
            f"{diverged['train_loss']}, test loss {diverged.get('test_loss')}); {kept} and no "
            "result was written: lower --lr, or check the initial weights")


def load_result(folder, key):
    """A finished run: {"params", "masks", "metrics", "summary", "stopped_early", "dir",
    "key"} from final.npz (the commit). Every number of the summary is computed from the
    commit; the views on disk (summary.json, metrics.csv) are rewritten unless they are
    exactly what the commit gives: missing, cut short, edited or written by code that
    summarised differently, they are rebuilt, never reported."""
    final = load_commit(folder, "final", key)
    summary_path = os.path.join(folder, "summary.json")
    try:
        summary = io.load_json(summary_path) if os.path.isfile(summary_path) else None
    except MinigrokError:  # a view: a broken one is rebuilt, never trusted
        summary = None
    expected = io.as_json(summarize(_config(folder), _data_meta(folder), final, key))
    if (not isinstance(summary, dict)
            or {k: v for k, v in summary.items() if k not in ("versions", "metrics_csv_sha256")}
            != {k: v for k, v in expected.items() if k != "versions"}
            or summary.get("metrics_csv_sha256") is None
            or summary["metrics_csv_sha256"] != _file_digest(os.path.join(folder, "metrics.csv"))):
        summary = io.as_json(write_views(folder, key, final))
    return {"params": final["params"], "masks": final["masks"], "metrics": final["metrics"],
            "summary": summary, "stopped_early": final["meta"]["stopped_early"], "dir": folder,
            "key": key}


def clear_report(folder, names=()):
    """Remove a recipe's previous report from folder before it writes the new one: its
    summary.json, results.csv, metrics/*.csv and the files (or derived folders) in `names`. A report of other
    settings (fewer rates or seeds, another operation) must not leave its curves or
    figures beside the new summary; the runs they came from stay in the store."""
    metrics_dir = os.path.join(folder, "metrics")
    old_curves = [os.path.join("metrics", f) for f in os.listdir(metrics_dir)
                  if f.endswith(".csv")] if os.path.isdir(metrics_dir) else []
    for name in ["summary.json", "results.csv", *names, *old_curves]:  # the index first
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            os.remove(path)
        elif os.path.isdir(path) and name != "runs":  # a derived folder (analysis/)
            shutil.rmtree(path)


def save_report(folder, summary, rows=None, columns=None, curves=None, replaces=()):
    """A recipe's results: summary.json, results.csv (rows) and metrics/<name>.csv per
    curve ({name: metrics}); atomically each, after clear_report(folder, replaces), and
    summary.json last, so that a report without its summary.json is known unfinished."""
    clear_report(folder, replaces)
    for name, metrics in (curves or {}).items():
        io.save_metrics(os.path.join(folder, "metrics", f"{name}.csv"), metrics)
    if rows is not None:
        io.save_csv(os.path.join(folder, "results.csv"), rows, columns)
    io.save_json(os.path.join(folder, "summary.json"), summary)
