"""Train the dense MLP in plain PyTorch from minigrok's own init and split, and report
t_mem / t_gen: does minigrok's dense grokking time match PyTorch's from the same start?

    python benchmarks/torch_grokking_time.py --seed 0 [--epochs 30000] [--threads 2]

The same model as tests/torch_models.py (the formulas of minigrok/models/), torch.optim.AdamW with the
paper's settings, float32 with the loss on float64 logits, metrics every epoch before the
step - exactly minigrok's loop, so the two t_gen may differ only through float32 rounding
(grokking amplifies it: expect close, not identical, epochs).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from torch_models import mlp_forward  # noqa: E402

from minigrok.data import modular_dataset  # noqa: E402
from minigrok.models import mlp, model_config  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=30000)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--out", default=None, help="write the metrics as JSON here")
args = parser.parse_args()
torch.set_num_threads(args.threads)

data = modular_dataset("add", 67, 0.4, "sym", args.seed)
params = mlp.init(model_config("mlp", 67), np.random.default_rng(args.seed))
P = {k: torch.nn.Parameter(torch.tensor(w)) for k, w in params.items()}
opt = torch.optim.AdamW(P.values(), lr=1e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=1.0)
xtr, ytr = torch.as_tensor(data["train_x"]), torch.as_tensor(data["train_y"])
xte, yte = torch.as_tensor(data["test_x"]), torch.as_tensor(data["test_y"])
t_mem = t_gen = None
t0 = time.perf_counter()
for epoch in range(args.epochs + 1):
    with torch.no_grad():
        test_acc = (mlp_forward(P, xte).argmax(-1) == yte).double().mean().item()
    logits = mlp_forward(P, xtr)
    train_acc = (logits.argmax(-1) == ytr).double().mean().item()
    t_mem = epoch if (t_mem is None and train_acc >= 0.99) else t_mem
    t_gen = epoch if (t_gen is None and test_acc >= 0.99) else t_gen
    if t_gen is not None or epoch == args.epochs:
        break
    loss = F.cross_entropy(logits.double(), ytr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if epoch % 1000 == 0:
        print(f"epoch {epoch} train {train_acc:.3f} test {test_acc:.3f}", file=sys.stderr, flush=True)
result = {"seed": args.seed, "t_mem": t_mem, "t_gen": t_gen, "wall_s": time.perf_counter() - t0,
          "torch": torch.__version__}
print(json.dumps(result))
if args.out:
    with open(args.out, "w") as f:
        json.dump(result, f)
