"""minigrok vs PyTorch and JAX on the CPU, side by side in one process.

    python benchmarks/bench.py                  # table; also `minigrok bench`
    python benchmarks/bench.py --json           # one JSON object per case
    python benchmarks/bench.py --no-compile     # skip torch.compile (it takes ~1 min)
    python benchmarks/bench.py --no-jax         # skip JAX

Cases: the full-batch train step (forward, float64 cross-entropy, backward, AdamW) and
the evaluation pass (loss and accuracy on the test split) of the MLP and the Transformer
at p = 67 (911 train / 1367 test pairs, the paper's settings), float32 by default.
Frameworks: minigrok (its trainer's fast forms), torch eager and torch.compile
(benchmarks/torch_reference.py), jax.jit of the whole step (benchmarks/jax_reference.py);
torch and JAX are each timed when installed.

Fairness: the same thread count for all (default 2: OPENBLAS/OMP/MKL_NUM_THREADS and
XLA_FLAGS are set before NumPy and JAX are imported, torch.set_num_threads for torch),
the same dtype, the same initial parameters; the measurements are interleaved (each
round runs every framework, in alternating order) so that load from other jobs on a
shared machine hits all alike, and each reported number is the median over `--repeats`
rounds of `--inner` calls.
"""
import argparse
import importlib.util
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

OTHERS = ("torch", "compiled", "jax")  # the frameworks minigrok is compared with


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="minigrok bench", description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for every framework (2)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--models", default="mlp,transformer", help="comma-separated (both)")
    ap.add_argument("--repeats", type=int, default=40, help="timed rounds per case (40)")
    ap.add_argument("--inner", type=int, default=5, help="calls per timed round (5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls first (5)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--no-jax", action="store_true", help="skip JAX")
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    ap.add_argument("--record", metavar="FILE.json",
                    help="also write a results record of the table (minigrok/provenance.py)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads {args.threads} is not allowed: give an integer >= 1")
    return args


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
    model, cpus = blas.cpu_model()
    info = {"cpu": model, "cpus_available": cpus, "threads": threads,
            "numpy": numpy.__version__, "openblas": blas.openblas_info(),
            "python": platform.python_version(), "gemm_peak_gflops": peak,
            "loadavg_1min": os.getloadavg()[0]}
    for module in ("torch", "jax"):
        if module in sys.modules:
            info[module] = sys.modules[module].__version__
    return info


def frameworks(args):
    """The other frameworks to time: those asked for whose package is installed."""
    wanted = [f for f in OTHERS if not (f == "compiled" and args.no_compile)
              and not (f == "jax" and args.no_jax)]
    have = {"torch": importlib.util.find_spec("torch") is not None,
            "jax": importlib.util.find_spec("jax") is not None}
    return [f for f in wanted if have["jax" if f == "jax" else "torch"]]


def run(args, others):
    """Time every case; returns (machine dict, list of result dicts)."""
    import cases

    from minigrok.backend import keep_freed_memory
    if "torch" in others or "compiled" in others:
        import torch
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as minigrok's training loop does; the others in this process get it too
    peak = cases.gemm_peak(dtype=args.dtype, with_torch="torch" in others)
    results = []
    for name in args.models.split(","):
        for case, fns, gflop in cases.build(name, args.dtype, others):
            try:
                ms = interleaved_medians(fns, args.repeats, args.inner, args.warmup)
            except Exception as exc:  # noqa: BLE001  torch.compile compiles at the first call
                if "compiled" not in fns:
                    raise
                print(f"note: torch.compile failed on {case} ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200]}); timing without it", file=sys.stderr)
                fns.pop("compiled")
                ms = interleaved_medians(fns, args.repeats, args.inner, args.warmup)
            results.append(row(case, ms, gflop, peak["numpy"], args))
    return machine(args.threads, peak), results


def row(case, ms, gflop, peak, args):
    """One case: each framework's ms, minigrok's ratio to each (ours / theirs: < 1 means
    minigrok is faster), and minigrok's nominal GFLOP/s against the NumPy GEMM peak."""
    out = {"case": case, "minigrok_ms": round(ms["minigrok"], 3)}
    for other in OTHERS:
        if other in ms:
            out[f"{other}_ms"] = round(ms[other], 3)
            out["ratio" if other == "torch" else f"ratio_{other}"] = round(ms["minigrok"] / ms[other], 3)
    rate = gflop / ms["minigrok"] * 1e3
    out.update(gflop=round(gflop, 4), minigrok_gflops=round(rate, 1),
               minigrok_peak_frac=round(rate / peak, 3), peak_gflops=round(peak, 1),
               threads=args.threads, dtype=args.dtype)
    return out


def print_table(info, results):
    print(format_table(info, results))


def format_table(info, results):
    """The table as text: the machine, then one line per case."""
    lines = []
    print = lambda line: lines.append(line)  # noqa: E731  the lines below, collected
    ob = info["openblas"]
    versions = "; ".join(f"{m} {info[m]}" for m in ("torch", "jax") if m in info)
    print(f"{info['cpu']}, {info['cpus_available']} CPUs; {info['threads']} threads; "
          f"numpy {info['numpy']} ({ob.get('config', '?')}, kernel {ob.get('corename', '?')}); "
          f"{versions}")
    print(f"NumPy GEMM peak (2048^3, same dtype) {info['gemm_peak_gflops']['numpy']:.0f} GFLOP/s; "
          f"load average {info['loadavg_1min']:.1f} (other jobs on the machine inflate every time)")
    columns = [(f, label) for f, label in (("torch", "torch"), ("compiled", "compile"), ("jax", "jax"))
               if any(f"{f}_ms" in r for r in results)]
    print(f"{'case':<20}{'minigrok ms':>12}" + "".join(f"{label + ' ms':>12}" for _, label in columns)
          + "".join(f"{'/' + label:>10}" for _, label in columns) + f"{'mg %peak':>9}")
    for r in results:
        ms = "".join(f"{r[f + '_ms']:>12.2f}" if f + "_ms" in r else f"{'-':>12}" for f, _ in columns)
        ratios = "".join(f"{r['ratio' if f == 'torch' else 'ratio_' + f]:>10.2f}" if f + "_ms" in r
                         else f"{'-':>10}" for f, _ in columns)
        print(f"{r['case']:<20}{r['minigrok_ms']:>12.2f}{ms}{ratios}{100 * r['minigrok_peak_frac']:>8.0f}%")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if "numpy" in sys.modules:  # imported already (e.g. in-process): set OpenBLAS directly
        blas.set_openblas_threads(args.threads)
    else:
        blas.request_threads(args.threads)
    if "jax" not in sys.modules:
        blas.request_jax_threads(args.threads)
    others = frameworks(args)
    if not others:
        print("bench: neither PyTorch nor JAX is installed; `pip install -e \".[crosscheck]\"` "
              "to compare", file=sys.stderr)
        return 2
    from minigrok.errors import MinigrokError
    from minigrok.provenance import check_record_path, write_record
    started = None
    if args.record is not None:
        try:
            started = check_record_path(args.record)
        except MinigrokError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
    info, results = run(args, others)
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print_table(info, results)
    if args.record is not None:
        argv = sys.argv[1:] if argv is None else list(argv)
        write_record(args.record, argv, format_table(info, results), args.models.split(","),
                     program="python benchmarks/bench.py", started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
