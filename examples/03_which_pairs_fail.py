"""Which test pairs a trained net gets wrong, and whether it is the a = b diagonal.

    python examples/03_which_pairs_fail.py RUN_DIR [RUN_DIR ...]

RUN_DIR is a run folder of the store (OUT/runs/<name>/, e.g. the dense run or the ticket
of `minigrok ticket --model transformer`); its final.npz (weights and mask) and split.npz
(the test pairs exactly as used) are read. Printed per run: the test pairs it gets wrong,
on the diagonal a = b and off it, on pairs whose sum wraps around p and not, how many
labels and tokens the errors touch, and the errors when each test pair is given in the
other order (b, a). On the sym split a run sees only pairs with a <= b: the MLP sums its
two embeddings, so order cannot matter to it; the Transformer reads the second token as
its query, so (b, a) is an input it has never been trained on.
"""
import argparse
import os

import numpy as np

from minigrok import io
from minigrok.errors import short_errors
from minigrok.masks import apply
from minigrok.models import get_model

short_errors()  # a bad file ends the script with its one-line message, not a traceback

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (OUT/runs/<name>/)")
args = parser.parse_args()

for folder in args.runs:
    if not os.path.isfile(os.path.join(folder, "config.json")):
        parser.error(f"{folder!r} is not a run folder (no config.json): give OUT/runs/<name>/")
    cfg = io.load_json(os.path.join(folder, "config.json"))
    if cfg.get("task", "modular") != "modular":
        parser.error(f"{folder!r} is a {cfg['task']} run: this example reads modular-arithmetic runs only")
    final = io.load_npz(os.path.join(folder, "final.npz"))
    split = io.load_arrays(os.path.join(folder, "split.npz"))
    model = get_model(cfg["model"])
    params = apply(final["params"], final["masks"])  # W * mask (the mask is None for a dense run)
    x, y, p = split["test_x"], split["test_y"], cfg["p"]  # (n, 2), (n,)
    wrong = model.forward(params, x)[0].argmax(axis=-1) != y  # (n,)
    swapped_wrong = model.forward(params, x[:, ::-1])[0].argmax(axis=-1) != y  # (n,) as (b, a)
    a, b = x[:, 0], x[:, 1]
    diagonal, wraps = a == b, a + b >= p

    def part(where):
        return f"{int((wrong & where).sum())} of {int(where.sum())}"

    print(f"{os.path.basename(os.path.normpath(folder))} ({cfg['model']}, {cfg['op']}, split {cfg['split']}): "
          f"{int(wrong.sum())} of {len(y)} test pairs wrong")
    print(f"  diagonal a = b: {part(diagonal)}; off it: {part(~diagonal)}")
    print(f"  a + b >= p (wraps): {part(wraps)}; a + b < p: {part(~wraps)}")
    print(f"  the errors touch {len(np.unique(y[wrong]))} of {p} labels and "
          f"{len(np.unique(x[wrong]))} of {p} tokens")
    print(f"  each test pair given as (b, a) instead: {int(swapped_wrong.sum())} wrong")
