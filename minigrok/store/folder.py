"""A run folder on disk: its paths, its lock, what it holds and what to do with it
(decide), its setup and its commits (checkpoints). The package docstring gives the layout.
"""
import fcntl
import glob
import os
import re
import shutil
import tempfile

import numpy as np

from .. import io
from ..errors import MinigrokError
from ..masks import check_matches
from .keys import FORMAT, differences


def checkpoint_path(folder, epoch):
    """The file of the commit at `epoch`: init.npz for 0, else checkpoints/epoch_<n>.npz."""
    if epoch == 0:
        return os.path.join(folder, "init.npz")
    return os.path.join(folder, "checkpoints", f"epoch_{epoch}.npz")


def checkpoint_epochs(folder):
    """Sorted epochs of the folder's checkpoints/epoch_<n>.npz files."""
    found = []
    for path in glob.glob(os.path.join(folder, "checkpoints", "epoch_*.npz")):
        match = re.search(r"epoch_(\d+)\.npz$", path)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def is_run(folder):
    return os.path.isfile(os.path.join(folder, "init.npz"))


def lock(folder):
    """Take the folder's advisory write lock; returns the open lock file (keep it open).
    A second writer gets a one-line error naming the holder's pid."""
    path = os.path.join(folder, ".lock")
    try:
        f = open(path, "a+")
    except OSError as exc:
        raise MinigrokError(f"cannot write in {folder!r}: {exc.strerror}") from None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise MinigrokError(f"{folder!r} is being written by another minigrok process (pid "
                            f"{holder}); wait for it to finish or choose another --out") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def unlock(handle):
    handle.close()


def check_output_folder(folder, what="--out"):
    """A one-line error unless folder is an existing folder or can be made one: not a
    file, nothing on its path a file, its nearest existing parent writable."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise MinigrokError(f"{what} {folder!r} is a file, not a folder")
    parent = os.path.abspath(folder)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise MinigrokError(f"{what} {folder!r} cannot be made: {parent!r} is a file")
    try:  # the one sure test that a folder can be made there: make one, then remove it
        os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=parent))
    except OSError as exc:
        raise MinigrokError(f"{what} {folder!r} cannot be written: {parent!r}: {exc.strerror}") from None


def read_identity(folder):
    """(key, identity, config) recorded in the folder's init.npz, with one-line errors for
    a folder that is not a run of this minigrok format."""
    meta = io.load_npz(os.path.join(folder, "init.npz"))["meta"]
    if meta.get("format") != FORMAT or "run_key" not in meta:
        raise MinigrokError(f"{folder!r} holds a run of another minigrok version (format "
                            f"{meta.get('format', 1)}, this one reads {FORMAT}); choose another --out")
    return meta["run_key"], meta["identity"], meta["config"]


def decide(folder, spec, view_settings=()):
    """What to do with folder for the run `spec` (runs.plan) trained to its cfg['epochs']
    (reads only): {"action": "new"} | {"action": "done"} | {"action": "resume", "epoch": n}.
    A folder holding another run, a broken checkpoint, or more epochs than asked (that a
    shorter run would throw away) gives a one-line refusal."""
    key, epochs = spec["key"], spec["cfg"]["epochs"]
    check_output_folder(folder)
    if not os.path.isdir(folder) or not is_run(folder):
        leftovers = [f for f in os.listdir(folder) if not f.startswith(".")] if os.path.isdir(folder) else []
        if leftovers:
            raise MinigrokError(f"{folder!r} is not empty and holds no minigrok run "
                                f"({', '.join(sorted(leftovers)[:3])}); choose another --out")
        return {"action": "new"}
    found_key, found_identity, found_cfg = read_identity(folder)
    found_numerics = found_identity.get("settings", {}).get("numerics")
    if found_key != key:  # the settings that differ first: they say more than the fingerprint
        diff = differences({k: v for k, v in found_cfg.items() if k not in view_settings},
                           {k: v for k, v in spec["cfg"].items() if k not in view_settings},
                           ("in the folder", "asked"))
        if not diff and found_numerics != spec["identity"]["settings"]["numerics"]:
            raise MinigrokError(f"{folder!r} holds a run computed with other numerics (fingerprint "
                                f"{found_numerics}; this code on this machine rounds as "
                                f"{spec['identity']['settings']['numerics']}: another minigrok version, "
                                "BLAS or CPU), which this code cannot continue or reuse; choose another --out")
        if not diff:
            diff = differences(found_identity.get("settings", {}), spec["identity"]["settings"],
                               ("in the folder", "asked"))
        diff += [f"the {part} differs" for part in ("data", "theta_0", "mask")
                 if not diff and found_identity.get(part) != spec["identity"].get(part)]
        raise MinigrokError(f"{folder!r} holds a run with other settings ("
                            f"{'; '.join(diff[:4]) or 'another run key'}); choose another --out")
    final = load_commit(folder, "final", key) if os.path.isfile(os.path.join(folder, "final.npz")) else None
    trained = max([0] + checkpoint_epochs(folder))
    diverged = read_divergence(folder, key)
    if final is None and diverged is not None and diverged["epoch"] <= epochs:
        return {"action": "diverged", "diverged": diverged}
    if final is not None:
        last = final["metrics"]["epoch"][-1]
        if last == epochs or (final["meta"]["stopped_early"] and last <= epochs):
            return {"action": "done"}
        trained = max(trained, last)
    if epochs < trained:
        raise MinigrokError(f"{folder!r} has trained {trained} epochs, more than the {epochs} this "
                            "command asks of the same run (an earlier command trained it further, e.g. "
                            "`train --epochs` or when-to-prune's --late-epochs); stopping it there would "
                            f"throw them away: give --epochs >= {trained} or choose another --out")
    return {"action": "resume", "epoch": trained}


def read_divergence(folder, key):
    """{"epoch", "train_loss", ...} if the folder's summary says this run diverged."""
    path = os.path.join(folder, "summary.json")
    try:
        summary = io.load_json(path) if os.path.isfile(path) else {}
    except MinigrokError:  # a view: a broken one is rebuilt, never trusted
        return None
    found = summary.get("diverged")
    if summary.get("run_key") != key or not isinstance(found, dict) or not isinstance(found.get("epoch"), int):
        return None
    return found


def load_commit(folder, epoch, key):
    """The commit at `epoch` (0: init.npz; 'final': final.npz) checked against the run
    key: {"params", "masks", "opt_state", "metrics", "meta"}. One-line refusals for a
    checkpoint of another run or one without AdamW state or metrics."""
    path = os.path.join(folder, "final.npz") if epoch == "final" else checkpoint_path(folder, epoch)
    ckpt = io.load_npz(path)
    if ckpt["meta"].get("run_key") != key:
        raise MinigrokError(f"{path!r} belongs to another run (its run key differs from "
                            f"{folder!r}'s); remove it or choose another --out")
    if epoch != 0 and (ckpt["opt_state"] is None or ckpt["metrics"] is None):
        raise MinigrokError(f"{path!r} lacks the AdamW state or the metrics a resume needs; "
                            "remove it to resume from the checkpoint before it")
    if epoch == 0:
        ckpt["metrics"] = {c: [] for c in io.METRIC_COLUMNS}
    return ckpt


def start_state(folder, key, epoch, like):
    """(params, opt_state or None, metrics rows before epoch, wall time) to resume from;
    its arrays must have the names, shapes and dtypes of `like` (theta_0)."""
    ckpt, path = _commit_at(folder, key, epoch)
    parts = [("", ckpt["params"])]
    if ckpt["opt_state"] is not None:
        parts += [("adam/m/ of ", ckpt["opt_state"]["m"]), ("adam/v/ of ", ckpt["opt_state"]["v"])]
    for what, arrays in parts:
        check_matches(arrays, like, where=f"{what}{path}")
        for k, w in arrays.items():
            if w.dtype != like[k].dtype or not np.isfinite(w).all():
                raise MinigrokError(f"{what}{path}[{k!r}] is not finite {like[k].dtype} as the run's "
                                    f"weights are; remove it to resume from the commit before it")
    if epoch == 0:
        return ckpt["params"], None, ckpt["metrics"], 0.0
    metrics = {c: [v for e, v in zip(ckpt["metrics"]["epoch"], ckpt["metrics"][c]) if e < epoch]
               for c in io.METRIC_COLUMNS}
    return ckpt["params"], ckpt["opt_state"], metrics, float(ckpt["meta"].get("wall_time_s", 0.0))


def _commit_at(folder, key, epoch):
    """(commit, its path) to restart from at epoch: init.npz, a checkpoint, or the final
    row of a run that stopped at its cap."""
    if epoch == 0 or epoch in checkpoint_epochs(folder):
        return load_commit(folder, epoch, key), checkpoint_path(folder, epoch)
    path = os.path.join(folder, "final.npz")
    ckpt = load_commit(folder, "final", key) if os.path.isfile(path) else None
    if ckpt is None or ckpt["metrics"]["epoch"][-1] != epoch:
        raise MinigrokError(f"{folder!r} has no commit at epoch {epoch}")
    return ckpt, path


def available_epochs(folder, key, epochs):
    """Every epoch <= epochs this run can restart from (0, checkpoints, a final at its cap)."""
    found = {0} | {e for e in checkpoint_epochs(folder) if e <= epochs}
    if os.path.isfile(os.path.join(folder, "final.npz")):
        last = io.load_npz(os.path.join(folder, "final.npz"))["metrics"]["epoch"][-1]
        if last <= epochs:
            found.add(last)
    return found


def _clean_temporaries(folder):
    """Remove the .tmp-* files a killed writer left in folder and its subfolders (but
    runs/, whose units are cleaned under their own locks); the caller holds the lock."""
    subfolders = [folder] + [os.path.join(folder, d) for d in os.listdir(folder)
                             if d != "runs" and os.path.isdir(os.path.join(folder, d))]
    for sub in subfolders:
        for path in glob.glob(os.path.join(sub, ".tmp-*")):
            os.remove(path)


def setup(folder, key, identity, cfg, data, params, masks):
    """Create the run folder complete: config.json, split.npz, init.npz and .lock are
    written into a hidden temporary folder beside it, which is then renamed into place.
    Returns the held lock. A crash before the rename leaves only the hidden folder, which
    the next setup of the same folder removes."""
    parent, name = os.path.split(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    for stale in glob.glob(os.path.join(parent, f".setup-{name}-*")):
        pid = stale.rsplit("-", 1)[-1]
        if not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = os.path.join(parent, f".setup-{name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp)  # mode 0777 & ~umask
    handle = lock(tmp)  # the lock file travels with the folder
    try:
        io.save_json(os.path.join(tmp, "config.json"), cfg)
        io.save_split(os.path.join(tmp, "split.npz"), data)
        io.save_npz(os.path.join(tmp, "init.npz"), params, masks, None,
                    {"format": FORMAT, "run_key": key, "identity": identity, "config": cfg, "epoch": 0})
        if os.path.isdir(folder):  # empty but for what a killed writer left (decide() checked)
            for leftover in glob.glob(os.path.join(folder, ".tmp-*")) + [os.path.join(folder, ".lock")]:
                if os.path.isfile(leftover):
                    os.remove(leftover)
            os.rmdir(folder)
        os.rename(tmp, folder)
    except OSError as exc:
        unlock(handle)
        shutil.rmtree(tmp, ignore_errors=True)
        raise MinigrokError(f"cannot create the run folder {folder!r}: {exc.strerror} (another "
                            "process may have created it meanwhile; run the command again)") from None
    except BaseException:
        unlock(handle)
        raise
    return handle


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_for_writing(folder):
    """Lock an existing folder (a run's, or a recipe's report folder) and remove what a
    killed writer left behind."""
    handle = lock(folder)
    _clean_temporaries(folder)
    return handle


def write_config(folder, cfg):
    """config.json: the settings of this request (epoch cap, report threshold included)."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path) or io.load_json(path) != io.as_json(cfg):
        io.save_json(path, cfg)


def write_checkpoint(folder, key, epoch, state, masks, wall_time_s):
    """Commit checkpoints/epoch_<n>.npz (self-contained), then the metrics.csv view."""
    io.save_npz(checkpoint_path(folder, epoch), state["params"], masks, state["opt_state"],
                {"format": FORMAT, "run_key": key, "epoch": epoch, "wall_time_s": wall_time_s},
                state["metrics"])
    io.save_metrics(os.path.join(folder, "metrics.csv"), state["metrics"])
