"""The embedding MLP in minigrok and in PyTorch, side by side, from the same numbers:
how far apart are the logits, the gradients and the weights after N AdamW steps?

    pip install torch --index-url https://download.pytorch.org/whl/cpu   # the CPU build suffices
    pip install -e ".[crosscheck]"
    python examples/crosscheck_torch.py [--p 67] [--steps 200] [--dtype float64] [--rate 0.6] [--out DIR]

The PyTorch model below is laid out as the reference grokking-tickets code's (module
names embed / inproj / outproj / unembed, a `weight_mask` buffer per weight, forward with
W * weight_mask), and minigrok.interop moves the weights between the two. To check your
own model, replace TorchMLP with it and keep the rest. With --out DIR both final states
are written as .npz (minigrok's names) for `minigrok compare DIR/minigrok.npz DIR/torch.npz`.

In float64 expect differences around 1e-15 relative; in float32 a few 1e-7 for logits
and gradients, growing over the steps (see README, "Checking your framework's numbers").
"""
import argparse
import os

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    raise SystemExit("crosscheck_torch.py needs PyTorch; its CPU build suffices: pip install torch "
                     "--index-url https://download.pytorch.org/whl/cpu") from None

from minigrok import interop, io
from minigrok.data import modular_dataset
from minigrok.errors import short_errors
from minigrok.losses import cross_entropy
from minigrok.masks import apply
from minigrok.models import mlp, model_config
from minigrok.optim import adamw_init
from minigrok.pruning.magnitude import magnitude_prune
from minigrok.train import train_step

short_errors()  # a bad value ends the script with its one-line message, not a traceback

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--p", type=int, default=67, help="modulus (default %(default)s)")
parser.add_argument("--steps", type=int, default=200, help="AdamW steps (default %(default)s)")
parser.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="both frameworks' dtype (default %(default)s)")
parser.add_argument("--rate", type=float, default=0.6,
                    help="magnitude pruning rate of the mask (default %(default)s)")
parser.add_argument("--out", metavar="DIR", help="write DIR/minigrok.npz and DIR/torch.npz "
                    "(default: none, nothing written)")
args = parser.parse_args()
HP = {"lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8}


class Masked(torch.nn.Module):
    """One weight called `name` and its float `weight_mask` buffer."""

    def __init__(self, name, shape, dtype):
        super().__init__()
        self.register_parameter(name, torch.nn.Parameter(torch.zeros(shape, dtype=dtype)))
        self.register_buffer("weight_mask", torch.ones(shape, dtype=dtype))


class TorchMLP(torch.nn.Module):
    def __init__(self, d_emb, d_hidden, p, dtype):
        super().__init__()
        self.embed = Masked("W_E", (d_emb, p), dtype)
        self.inproj = Masked("W", (d_hidden, d_emb), dtype)
        self.outproj = Masked("W", (d_emb, d_hidden), dtype)
        self.unembed = Masked("W_U", (d_emb, p), dtype)

    def forward(self, tokens):  # tokens (B, 2)
        W_E = self.embed.W_E * self.embed.weight_mask
        e = W_E[:, tokens[:, 0]].T + W_E[:, tokens[:, 1]].T  # (B, d_emb)
        h = torch.relu(e @ (self.inproj.W * self.inproj.weight_mask).T)  # (B, d_hidden)
        z = h @ (self.outproj.W * self.outproj.weight_mask).T  # (B, d_emb)
        return z @ (self.unembed.W_U * self.unembed.weight_mask)  # (B, p)


def max_diff(a, b):
    """(max |a - b|, max |a - b| / max |b|) in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.abs(a - b).max()
    return d, d / np.abs(b).max()


def report(what, a, b):
    abs_, rel = max_diff(a, b)
    print(f"  {what:<22} max abs {abs_:.2e}   rel {rel:.2e}")


# the same start on both sides: minigrok's split, init and a magnitude mask of the init
data = modular_dataset("add", args.p, 0.4, "sym", seed=0)
x, y = data["train_x"], data["train_y"]
cfg = model_config("mlp", args.p, args.dtype)
masks = magnitude_prune(mlp.init(cfg, np.random.default_rng(0)), rate=args.rate)
params = apply(mlp.init(cfg, np.random.default_rng(0)), masks)  # W * mask

model = TorchMLP(cfg["d_emb"], cfg["d_hidden"], args.p, getattr(torch, args.dtype))
model.load_state_dict({k: torch.tensor(v) for k, v in interop.to_reference(params, masks).items()})
tx, ty = torch.as_tensor(x), torch.as_tensor(y)
print(f"embedding MLP, p = {args.p}, {len(y)} training pairs, {args.dtype}, "
      f"density {1 - args.rate:.2f}, torch {torch.__version__}")

# step 0: logits, loss, gradients
logits, cache = mlp.forward(params, x)
loss, dlogits = cross_entropy(logits, y)
grads = mlp.backward(dlogits, cache)
t_logits = model(tx)
t_loss = F.cross_entropy(t_logits.double(), ty)  # the loss in float64 on both sides
t_loss.backward()
print("at init:")
report("logits", logits, t_logits.detach().numpy())
report("loss", loss, t_loss.item())
t_grads = {"W_E": model.embed.W_E.grad, "W_in": model.inproj.W.grad,
           "W_out": model.outproj.W.grad, "W_U": model.unembed.W_U.grad}
for k in grads:  # torch's gradient of W is minigrok's gradient of W * mask, times the mask
    report(f"grad {k}", grads[k] * masks[k], t_grads[k].numpy())

# N full-batch AdamW steps on both sides
state = adamw_init(params)
opt = torch.optim.AdamW(model.parameters(), lr=HP["lr"], betas=HP["betas"], eps=HP["eps"],
                        weight_decay=HP["weight_decay"])
for _ in range(args.steps):
    train_step(mlp, params, state, x, y, HP, masks)
    opt.zero_grad()
    F.cross_entropy(model(tx).double(), ty).backward()
    opt.step()
torch_params = interop.from_reference({k: v.numpy() for k, v in model.state_dict().items()})["params"]
print(f"after {args.steps} AdamW steps (lr 1e-3, betas (0.9, 0.98), weight decay 1):")
for k in params:
    report(k, params[k], torch_params[k])

if args.out:
    io.save_npz(os.path.join(args.out, "minigrok.npz"), params, masks)
    io.save_npz(os.path.join(args.out, "torch.npz"), torch_params, masks)
    print(f"wrote {args.out}/minigrok.npz and {args.out}/torch.npz; "
          f"compare them with: minigrok compare {args.out}/minigrok.npz {args.out}/torch.npz")
