"""What the cross-checks against PyTorch share, without importing torch: the sizes, the
minigrok side of every comparison, the error measure and the tolerances.

Error measure: for arrays, rel_err(ours, ref) = max |ours - ref| / max |ref| (the largest
difference measured against the tensor's own scale, so entries that are 0 or tiny do not
blow it up); for the scalar loss, |ours - ref| / |ref|.

Tolerances. float64: the issue's bounds (logits, loss, grads <= 1e-10; parameters after
200 masked AdamW steps <= 1e-8); what we see is <= 3e-14. float32 (small models): both
sides round every matmul to float32, in different summation orders (NumPy's BLAS vs
torch's kernels), so logits and grads agree to a few float32 ulps (seen: <= 7e-7) and
the parameters after 200 steps to <= 2e-6; the float32 bounds below leave 5-50x room for
another BLAS. Paper-size float32 runs are deliberately not compared step by step: there
minigrok's and torch's float32 weights drift from the float64 run by ~3e-2 and ~5e-2
within 200 steps (rounding differences grow fast once the loss starts falling), and are
~6e-2 apart, so only float64 can tell the two implementations apart there.
"""
import numpy as np

from minigrok.data import modular_dataset
from minigrok.losses import cross_entropy
from minigrok.masks import apply
from minigrok.models import MODELS, get_model, model_config
from minigrok.optim import adamw_init
from minigrok.pruning.magnitude import magnitude_prune
from minigrok import train as train_module
from minigrok.train import train_step

# the models both sides know; a model joins the cross-checks by an entry here and a torch
# transcription in tests/torch_models.py
CROSSCHECKED = ("mlp", "transformer")

# small widths for the 200-step runs: p = 23 and every width the model has shrunk
SMALL_P = 23
SMALL_WIDTHS = {"d_emb": 64, "d_hidden": 16}  # other d_* (the transformer's) become 32
PAPER_P = 67  # the paper's size, at the model's default widths (logits and grads only)

STEPS = 200
HP = {"lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8}
DENSITY = 0.4  # the mask of the training runs: global magnitude pruning, keep 40%

TOLERANCES = {
    "float64": {"logits": 1e-10, "loss": 1e-10, "grads": 1e-10, "losses": 1e-10, "params": 1e-8},
    "float32": {"logits": 3e-6, "loss": 1e-7, "grads": 3e-6, "losses": 1e-6, "params": 1e-4},
}


def available(name):
    """True if minigrok has the model `name` (the transformer may not be there yet)."""
    return name in MODELS


def rel_err(ours, ref):
    """max |ours - ref| / max |ref| in float64 (0 when both are all zeros)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    diff = np.abs(ours - ref).max(initial=0.0)
    scale = np.abs(ref).max(initial=0.0)
    return diff / scale if scale > 0 else diff


def small_overrides(name):
    """Widths of the small model: SMALL_WIDTHS, and 32 for any other d_* default."""
    defaults = get_model(name).DEFAULTS
    return {k: SMALL_WIDTHS.get(k, 32) for k in defaults if k.startswith("d_")}


def setup(name, p, dtype, small=True, seed=0):
    """(cfg, params0, data, masks): the add-mod-p sym split, minigrok's init and a global
    magnitude mask of density DENSITY computed from the initial weights."""
    data = modular_dataset("add", p, 0.4, "sym", seed)
    cfg = model_config(name, p, dtype, **(small_overrides(name) if small else {}))
    params0 = get_model(name).init(cfg, np.random.default_rng(seed))
    masks = magnitude_prune(params0, density=DENSITY, scope="global")
    return cfg, params0, data, masks


def forms(name):
    """{form: (forward, backward)}: 'layers' is the model's layer-by-layer pair; 'train' is
    what minigrok.train.train_step runs, when that differs (the MLP's factored form)."""
    model = get_model(name)
    out = {"layers": (model.forward, model.backward)}
    trainer = getattr(train_module, "model_functions", None)
    if trainer is not None and trainer(model) != out["layers"]:
        out["train"] = trainer(model)
    return out


FORMS = ("layers", "train")


def gradients(name, params, x, y, form="layers"):
    """Logits, float64 cross-entropy loss and the gradient of every parameter (no step)."""
    functions = forms(name)
    assert form in functions, f"the {name} model has no {form!r} form"
    forward, backward = functions[form]
    logits, cache = forward(params, x)
    loss, dlogits = cross_entropy(logits, y)
    return logits, float(loss), backward(dlogits, cache)


def train(name, params0, masks, x, y, steps=STEPS, hp=HP):
    """`steps` masked full-batch AdamW steps from params0 * mask with minigrok's own
    train_step; returns (losses before each step, params after the last)."""
    model = get_model(name)
    params = apply({k: np.array(w) for k, w in params0.items()}, masks)
    state = adamw_init(params)
    losses = [float(train_step(model, params, state, x, y, hp, masks)[0]) for _ in range(steps)]
    return np.array(losses), params


def worst(errors):
    """The largest value of a {name: error} dict, with its name, for messages."""
    key = max(errors, key=errors.get)
    return f"{key}: {errors[key]:.2e}"
