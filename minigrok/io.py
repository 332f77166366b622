"""Files a user gets: checkpoints (.npz, no pickle), JSON, CSV, all written atomically.

Checkpoint layout (a public interface): one array per parameter name (W_E, W_in, ...),
masks as `mask/<name>`, optimiser moments as `adam/m/<name>` and `adam/v/<name>`, and
metadata as a JSON string under `meta`. Every file is written to a temporary file in the
same folder and renamed into place, so a crash never leaves a half-written file.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy
from .errors import MinigrokError


def _atomic_write(path, write):
    """Call write(file_object) on a temporary file next to path, then rename it to path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_npz(path, params=None, masks=None, opt_state=None, meta=None):
    """Write a checkpoint: params, optional masks / AdamW state, and a meta dict."""
    arrays = {k: to_numpy(v) for k, v in (params or {}).items()}
    arrays.update({f"mask/{k}": to_numpy(v).astype(bool) for k, v in (masks or {}).items()})
    meta = dict(meta or {})
    if opt_state is not None:
        meta["adam_step"] = int(opt_state["step"])
        for part in ("m", "v"):
            arrays.update({f"adam/{part}/{k}": to_numpy(v) for k, v in opt_state[part].items()})
    arrays["meta"] = np.array(json.dumps(meta))
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path):
    """Read a checkpoint: returns {"params", "masks", "opt_state", "meta"} of NumPy arrays
    (masks / opt_state are None when the file has none). Bad files give a one-line error."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise MinigrokError(f"cannot read {path!r}: not a valid .npz checkpoint ({exc})") from None
    try:
        meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
    except json.JSONDecodeError as exc:
        raise MinigrokError(f"cannot read {path!r}: its 'meta' entry is not JSON ({exc})") from None
    params, masks, m, v = {}, {}, {}, {}
    for key, value in arrays.items():
        if key.startswith("mask/"):
            masks[key[5:]] = value.astype(bool)
        elif key.startswith("adam/m/"):
            m[key[7:]] = value
        elif key.startswith("adam/v/"):
            v[key[7:]] = value
        else:
            params[key] = value
    opt_state = {"step": int(meta.get("adam_step", 0)), "m": m, "v": v} if m else None
    return {"params": params, "masks": masks or None, "opt_state": opt_state, "meta": meta}


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


def save_json(path, obj):
    """Write obj as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode()))


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} as JSON")


def load_json(path):
    """Read a JSON file with a clear error when it is missing or corrupt."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MinigrokError(f"cannot read {path!r}: not valid JSON ({exc})") from None


def save_split(path, data):
    """Write the train/test inputs and labels exactly as used (split.npz)."""
    arrays = {k: np.asarray(data[k]) for k in ("train_x", "train_y", "test_x", "test_y")}
    arrays["meta"] = np.array(json.dumps(data.get("meta", {})))
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def load_arrays(path):
    """Every array of any .npz (no pickle) as a dict, with a one-line error for a missing
    or unreadable file; unlike load_npz, names are kept as they are."""
    if not os.path.isfile(path):
        raise MinigrokError(f"file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise MinigrokError(f"cannot read {path!r}: not a valid .npz file ({exc})") from None
