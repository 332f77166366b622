"""The benchmark cases: one minigrok closure and one PyTorch closure per (model, pass),
both built from the same split and the same initial parameters, and the FLOP count of
each pass. Imported by bench.py after the thread counts are set.

FLOPs are the model's nominal matmul work, 2 * m * n * k per product (elementwise ops,
softmax and the optimiser are not counted), the same number for both frameworks: the
layer-by-layer MLP (minigrok's factored trainer executes ~10x fewer FLOPs for the same
result, so its "achieved" rate can exceed the GEMM peak) and the Transformer computing
the query, the attention output and the MLP at the last position only (the only one the
logits read), as both implementations do. A train step counts 3x the forward (forward, and two products
per matmul in the backward); the evaluation pass counts one forward on the test split.
"""
import time

import numpy as np
import torch
import torch_reference

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


def build(name, dtype="float32", compile_torch=True):
    """[(case, minigrok_fn, torch_fns, gflop)], torch_fns = {"eager": fn, "compiled": fn}."""
    cfg, params, data = setup(name, dtype=dtype)
    model = get_model(name)
    x, y, tx, ty = (data[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    Tx, Ty, Ttx, Tty = (torch.as_tensor(a) for a in (x, y, tx, ty))

    ours = {k: w.copy() for k, w in params.items()}
    state = adamw_init(ours)
    mg_train = lambda: train_step(model, ours, state, x, y, HP)
    mg_eval = lambda: evaluate(model, params, tx, ty)

    torch_params = {k: w.astype(dtype) for k, w in params.items()}
    train_fns, eval_fns = {}, {}
    for kind in ("eager", "compiled") if compile_torch else ("eager",):
        compiled = kind == "compiled"
        step = torch_reference.make_train_step(name, torch_params, HP, compiled)
        ev = torch_reference.make_eval(name, torch_params, compiled)
        train_fns[kind] = lambda step=step: step(Tx, Ty)
        eval_fns[kind] = lambda ev=ev: ev(Ttx, Tty)
    return [
        (f"{name}_train", mg_train, train_fns, 3 * forward_flops(name, cfg, len(x)) / 1e9),
        (f"{name}_eval", mg_eval, eval_fns, forward_flops(name, cfg, len(tx)) / 1e9),
    ]


def gemm_peak(n=2048, dtype="float32", repeats=8):
    """Best-of-`repeats` GFLOP/s of an n x n x n matmul, NumPy and torch: {name: GFLOP/s}."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    out = {}
    for label, fn in (("numpy", lambda: a @ b), ("torch", lambda: ta @ tb)):
        fn()
        best = min(_timed(fn) for _ in range(repeats))
        out[label] = 2 * n ** 3 / best / 1e9
    return out


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
