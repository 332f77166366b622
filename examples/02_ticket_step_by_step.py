"""The grokking-ticket recipe written out: train, prune, rewind, retrain.

    python examples/02_ticket_step_by_step.py [--p 67] [--rate 0.6] [--epochs 30000]

Every step is a call into minigrok's public functions working on dicts of arrays; the
`minigrok ticket` command runs the same recipe with a run store (checkpoints, resume, reuse) and a plot.
This script prunes at the epoch cap, as the paper; `minigrok ticket` takes the MLP's mask
earlier by default, once the dense run has held 0.99 for 10,000 epochs (README, "Measured
results"; `minigrok ticket --dense-stop-after none` is this script's policy).
"""
import argparse

import numpy as np

from minigrok.data import modular_dataset
from minigrok.errors import short_errors
from minigrok.fmt import fmt_epoch
from minigrok.masks import apply, density
from minigrok.models import mlp, model_config
from minigrok.pruning import magnitude_prune
from minigrok.settings import check_setting
from minigrok.train import grokking_times, train_loop

short_errors()  # a bad value ends the script with its one-line message, not a traceback

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--p", type=int, default=67, help="modulus (default %(default)s)")
parser.add_argument("--rate", type=float, default=0.6,
                    help="fraction of weights pruned (default %(default)s)")
parser.add_argument("--epochs", type=int, default=30000,
                    help="dense epochs before pruning (default %(default)s)")
args = parser.parse_args()
for name in ("p", "rate", "epochs"):  # every value checked before the 30k dense epochs
    check_setting(name, getattr(args, name))

# 0. the task and the initial weights theta_0
data = modular_dataset(op="add", p=args.p, frac=0.4, split="sym", seed=0)
theta_0 = mlp.init(model_config("mlp", args.p), np.random.default_rng(0))
settings = {"lr": 1e-3, "weight_decay": 1.0, "betas": (0.9, 0.98), "eps": 1e-8,
            "epochs": args.epochs, "eval_every": 10, "stop_threshold": 0.99}

# 1. train the dense network for 30k epochs (it groks on the way), as the paper does
#    (train_loop trains a copy: theta_0 itself is kept for the rewind; it returns one
#    outcome per run it trained, here one)
dense_run = train_loop(mlp, theta_0, data, settings, label="dense ")[0]
dense, dense_metrics = dense_run["params"], dense_run["metrics"]

# 2. prune: keep the 40% of weights with the largest magnitude, one global threshold
mask = magnitude_prune(dense, rate=args.rate, scope="global")
print(f"mask density {density(mask):.3f}")

# 3. rewind: the surviving weights go back to their initial values, the rest are 0
ticket = apply(theta_0, mask)

# 4. retrain with the same settings; the mask keeps pruned weights at exactly 0
#    (stop once the test accuracy has held >= 0.99 for 1,000 epochs)
ticket_run = train_loop(mlp, ticket, data, {**settings, "stop_after": 1000}, masks=mask,
                        label="ticket")[0]
ticket_metrics = ticket_run["metrics"]

dense_gen = grokking_times(dense_metrics)["0.99"]["t_gen"]
ticket_gen = grokking_times(ticket_metrics)["0.99"]["t_gen"]
print(f"dense  t_gen(0.99) = {fmt_epoch(dense_gen)}")
print(f"ticket t_gen(0.99) = {fmt_epoch(ticket_gen)}")
if dense_gen and ticket_gen:
    print(f"the ticket generalises {dense_gen / ticket_gen:.1f}x sooner")
