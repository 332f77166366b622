"""The full pruning-rate sweep end to end, on one process, two local workers and a local
Dask cluster of two workers, one after another in one run (issue: sweeps that use every
core).

    python benchmarks/bench_sweep.py [--out DIR] [--rates 0.0,...,0.9] [--seeds 0,1,2]

Each variant runs `minigrok sweep` (the paper's settings: MLP, p = 67, 30k dense epochs,
tickets stopping 1,000 epochs after test accuracy 0.99) into a fresh folder and is timed
as a whole; the script then checks that the three folders hold the same numbers (every
run's metrics.csv byte for byte) and prints the wall times and their ratios, and a JSON
line with them.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sweep(out, extra, rates, seeds):
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "minigrok", "sweep", "--rates", rates, "--seeds", seeds,
                    "--quiet", "--out", out, *extra], check=True, env=env)
    return time.perf_counter() - t0


def metrics_of(out):
    runs = os.path.join(out, "runs")
    return {d: open(os.path.join(runs, d, "metrics.csv")).read() for d in sorted(os.listdir(runs))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/bench_sweep")
    parser.add_argument("--rates", default="0.0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    wall = {"workers 1": sweep(f"{args.out}/w1", ["--workers", "1"], args.rates, args.seeds),
            "workers 2": sweep(f"{args.out}/w2", ["--workers", "2"], args.rates, args.seeds)}
    try:
        from distributed import LocalCluster
    except ImportError:
        print("distributed is not installed: no Dask row", file=sys.stderr)
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            wall["dask 2 workers"] = sweep(f"{args.out}/dask", ["--scheduler", c.scheduler_address],
                                           args.rates, args.seeds)
    names = {"workers 1": "w1", "workers 2": "w2", "dask 2 workers": "dask"}
    reference = metrics_of(f"{args.out}/w1")
    same = {k: metrics_of(f"{args.out}/{names[k]}") == reference for k in wall}
    for k, t in wall.items():
        print(f"{k:<16} {t:8.1f} s  {t / wall['workers 1']:.2f}x of one process  "
              f"same numbers as one process: {same[k]}")
    print(json.dumps({"wall_s": wall, "same_numbers": same, "rates": args.rates, "seeds": args.seeds,
                      "cpus": len(os.sched_getaffinity(0))}))


if __name__ == "__main__":
    main()
