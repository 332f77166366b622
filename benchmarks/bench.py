"""minigrok vs PyTorch on the CPU, side by side in one process.

    python benchmarks/bench.py                  # table; also `minigrok bench`
    python benchmarks/bench.py --json           # one JSON object per case
    python benchmarks/bench.py --no-compile     # skip torch.compile (it takes ~1 min)

Cases: the full-batch train step (forward, float64 cross-entropy, backward, AdamW) and
the evaluation pass (loss and accuracy on the test split) of the MLP and the Transformer
at p = 67 (911 train / 1367 test pairs, the paper's settings), float32 by default.

Fairness: the same thread count for both (default 2: OPENBLAS/OMP/MKL_NUM_THREADS are set
before NumPy is imported, torch.set_num_threads for torch), the same dtype, the same
initial parameters; the measurements are interleaved (minigrok, torch, torch, minigrok,
...) so that load from other jobs on a shared machine hits both alike, and each reported
number is the median over `--repeats` rounds of `--inner` calls.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # the repository, for a checkout not installed
import blas


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="minigrok bench", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for both frameworks (2)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--models", default="mlp,transformer", help="comma-separated (both)")
    ap.add_argument("--repeats", type=int, default=40, help="timed rounds per case (40)")
    ap.add_argument("--inner", type=int, default=5, help="calls per timed round (5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls first (5)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    return ap.parse_args(argv)


def interleaved_medians(fns, repeats, inner, warmup):
    """{name: median ms per call}, the functions timed in alternating order each round."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    samples = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            for _ in range(inner):
                fns[name]()
            samples[name].append((time.perf_counter() - t0) / inner * 1e3)
    return {name: statistics.median(v) for name, v in samples.items()}


def machine(threads, peak):
    """A dict describing the machine and the libraries, for the table and RESULTS.md."""
    import numpy
    import torch
    model, cpus = blas.cpu_model()
    return {"cpu": model, "cpus_available": cpus, "threads": threads,
            "numpy": numpy.__version__, "openblas": blas.openblas_info(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "gemm_peak_gflops": peak,
            "loadavg_1min": os.getloadavg()[0]}


def run(args):
    """Time every case; returns (machine dict, list of result dicts)."""
    import cases
    import torch

    from minigrok.backend import keep_freed_memory
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as minigrok's training loop does; torch in this process gets it too
    peak = cases.gemm_peak(dtype=args.dtype)
    best_peak = max(peak.values())
    results = []
    for name in args.models.split(","):
        compile_torch = not args.no_compile
        try:
            built = cases.build(name, args.dtype, compile_torch)
        except Exception as exc:  # noqa: BLE001  torch.compile can fail at build time
            print(f"note: torch.compile unavailable for {name} ({type(exc).__name__}: {exc}); "
                  "timing eager only", file=sys.stderr)
            built, compile_torch = cases.build(name, args.dtype, False), False
        for case, ours, torch_fns, gflop in built:
            fns = {"minigrok": ours, **torch_fns}
            try:
                ms = interleaved_medians(fns, args.repeats, args.inner, args.warmup)
            except Exception as exc:  # noqa: BLE001  compilation happens at the first call
                print(f"note: torch.compile failed on {case} ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200]}); timing eager only", file=sys.stderr)
                fns.pop("compiled", None)
                ms = interleaved_medians(fns, args.repeats, args.inner, args.warmup)
            for kind in [k for k in ("eager", "compiled") if k in ms]:
                label = case if kind == "eager" else f"{case}_compiled"
                results.append(row(label, ms["minigrok"], ms[kind], gflop, best_peak, args))
    return machine(args.threads, peak), results


def row(case, ours_ms, torch_ms, gflop, peak, args):
    ours_rate, torch_rate = gflop / ours_ms * 1e3, gflop / torch_ms * 1e3  # GFLOP/s
    return {"case": case, "minigrok_ms": round(ours_ms, 3), "torch_ms": round(torch_ms, 3),
            "ratio": round(ours_ms / torch_ms, 3), "gflop": round(gflop, 4),
            "minigrok_gflops": round(ours_rate, 1), "torch_gflops": round(torch_rate, 1),
            "minigrok_peak_frac": round(ours_rate / peak, 3),
            "torch_peak_frac": round(torch_rate / peak, 3),
            "peak_gflops": round(peak, 1), "threads": args.threads, "dtype": args.dtype}


def print_table(info, results):
    ob = info["openblas"]
    print(f"{info['cpu']}, {info['cpus_available']} CPUs; {info['threads']} threads; "
          f"numpy {info['numpy']} ({ob.get('config', '?')}, kernel {ob.get('corename', '?')}); "
          f"torch {info['torch']}")
    peak = info["gemm_peak_gflops"]
    print(f"GEMM peak (2048^3, same dtype): numpy {peak['numpy']:.0f} GFLOP/s, "
          f"torch {peak['torch']:.0f} GFLOP/s; load average {info['loadavg_1min']:.1f} "
          "(other jobs on the machine inflate every time)")
    print(f"{'case':<28}{'minigrok ms':>12}{'torch ms':>10}{'ratio':>7}{'GFLOP':>8}"
          f"{'mg GF/s':>9}{'torch GF/s':>11}{'mg %peak':>9}")
    for r in results:
        print(f"{r['case']:<28}{r['minigrok_ms']:>12.2f}{r['torch_ms']:>10.2f}{r['ratio']:>7.2f}"
              f"{r['gflop']:>8.3f}{r['minigrok_gflops']:>9.0f}{r['torch_gflops']:>11.0f}"
              f"{100 * r['minigrok_peak_frac']:>8.0f}%")


def main(argv=None):
    args = parse_args(argv)
    if "numpy" in sys.modules:  # imported already (e.g. in-process): set OpenBLAS directly
        blas.set_openblas_threads(args.threads)
    else:
        blas.request_threads(args.threads)
    try:
        import torch
    except ImportError:
        print("bench: PyTorch is not installed; `pip install torch` to compare", file=sys.stderr)
        return 2
    info, results = run(args)
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print_table(info, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
