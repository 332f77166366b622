"""Two .npz files array by array: `minigrok compare A.npz B.npz [--shared]`.

For checkpoints of two frameworks, two machines or two versions that should agree: every
numeric array (real, complex, integer or boolean; parameters, `mask/<name>`,
`adam/m/<name>`, ...) must have the same name and shape in both, or with --shared only the
names both files hold are compared and the others are listed. Each gets a row

    max abs       max |a - b|
    max rel       max over entries of |a - b| / max(|a|, |b|)   (0 where both are 0)
    abs/max|A|    max |a - b| / max |a|: the difference against the array's own scale,
                  the measure the test suite's PyTorch cross-checks bound

Real and complex arrays are compared in float64 / complex128, integers exactly (2^62
against 2^62 + 1 differ by 1). NaN against NaN and inf against the same inf are equal;
a NaN or inf against anything else is an infinite difference, and the row says how many
entries differ that way. `max rel` is the strictest and is dominated by entries near 0
(1e-9 against 2e-9 counts as 0.5); `abs/max|A|` is the one to read first. Arrays that are
not numbers (the JSON `meta` string) are listed as not compared.
"""
import numpy as np

from .errors import MinigrokError
from .io import load_arrays

NUMERIC = "biufc"


def _numeric(arrays):
    return {k for k, v in arrays.items() if v.dtype.kind in NUMERIC}


def difference(x, y):
    """(max abs, max rel, max |x|, entries whose NaN / inf differ) of two arrays of one
    shape; see the module docstring."""
    if x.dtype.kind in "biu" and y.dtype.kind in "biu":  # exact, in Python integers
        a, b = x.astype(object), y.astype(object)  # (shape) each
        diff = np.abs(a - b)  # (shape)
        scale = np.maximum(np.abs(a), np.abs(b))  # (shape)
        rel = [float(d) / float(s) for d, s in zip(diff.ravel(), scale.ravel()) if s]
        top = float(np.abs(a).max()) if a.size else 0.0
        return float(diff.max()) if diff.size else 0.0, max(rel, default=0.0), top, 0
    kind = np.complex128 if "c" in (x.dtype.kind, y.dtype.kind) else np.float64
    a, b = x.astype(kind), y.astype(kind)  # (shape) each
    finite = np.isfinite(a) & np.isfinite(b)  # (shape)
    same = (a == b) | (np.isnan(a) & np.isnan(b))  # NaN = NaN, inf = inf
    mismatched = int((~finite & ~same).sum())
    a_f, b_f = np.where(finite, a, 0), np.where(finite, b, 0)  # (shape) each, finite pairs only
    diff = np.abs(a_f - b_f)  # (shape)
    scale = np.maximum(np.abs(a_f), np.abs(b_f))  # (shape)
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    top = float(np.abs(a[np.isfinite(a)]).max(initial=0.0))
    if mismatched:
        return float("inf"), float("inf"), top, mismatched
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), top, 0


def compare_arrays(a, b, name_a="A", name_b="B", shared=False):
    """{"rows": [(name, shape, max_abs, max_rel, abs_over_scale, nonfinite_mismatches)],
    "left_out": names in only one file (with shared=True), "not_numeric": names skipped}
    for two dicts of arrays; a one-line error when names (without shared) or shapes
    differ."""
    keys_a, keys_b = _numeric(a), _numeric(b)
    left_out = sorted(keys_a ^ keys_b)
    if left_out and not shared:
        only = [f"only in {name}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                for name, names in ((name_a, sorted(keys_a - keys_b)), (name_b, sorted(keys_b - keys_a)))
                if names]
        raise MinigrokError(f"{name_a} and {name_b} hold different names ({'; '.join(only)}); give "
                            "--shared to compare the arrays both hold")
    keys = sorted(keys_a & keys_b)
    if not keys:
        raise MinigrokError(f"{name_a} and {name_b} hold no numeric arrays of the same name to compare")
    rows = []
    for k in keys:
        if a[k].shape != b[k].shape:
            raise MinigrokError(f"{k!r} has shape {a[k].shape} in {name_a} but {b[k].shape} in {name_b}")
        max_abs, max_rel, top, mismatched = difference(a[k], b[k])
        rows.append((k, a[k].shape, max_abs, max_rel, max_abs / top if top > 0 else max_abs, mismatched))
    not_numeric = sorted(set(a) - keys_a | set(b) - keys_b)
    return {"rows": rows, "left_out": left_out, "not_numeric": not_numeric}


def compare_files(path_a, path_b, shared=False):
    """compare_arrays() of two .npz files."""
    return compare_arrays(load_arrays(path_a), load_arrays(path_b), repr(path_a), repr(path_b), shared)


def format_table(result):
    """compare_arrays()'s rows as an aligned text table, then the worst row and what was
    not compared."""
    rows = result["rows"]
    width = max([len("name")] + [len(r[0]) for r in rows])
    lines = [f"{'name':<{width}}  {'shape':<14} {'max abs':>10} {'max rel':>10} {'abs/max|A|':>10}"]
    for name, shape, max_abs, max_rel, scaled, mismatched in rows:
        note = f"  ({mismatched} entries NaN / inf in one file only)" if mismatched else ""
        lines.append(f"{name:<{width}}  {str(shape):<14} {max_abs:>10.3e} {max_rel:>10.3e} "
                     f"{scaled:>10.3e}{note}")
    worst = max(rows, key=lambda r: r[4])
    lines.append(f"largest against its scale: {worst[0]} ({worst[4]:.3e})")
    if result["left_out"]:
        lines.append(f"in one file only, not compared: {', '.join(result['left_out'])}")
    if result["not_numeric"]:
        lines.append(f"not numbers, not compared: {', '.join(result['not_numeric'])}")
    return "\n".join(lines)
