"""Where minigrok's train step goes: each phase timed alone, and the matrix products
that remain in the trainer's fast forms against the GEMM peak.

    python benchmarks/phases.py [--threads 1] [--dtype float32]

Phases (the trainer's forms: the MLP factored, the Transformer tabulated; p = 67, the
sym split's 911 train / 1367 test pairs): forward, loss (float64 cross-entropy and
its gradient), backward, AdamW, and the evaluation pass. GEMMs: the products of the
per-example matrices, e.g. relu(pre) @ M (B x d_mlp x p) in the forward and its two
products in the backward, timed on arrays of the trainer's shapes; GFLOP/s = 2 m n k / t
against a 2048^3 product's rate. The per-phase medians do not add up exactly to a
bench.py step (caches are warmer when a phase runs alone).
"""
import argparse
import builtins
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
import blas


def timed_ms(fn, repeats=300, warmup=20):
    """Median ms of one call of fn."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def phases(name, dtype):
    """{phase: ms} of one model's train step and evaluation."""
    import cases

    from minigrok.losses import cross_entropy
    from minigrok.models import get_model
    from minigrok.optim import adamw_init, adamw_step
    from minigrok.train import evaluate, model_functions
    cfg, params, data = cases.setup(name, dtype=dtype)
    model = get_model(name)
    forward, backward = model_functions(model)
    x, y = data["train_x"], data["train_y"]
    logits, cache = forward(params, x)
    _, dlogits = cross_entropy(logits, y)
    grads = backward(dlogits, cache)
    trained = {k: w.copy() for k, w in params.items()}
    state = adamw_init(trained)
    return {
        "forward": timed_ms(lambda: forward(params, x)),
        "loss": timed_ms(lambda: cross_entropy(logits, y)),
        "backward": timed_ms(lambda: backward(dlogits, cache)),
        "adamw": timed_ms(lambda: adamw_step(trained, grads, state, **{k: v for k, v in cases.HP.items()})),
        "eval": timed_ms(lambda: evaluate(model, params, data["test_x"], data["test_y"])),
    }


def gemms(name, dtype):
    """[(label, (m, k, n))]: the per-example products left in the trainer's form."""
    import cases
    cfg, _, data = cases.setup(name, dtype=dtype)
    B, p = len(data["train_x"]), cfg["p"]
    hidden = cfg["d_hidden"] if name == "mlp" else cfg["d_mlp"]
    return [(f"h @ M          ({B} x {hidden} x {p})", (B, hidden, p)),
            (f"dlogits @ M.T  ({B} x {p} x {hidden})", (B, p, hidden)),
            (f"h.T @ dlogits  ({hidden} x {B} x {p})", (hidden, B, p))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (1)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--record", metavar="FILE.json",
                    help="also write a results record of the table (minigrok/provenance.py)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads {args.threads} is not allowed: give an integer >= 1")
    blas.request_threads(args.threads)
    import numpy as np
    import cases
    from minigrok.backend import keep_freed_memory
    keep_freed_memory()
    from minigrok.provenance import check_record_path, write_record
    started = check_record_path(args.record) if args.record is not None else None
    lines = []
    print = lambda line="": (lines.append(line), builtins.print(line))  # noqa: E731  shown and kept
    peak = cases.gemm_peak(dtype=args.dtype, with_torch=False)["numpy"]
    print(f"{args.threads} BLAS thread(s), {args.dtype}; GEMM peak {peak:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    for name in ("mlp", "transformer"):
        ms = phases(name, args.dtype)
        step = sum(ms[k] for k in ("forward", "loss", "backward", "adamw"))
        print(f"\n{name}: train step ~{step:.2f} ms = " + ", ".join(
            f"{k} {ms[k]:.2f} ({100 * ms[k] / step:.0f}%)" for k in ("forward", "loss", "backward", "adamw"))
            + f"; eval {ms['eval']:.2f} ms")
        for label, (m, k, n) in gemms(name, args.dtype):
            a = rng.standard_normal((m, k)).astype(args.dtype)
            b = rng.standard_normal((k, n)).astype(args.dtype)
            t = timed_ms(lambda: a @ b)
            rate = 2 * m * k * n / t / 1e6
            print(f"  {label:<34} {t:.3f} ms  {rate:5.0f} GFLOP/s  {100 * rate / peak:3.0f}% of peak")
    if args.record is not None:
        write_record(args.record, sys.argv[1:] if argv is None else list(argv), "\n".join(lines),
                     ["mlp", "transformer"], program="python benchmarks/phases.py", started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
