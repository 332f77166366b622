"""The benchmark cases: per (model, pass) one minigrok closure and one closure per other
framework (torch eager, torch.compile, JAX jit), all built from the same split and the
same initial parameters, and the FLOP count of each pass. Imported by bench.py after the
thread counts are set; torch and JAX are each optional.

FLOPs are the model's nominal matmul work, 2 * m * n * k per product (elementwise ops,
softmax and the optimiser are not counted), the same number for both frameworks: the
layer-by-layer MLP (minigrok's factored trainer executes ~10x fewer FLOPs for the same
result, so its "achieved" rate can exceed the GEMM peak) and the Transformer computing
the query, the attention output and the MLP at the last position only (the only one the
logits read), as the torch and JAX transcriptions do (minigrok's tabulated trainer
executes far fewer). A train step counts 3x the forward (forward, and two products
per matmul in the backward); the evaluation pass counts one forward on the test split.
"""
import time

import numpy as np

from minigrok.data import modular_dataset
from minigrok.models import get_model, model_config
from minigrok.optim import adamw_init
from minigrok.train import evaluate, train_step

HP = {"lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8}


def forward_flops(name, cfg, batch):
    """Matmul FLOPs of one forward pass of `batch` examples (see the module docstring)."""
    p = cfg["p"]
    if name == "mlp":
        d, h = cfg["d_emb"], cfg["d_hidden"]
        return 2 * batch * (d * h + h * d + d * p)
    d, e, H, m, T = cfg["d_model"], cfg["d_head"], cfg["n_heads"], cfg["d_mlp"], cfg["n_ctx"]
    qkv = 2 * batch * (1 + 2 * T) * d * H * e  # q at the last position, k and v at all T
    attention = 2 * 2 * batch * H * T * e  # the last query's scores and weighted sum
    out = 2 * batch * H * e * d  # W_O at the last position
    mlp = 2 * 2 * batch * d * m  # the MLP at the last position
    return qkv + attention + out + mlp + 2 * batch * d * p


def setup(name, p=67, dtype="float32", seed=0):
    """(cfg, params, data): the add-mod-p sym split (911 train / 1367 test at p = 67) and
    minigrok's float init drawn from `seed`."""
    data = modular_dataset("add", p, 0.4, "sym", seed)
    cfg = model_config(name, p, dtype)
    params = get_model(name).init(cfg, np.random.default_rng(seed))
    return cfg, params, data


def build(name, dtype="float32", frameworks=("torch", "compiled", "jax")):
    """[(case, minigrok_fn, {framework: fn}, gflop)] for the frameworks asked for:
    "torch" (eager), "compiled" (torch.compile of forward + loss) and "jax" (jax.jit of
    the whole step)."""
    cfg, params, data = setup(name, dtype=dtype)
    model = get_model(name)
    x, y, tx, ty = (data[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    ours = {k: w.copy() for k, w in params.items()}
    state = adamw_init(ours)
    train_fns = {"minigrok": lambda: train_step(model, ours, state, x, y, HP)}
    eval_fns = {"minigrok": lambda: evaluate(model, params, tx, ty)}
    own = {k: w.astype(dtype) for k, w in params.items()}
    for kind in [k for k in ("torch", "compiled") if k in frameworks]:
        import torch
        import torch_reference
        Tx, Ty, Ttx, Tty = (torch.as_tensor(a) for a in (x, y, tx, ty))
        step = torch_reference.make_train_step(name, own, HP, compiled=kind == "compiled")
        ev = torch_reference.make_eval(name, own, compiled=kind == "compiled")
        train_fns[kind] = lambda step=step, Tx=Tx, Ty=Ty: step(Tx, Ty)
        eval_fns[kind] = lambda ev=ev, Ttx=Ttx, Tty=Tty: ev(Ttx, Tty)
    if "jax" in frameworks:
        import jax.numpy as jnp
        import jax_reference
        Jx, Jy, Jtx, Jty = (jnp.asarray(a) for a in (x, y, tx, ty))
        step, ev = jax_reference.make_train_step(name, own, HP), jax_reference.make_eval(name, own)
        train_fns["jax"] = lambda: step(Jx, Jy)
        eval_fns["jax"] = lambda: ev(Jtx, Jty)
    return [
        (f"{name}_train", train_fns, 3 * forward_flops(name, cfg, len(x)) / 1e9),
        (f"{name}_eval", eval_fns, forward_flops(name, cfg, len(tx)) / 1e9),
    ]


def gemm_peak(n=2048, dtype="float32", repeats=8, with_torch=True):
    """Best-of-`repeats` GFLOP/s of an n x n x n matmul, NumPy (and torch): {name: GFLOP/s}."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    fns = [("numpy", lambda: a @ b)]
    if with_torch:
        import torch
        ta, tb = torch.as_tensor(a), torch.as_tensor(b)
        fns.append(("torch", lambda: ta @ tb))
    out = {}
    for label, fn in fns:
        fn()
        best = min(_timed(fn) for _ in range(repeats))
        out[label] = 2 * n ** 3 / best / 1e9
    return out


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
