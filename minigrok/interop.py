"""Parameters in the reference grokking-tickets PyTorch code's names, both ways.

minigrok never imports torch. A PyTorch state dict reaches minigrok as an .npz of its
tensors, written on the PyTorch side with one line:

    np.savez("ref.npz", **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})

(for the reference code's checkpoints, `model.state_dict()` is `torch.load(path)["model"]`).
`load_reference_npz("ref.npz")` then gives minigrok params and masks, and
`save_reference_npz(path, params, masks)` writes them back under the reference names, for
`model.load_state_dict({k: torch.tensor(v) for k, v in np.load(path).items()})`.

Names. Verified by reading the reference code (github.com/gouki510/Grokking-Tickets at
commit bd705c8, model.py: classes OnlyMLP, Embed, Unembed, MLP, Transformer, Attention,
MLP2; its pruner.py and generator.py; read, not run), and checked with torch against
modules laid out the same way (tests/torch_models.py, tests/test_interop.py):
  - the MLP (OnlyMLP with num_layers = 0): `embed.W_E` (d_emb, p), `inproj.W`
    (d_hidden, d_emb), `outproj.W` (d_emb, d_hidden), `unembed.W_U` (d_emb, p), the same
    layouts as minigrok's W_E, W_in, W_out, W_U; each module has a float buffer
    `weight_mask` of its weight's shape (all ones in a dense net) and uses
    W * weight_mask in its forward.
  - the Transformer: `embed.W_E`, `blocks.0.attn.W_Q` / `W_K` / `W_V` (heads, d_head, d),
    `blocks.0.attn.W_O` (d, heads * d_head), `blocks.0.mlp.W_in` (d_mlp, d),
    `blocks.0.mlp.W_out` (d, d_mlp), `unembed.W_U`; its mask buffers are
    `blocks.0.attn.weight_maskQ` / `K` / `V` / `O` and `blocks.0.mlp.weight_mask_in` /
    `weight_mask_out`, and `blocks.0.attn.mask` is the causal (n_ctx, n_ctx) lower
    triangle of ones, a constant, not a parameter (skipped on load, written on export so
    a strict `load_state_dict` accepts the file).
Not from the reference code (which never calls torch.nn.utils.prune): the names a user
gets by pruning such a module with torch.nn.utils.prune (`<name>_orig` for the trained
weight and `<name>_mask` for the mask, e.g. `inproj.W_orig`, `inproj.W_mask`), checked
with torch in tests/test_interop.py. Where a weight has both a reference buffer and a
prune mask, it is kept only where both are 1, as the two multiplications in such a
module's forward do. Assumed: every mask holds only
0 and 1 (other values are refused), and n_ctx = 2 for the exported causal buffer.

Loading keeps minigrok's convention: a parameter is the effective weight W * mask (pruned
entries exact zeros), the mask a bool array; a parameter without a mask entry gets an
all-ones mask when the file has masks for others; a file without any mask gives
masks = None (the reference code always saves its weight_mask buffers, so a dense
reference checkpoint loads with all-ones masks). Deeper reference models (OnlyMLP's
`mlps.<i>.W`, `blocks.1.*`) have no minigrok counterpart and are refused by name.
"""
import numpy as np

from . import io
from .errors import MinigrokError

# minigrok name -> (reference parameter name, reference mask buffer name); one entry per model
REFERENCE_NAMES = {
    "mlp": {
        "W_E": ("embed.W_E", "embed.weight_mask"),
        "W_in": ("inproj.W", "inproj.weight_mask"),
        "W_out": ("outproj.W", "outproj.weight_mask"),
        "W_U": ("unembed.W_U", "unembed.weight_mask"),
    },
    "transformer": {
        "W_E": ("embed.W_E", "embed.weight_mask"),
        "W_Q": ("blocks.0.attn.W_Q", "blocks.0.attn.weight_maskQ"),
        "W_K": ("blocks.0.attn.W_K", "blocks.0.attn.weight_maskK"),
        "W_V": ("blocks.0.attn.W_V", "blocks.0.attn.weight_maskV"),
        "W_O": ("blocks.0.attn.W_O", "blocks.0.attn.weight_maskO"),
        "W_in": ("blocks.0.mlp.W_in", "blocks.0.mlp.weight_mask_in"),
        "W_out": ("blocks.0.mlp.W_out", "blocks.0.mlp.weight_mask_out"),
        "W_U": ("unembed.W_U", "unembed.weight_mask"),
    },
}

# the axes of every matrix by name, so that inconsistent shapes are caught on load
DIMS = {
    "mlp": {"W_E": ("d_emb", "p"), "W_in": ("d_hidden", "d_emb"),
            "W_out": ("d_emb", "d_hidden"), "W_U": ("d_emb", "p")},
    "transformer": {"W_E": ("d_model", "p"), "W_Q": ("n_heads", "d_head", "d_model"),
                    "W_K": ("n_heads", "d_head", "d_model"), "W_V": ("n_heads", "d_head", "d_model"),
                    "W_O": ("d_model", "n_heads*d_head"), "W_in": ("d_mlp", "d_model"),
                    "W_out": ("d_model", "d_mlp"), "W_U": ("d_model", "p")},
}

CAUSAL_MASK = "blocks.0.attn.mask"  # the transformer's constant buffer
MASK_STYLES = ("reference", "prune", "none")


def _model_of(names, given, what):
    """`given` if it is a known model, else the model whose own reference weight names
    (those no other model uses, with or without `_orig`) `names` holds most of."""
    if given is not None:
        if given not in REFERENCE_NAMES:
            raise MinigrokError(f"unknown model {given!r}; allowed: {', '.join(REFERENCE_NAMES)}")
        return given

    def hits(model):
        others = {ref for m, table in REFERENCE_NAMES.items() if m != model for ref, _ in table.values()}
        return sum(1 for ref, _ in REFERENCE_NAMES[model].values()
                   if ref not in others and (ref in names or ref + "_orig" in names))

    best = max(REFERENCE_NAMES, key=hits)
    if hits(best) == 0:
        raise MinigrokError(f"cannot tell the model of {what}: it has none of the reference names "
                            f"'inproj.W' (mlp) or 'blocks.0.attn.W_Q' (transformer); "
                            f"it has {sorted(names)[:6]}")
    return best


def check_shapes(params, model, what="parameters", labels=None):
    """One-line error unless the matrices have consistent shapes (e.g. W_in's d_emb equals
    W_E's) with the layouts of DIMS; labels {W: name} names them in the message."""
    sizes, seen_in = {}, {}
    for key, axes in DIMS[model].items():
        name = (labels or {}).get(key, key)
        shape = tuple(np.shape(params[key]))
        if len(shape) != len(axes):
            raise MinigrokError(f"shape mismatch in {what}: {name} has shape {shape}, "
                                f"expected {len(axes)} axes ({', '.join(axes)})")
        for axis, size in zip(axes, shape):
            if "*" in axis:
                a, b = axis.split("*")
                if a in sizes and b in sizes:
                    expected = sizes[a] * sizes[b]
                    if size != expected:
                        raise MinigrokError(f"shape mismatch in {what}: {name} has shape {shape}, but "
                                            f"{a} * {b} = {expected} from the other matrices")
                continue
            if axis in sizes and sizes[axis] != size:
                raise MinigrokError(f"shape mismatch in {what}: {name} has shape {shape}, but "
                                    f"{seen_in[axis]} gives {axis} = {sizes[axis]}")
            sizes.setdefault(axis, size)
            seen_in.setdefault(axis, name)
    return sizes


def from_reference(state, model=None, what="the state dict"):
    """{"model", "params", "masks"} from a dict of reference-named arrays (see the module
    docstring); model ('mlp' or 'transformer') is inferred from the names when None."""
    names = set(state)
    model = _model_of(names, model, what)
    table = REFERENCE_NAMES[model]
    known = {CAUSAL_MASK} if model == "transformer" else set()
    params, masks = {}, {}
    for ours, (ref, buffer) in table.items():
        if ref in state and ref + "_orig" in state:
            raise MinigrokError(f"{what} has both {ref!r} and {ref + '_orig'!r}; keep one")
        weight_key = ref if ref in state else ref + "_orig"
        if weight_key not in state:
            raise MinigrokError(f"{what} lacks {ref!r} (the {model}'s {ours}); "
                                f"expected names: {', '.join(r for r, _ in table.values())}")
        mask_keys = [k for k in (buffer, ref + "_mask") if k in state]
        known.update([weight_key, *mask_keys])
        W = np.asarray(state[weight_key])
        if not np.issubdtype(W.dtype, np.floating):
            raise MinigrokError(f"{what}: {weight_key!r} has dtype {W.dtype}, expected a float array")
        params[ours] = W
        for key in mask_keys:  # both present: torch.nn.utils.prune on a reference module
            m = np.asarray(state[key])
            if m.shape != W.shape:
                raise MinigrokError(f"shape mismatch in {what}: mask {key!r} has shape "
                                    f"{m.shape}, {weight_key!r} has {W.shape}")
            if not np.all((m == 0) | (m == 1)):
                raise MinigrokError(f"{what}: mask {key!r} holds values other than 0 and 1")
            masks[ours] = masks.get(ours, True) & m.astype(bool)
    unknown = sorted(names - known)
    if unknown:
        raise MinigrokError(f"{what} has names with no minigrok {model} counterpart: {unknown[:6]}"
                            f"{' ...' if len(unknown) > 6 else ''}")
    check_shapes(params, model, what, labels={ours: repr(ref) for ours, (ref, _) in table.items()})
    if masks:
        masks = {k: masks.get(k, np.ones(W.shape, dtype=bool)) for k, W in params.items()}
        params = {k: W * masks[k].astype(W.dtype) for k, W in params.items()}
    return {"model": model, "params": params, "masks": masks or None}


def to_reference(params, masks=None, model=None, mask_style="reference"):
    """{reference name: array} for minigrok params (and masks).

    mask_style 'reference': the reference code's layout, weight W * mask plus a float
    buffer per matrix (all ones without masks) and the transformer's causal buffer, what
    its modules' strict load_state_dict expects. 'prune': torch.nn.utils.prune's layout,
    `<name>_orig` and `<name>_mask` for every matrix (masks required). 'none': weights only.
    """
    if mask_style not in MASK_STYLES:
        raise MinigrokError(f"unknown mask style {mask_style!r}; allowed: {', '.join(MASK_STYLES)}")
    model = model or _model_of_params(params)
    table = REFERENCE_NAMES.get(model)
    if table is None:
        raise MinigrokError(f"unknown model {model!r}; allowed: {', '.join(REFERENCE_NAMES)}")
    if set(params) != set(table):
        raise MinigrokError(f"the {model}'s parameters are {sorted(table)}, got {sorted(params)}")
    if masks is not None and set(masks) != set(params):
        raise MinigrokError(f"masks have keys {sorted(masks)}, the parameters are {sorted(params)}")
    if mask_style == "prune" and masks is None:
        raise MinigrokError("mask style 'prune' needs masks")
    check_shapes(params, model)
    out = {}
    for ours, (ref, buffer) in table.items():
        W = np.asarray(params[ours])
        m = np.ones(W.shape, dtype=bool) if masks is None else np.asarray(masks[ours], dtype=bool)
        if m.shape != W.shape:
            raise MinigrokError(f"shape mismatch: mask {ours} has shape {m.shape}, the parameter has {W.shape}")
        W = W * m.astype(W.dtype)
        if mask_style == "prune":
            out[ref + "_orig"], out[ref + "_mask"] = W, m.astype(W.dtype)
        else:
            out[ref] = W
            if mask_style == "reference":
                out[buffer] = m.astype(W.dtype)
    if model == "transformer" and mask_style != "none":  # n_ctx = 2 tokens, [a, b]
        out[CAUSAL_MASK] = np.tril(np.ones((2, 2), dtype=np.asarray(params["W_E"]).dtype))
    return out


def _model_of_params(params):
    for model, table in REFERENCE_NAMES.items():
        if set(params) == set(table):
            return model
    raise MinigrokError(f"cannot tell the model of parameters {sorted(params)}; give model=")


def load_reference_npz(path, model=None):
    """from_reference() of an .npz of a reference state dict."""
    return from_reference(io.load_arrays(path), model, what=repr(path))


def save_reference_npz(path, params, masks=None, model=None, mask_style="reference"):
    """Write to_reference(params, masks) as an .npz, atomically."""
    arrays = to_reference(params, masks, model, mask_style)
    io.atomic_write(path, lambda f: np.savez(f, **arrays))
