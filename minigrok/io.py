"""File formats a user gets: checkpoints (.npz, no pickle), JSON and CSV, each written
atomically with the permissions the user's umask gives.

Checkpoint layout (a public interface):
    <name>              one array per parameter (W_E, W_in, ...)
    mask/<name>         the mask, bool
    adam/m/<name>, adam/v/<name>   the AdamW moments (their step count is meta's adam_step)
    metrics/<column>    the logged rows so far (train.METRIC_COLUMNS), one array per column
    meta                a JSON string (epoch, run key, settings, wall time, ...)

Every file is written to a temporary file in the same folder, flushed to disk and renamed
into place, so a crash leaves either the old file or the new one, never half of one.
Where files go and when they are written is decided by store/; this module only knows
how each file is laid out.
"""
import csv
import io as _io
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy
from .errors import MinigrokError

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "l1", "l2")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call write(file_object) on a temporary file next to path, then rename it to path.
    The file gets mode 0666 & ~umask, as open() would give it (mkstemp's 0600 would hide
    results from the user's group)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ----------------------------------------------------------------------------------------
# checkpoints

def save_npz(path, params=None, masks=None, opt_state=None, meta=None, metrics=None):
    """Write a checkpoint: params, optional masks / AdamW state / metrics, and a meta dict."""
    arrays = {k: to_numpy(v) for k, v in (params or {}).items()}
    arrays.update({f"mask/{k}": to_numpy(v).astype(bool) for k, v in (masks or {}).items()})
    meta = dict(meta or {})
    if opt_state is not None:
        meta["adam_step"] = int(opt_state["step"])
        for part in ("m", "v"):
            arrays.update({f"adam/{part}/{k}": to_numpy(v) for k, v in opt_state[part].items()})
    if metrics is not None:
        arrays["metrics/epoch"] = np.asarray(metrics["epoch"], dtype=np.int64)  # (rows,)
        arrays.update({f"metrics/{c}": np.asarray(metrics[c], dtype=np.float64)  # (rows,)
                       for c in METRIC_COLUMNS[1:]})
    arrays["meta"] = np.array(json.dumps(meta, default=_jsonable))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path):
    """Read a checkpoint: {"params", "masks", "opt_state", "metrics", "meta"} of NumPy
    arrays (masks / opt_state / metrics are None when the file has none). A missing or
    unreadable file gives a one-line error."""
    arrays = load_arrays(path)
    try:
        meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
    except json.JSONDecodeError as exc:
        raise MinigrokError(f"cannot read {path!r}: its 'meta' entry is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise MinigrokError(f"cannot read {path!r}: its 'meta' entry is not a JSON object")
    params, masks, m, v, metrics = {}, {}, {}, {}, {}
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise MinigrokError(f"cannot read {path!r}: its array {key!r} holds {value.dtype} "
                                "values (a checkpoint holds real numbers)")
        if key.startswith("mask/"):
            masks[key[5:]] = _mask_values(path, key, value)
        elif key.startswith("adam/m/"):
            m[key[7:]] = value
        elif key.startswith("adam/v/"):
            v[key[7:]] = value
        elif key.startswith("metrics/"):
            metrics[key[8:]] = value
        else:
            params[key] = value
    opt_state = {"step": int(meta.get("adam_step", 0)), "m": m, "v": v} if m else None
    return {"params": params, "masks": masks or None, "opt_state": opt_state,
            "metrics": _metrics_from_arrays(path, metrics) if metrics else None, "meta": meta}


def _mask_values(path, key, value):
    """A mask array as bool: bool as it is, numbers only when every entry is 0 or 1."""
    if value.dtype.kind == "b":
        return value
    bad = value[(value != 0) & (value != 1)]  # NaN is neither
    if bad.size:
        raise MinigrokError(f"cannot read {path!r}: mask {key!r} holds {bad.flat[0]!r}; a mask "
                            "holds booleans, or 0 and 1")
    return value.astype(bool)


def _metrics_from_arrays(path, columns):
    if set(columns) != set(METRIC_COLUMNS) or len({len(c) for c in columns.values()}) != 1:
        raise MinigrokError(f"cannot read {path!r}: its metrics/ arrays are not the columns "
                            f"{', '.join(METRIC_COLUMNS)} of equal length")
    metrics = {"epoch": [int(e) for e in columns["epoch"]]}
    metrics.update({c: [float(x) for x in columns[c]] for c in METRIC_COLUMNS[1:]})
    return metrics


def load_params(path, names):
    """The parameters `names` of a checkpoint, with a clear error for missing ones."""
    params = load_npz(path)["params"]
    missing = [n for n in names if n not in params]
    if missing:
        raise MinigrokError(f"{path!r} lacks parameters {missing} (it has {sorted(params)})")
    return {n: params[n] for n in names}


def load_masks(path):
    """The masks of a mask file (keys `mask/<name>`), with a clear error if it has none."""
    masks = load_npz(path)["masks"]
    if masks is None:
        raise MinigrokError(f"{path!r} holds no masks (expected arrays named 'mask/<param>')")
    return masks


def load_arrays(path, names=None):
    """Every array of any .npz (no pickle) as a dict, names kept as they are, or only
    those of `names` it holds; a one-line error for a missing or unreadable file."""
    if os.path.isdir(path):
        raise MinigrokError(f"{path!r} is a folder: give an .npz file")
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    if not zipfile.is_zipfile(path):  # np.load would guess another format (a pickle, text)
        raise MinigrokError(f"cannot read {path!r}: not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if names is None or k in names}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise MinigrokError(f"cannot read {path!r}: not a valid .npz file ({exc})") from None
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):  # NumPy hands back the raw bytes of a non-.npy member
            raise MinigrokError(f"cannot read {path!r}: not a valid .npz file ({k!r} is not a .npy array)")
    return arrays


def save_split(path, data):
    """Write the train/test inputs and labels exactly as used (split.npz)."""
    arrays = {k: np.asarray(data[k]) for k in ("train_x", "train_y", "test_x", "test_y")}
    arrays["meta"] = np.array(json.dumps(data.get("meta", {}), default=_jsonable))
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ----------------------------------------------------------------------------------------
# JSON

def save_json(path, obj):
    """Write obj as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def as_json(obj):
    """obj as it reads back from a JSON file written by save_json (NumPy scalars and arrays
    as Python numbers and lists, tuples as lists): for comparing with what is on disk."""
    return json.loads(json.dumps(obj, default=_jsonable))


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def load_json(path):
    """Read a JSON object with a clear error when it is missing, corrupt or not an object."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    try:
        with open(path) as f:
            obj = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MinigrokError(f"cannot read {path!r}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise MinigrokError(f"cannot read {path!r}: not a JSON object")
    return obj


# ----------------------------------------------------------------------------------------
# CSV

def save_csv(path, rows, columns=None):
    """rows (dicts) as CSV with the given columns (default: the union of their keys in
    order); floats written exactly (repr), None and missing values as ''."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return value


def save_metrics(path, metrics):
    """metrics.csv: one row per logged epoch, the columns of METRIC_COLUMNS."""
    save_csv(path, [dict(zip(METRIC_COLUMNS, row)) for row in zip(*(metrics[c] for c in METRIC_COLUMNS))],
             METRIC_COLUMNS)


def load_metrics(path):
    """metrics.csv as {column: list}; a clear error when it is missing or malformed."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != METRIC_COLUMNS:
        raise MinigrokError(f"{path!r} is not a minigrok metrics file (header {rows[:1]})")
    metrics = {c: [] for c in METRIC_COLUMNS}
    try:
        for row in rows[1:]:
            if len(row) != len(METRIC_COLUMNS):
                raise ValueError(f"a row has {len(row)} fields")
            metrics["epoch"].append(int(row[0]))
            for c, v in zip(METRIC_COLUMNS[1:], row[1:]):
                metrics[c].append(float(v))
    except ValueError as exc:
        raise MinigrokError(f"{path!r} is not a minigrok metrics file ({exc})") from None
    return metrics
