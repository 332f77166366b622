"""Two .npz files array by array: `minigrok compare A.npz B.npz`.

For checkpoints of two frameworks, two machines or two versions that should agree: every
numeric array present in both (parameters, `mask/<name>`, `adam/m/<name>`, ...; the
JSON `meta` string is skipped) must have the same name and shape, and each gets a row

    max abs       max |a - b|
    max rel       max over entries of |a - b| / max(|a|, |b|)   (0 where both are 0)
    abs/max|A|    max |a - b| / max |a|: the difference against the array's own scale,
                  the measure the test suite's PyTorch cross-checks bound

all in float64. `max rel` is the strictest and is dominated by entries near 0 (a weight
of 1e-9 against 2e-9 counts as 0.5); `abs/max|A|` is the one to read first.
"""
import numpy as np

from .errors import MinigrokError
from .io import load_arrays


def _numeric(arrays):
    return {k for k, v in arrays.items() if v.dtype.kind in "fuib"}


def compare_arrays(a, b, name_a="A", name_b="B"):
    """Rows (name, shape, max_abs, max_rel, abs_over_scale) for two dicts of arrays with
    the same names and shapes, sorted by name; a one-line error when they differ."""
    keys_a, keys_b = _numeric(a), _numeric(b)
    if keys_a != keys_b:
        only_a, only_b = sorted(keys_a - keys_b), sorted(keys_b - keys_a)
        raise MinigrokError(f"{name_a} and {name_b} hold different names: only in {name_a}: "
                            f"{only_a[:5]}, only in {name_b}: {only_b[:5]}")
    if not keys_a:
        raise MinigrokError(f"{name_a} and {name_b} hold no numeric arrays to compare")
    rows = []
    for k in sorted(keys_a):
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        if x.shape != y.shape:
            raise MinigrokError(f"{k!r} has shape {x.shape} in {name_a} but {y.shape} in {name_b}")
        diff = np.abs(x - y)  # (shape)
        scale = np.maximum(np.abs(x), np.abs(y))  # (shape)
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        max_abs = float(diff.max(initial=0.0))
        top = float(np.abs(x).max(initial=0.0))
        rows.append((k, x.shape, max_abs, float(rel.max(initial=0.0)),
                     max_abs / top if top > 0 else max_abs))
    return rows


def compare_files(path_a, path_b):
    """compare_arrays() of two .npz files."""
    return compare_arrays(load_arrays(path_a), load_arrays(path_b), repr(path_a), repr(path_b))


def format_table(rows):
    """The rows of compare_arrays() as an aligned text table, then the worst row."""
    width = max([len("name")] + [len(r[0]) for r in rows])
    lines = [f"{'name':<{width}}  {'shape':<14} {'max abs':>10} {'max rel':>10} {'abs/max|A|':>10}"]
    for name, shape, max_abs, max_rel, scaled in rows:
        lines.append(f"{name:<{width}}  {str(shape):<14} {max_abs:>10.3e} {max_rel:>10.3e} {scaled:>10.3e}")
    worst = max(rows, key=lambda r: r[4])
    lines.append(f"largest against its scale: {worst[0]} ({worst[4]:.3e})")
    return "\n".join(lines)
