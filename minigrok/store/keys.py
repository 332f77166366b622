"""Run keys: what makes two runs the same run.

    digest(arrays)     SHA-256 of a dict of arrays (names, dtypes, shapes, bytes)
    run_key(identity)  SHA-256 of a run's identity dict (runs.identity), canonical JSON
    differences(a, b)  the leaves of two nested dicts that differ, for refusals a user reads
"""
import hashlib
import json

import numpy as np

FORMAT = 2  # run-folder format; folders of older minigrok versions are refused


def digest(arrays):
    """SHA-256 (hex) of a dict of arrays: names, dtypes, shapes and bytes; None for None."""
    if arrays is None:
        return None
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def run_key(identity):
    """SHA-256 (hex) of a run's identity dict, written as canonical JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def differences(a, b, where=("there", "here"), prefix=""):
    """'key: A there, B here' for every differing leaf of two nested dicts."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, where, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}: {_shown(x)} {where[0]}, {_shown(y)} {where[1]}")
    return out


def _shown(value):
    """A setting's value as a user would type it: none for None."""
    return "none" if value is None else repr(value)
