"""K models as one stacked model vs one model at a time: time per train step.

    python benchmarks/bench_stacked.py [--k 9] [--models mlp,transformer] [--json]

Each case trains K = --k models of the same shape at p = 67 (the paper's settings),
each with its own magnitude mask (rates 0.0, 0.1, ... as in the sweep) and its own
AdamW state: one stacked train step (minigrok.stacked's arrays (K, ...)) against K
single-model train steps, interleaved. ratio = stacked_ms / (K * single_ms); below 1 the
stacked run is faster. Threads as in bench.py (set before NumPy is imported).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
import blas


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=9, help="models in the stack (9)")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads (2)")
    ap.add_argument("--models", default="mlp,transformer", help="comma-separated (both)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--repeats", type=int, default=20, help="timed rounds (20)")
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    return ap.parse_args(argv)


def build(name, K, dtype):
    """(stacked_step, single_step): closures over K masked models, stacked and one by one."""
    import cases
    import numpy as np

    from minigrok.masks import apply
    from minigrok.models import get_model
    from minigrok.optim import adamw_init
    from minigrok.pruning.magnitude import magnitude_prune
    from minigrok.stacked import stack
    from minigrok.train import train_step
    model = get_model(name)
    _, params, data = cases.setup(name, dtype=dtype)
    masks = [magnitude_prune(params, rate=(i % 10) / 10) for i in range(K)]
    singles = [apply(params, m) for m in masks]
    states = [adamw_init(p) for p in singles]
    x, y = data["train_x"], data["train_y"]
    P, M = stack([dict(p) for p in singles]), stack(masks)
    state = adamw_init(P)
    X, Y = np.stack([x] * K), np.stack([y] * K)

    def one_by_one():  # each of the K models takes one step
        for p, s, m in zip(singles, states, masks):
            train_step(model, p, s, x, y, cases.HP, m)

    return (lambda: train_step(model, P, state, X, Y, cases.HP, M)), one_by_one


def main(argv=None):
    args = parse_args(argv)
    blas.request_threads(args.threads)
    from bench import interleaved_medians

    from minigrok.backend import keep_freed_memory
    keep_freed_memory()
    for name in args.models.split(","):
        stacked, one_by_one = build(name, args.k, args.dtype)
        ms = interleaved_medians({"stacked": stacked, "one_by_one": one_by_one}, args.repeats,
                                 inner=1, warmup=3)
        row = {"case": f"{name}_stacked_k{args.k}", "stacked_ms": round(ms["stacked"], 3),
               "k_singles_ms": round(ms["one_by_one"], 3),
               "ratio": round(ms["stacked"] / ms["one_by_one"], 3),
               "threads": args.threads, "dtype": args.dtype}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['case']}: one stacked step {row['stacked_ms']:.2f} ms, {args.k} single "
                  f"steps {row['k_singles_ms']:.2f} ms: ratio {row['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
