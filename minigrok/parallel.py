"""Where the units of a sweep run: one concurrent.futures.Executor seam.

A unit is one run of the store, described by what runs.plan needs (its settings, theta_0
and mask) and its folder. A worker plans and trains it (runs.train_runs) and returns a
line of numbers; the caller then reads the result back from the store. So a unit is
idempotent: a finished one is reused, an interrupted one continues from its last
checkpoint, wherever and in whatever order it runs, and its numbers do not depend on
that (every worker uses one BLAS thread, as the command line does: threads.py).

    executor(workers, scheduler)   this process (workers 1), a pool of local processes,
                                   or a Dask cluster (cluster.py)
    run_units(pool, units)         submit every unit, a line and a bar as each finishes

This module imports no NumPy at its top, so a worker process can pin its BLAS threads
before any numerical work (start_worker).
"""
import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import threading
import time

from . import threads
from .errors import MinigrokError
from .fmt import fmt_acc, fmt_epoch
from .progress import progress_end, progress_start, progress_update


def default_workers():
    """The number of cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class InlineExecutor(concurrent.futures.Executor):
    """An Executor that runs each call at once, in this process (--workers 1)."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future


def start_worker(n_threads=threads.DEFAULT_THREADS):
    """A worker process's first call: its BLAS gets n_threads threads (the environment
    for what it starts, the loaded OpenBLAS at run time)."""
    threads.request_threads(n_threads)
    threads.set_blas_threads(n_threads)


def start_pool_worker():
    """A pool worker's first call: start_worker, and end the worker once the process that
    started the pool is gone (killed: a ProcessPoolExecutor's workers would wait for work
    forever). A unit it was training continues from its last checkpoint on the next run."""
    start_worker()
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="minigrok-parent-watch", daemon=True).start()


@contextlib.contextmanager
def executor(workers=1, scheduler=None):
    """The executor units are submitted to: workers == 1 runs them here; workers > 1 in
    that many local processes (spawned, one BLAS thread each); scheduler (a Dask
    address, tcp://HOST:8786) on a Dask cluster."""
    if scheduler is not None:
        from .cluster import dask_executor  # Dask is imported only when asked for
        with dask_executor(scheduler) as pool:
            yield pool
        return
    if not (isinstance(workers, int) and workers >= 1):
        raise MinigrokError(f"workers = {workers!r} is not allowed: give an integer >= 1")
    if workers == 1:
        yield InlineExecutor()
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked BLAS state
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                initializer=start_pool_worker) as pool:
        yield pool


def train_unit(unit, overlap_eval=False):
    """Plan and train one unit into its folder, with one BLAS thread (in a worker, or in
    this process); returns a line of its numbers. overlap_eval: may its test evaluation
    take a second process (evaluator.py)? Not in a pool's workers, which fill the cores."""
    start_worker()
    from .runs import plan, train_runs
    spec = plan(unit["cfg"], params0=unit.get("params0"), masks=unit.get("masks"))
    result = train_runs([{"spec": spec, "dir": unit["dir"]}], label=unit["label"], quiet=True,
                        overlap_eval=overlap_eval)[0]
    s = result["summary"]
    return (f"t_mem {fmt_epoch(s['t_mem'])}, t_gen {fmt_epoch(s['t_gen'])}, "
            f"final test {fmt_acc(s['final']['test_acc'])}")


def run_units(pool, units, label="units", quiet=False):
    """Submit train_unit(u) for every unit to pool and wait for all of them: a line per
    finished unit and a bar of units done with an ETA on stderr. A unit that fails is
    reported once all the others have finished (their results are kept)."""
    if not units:
        return
    bar = progress_start(label, 0, len(units), every=1, enabled=not quiet, unit="unit")
    futures = {pool.submit(train_unit, u, isinstance(pool, InlineExecutor)): u for u in units}
    failures, done = [], 0
    t0 = time.perf_counter()
    for future in concurrent.futures.as_completed(futures):
        unit, done = futures[future], done + 1
        try:
            line = future.result()
        except MinigrokError as exc:
            failures.append(str(exc))
            line = "failed"
        except concurrent.futures.process.BrokenProcessPool:
            raise MinigrokError("a worker process died (killed, or out of memory); the units "
                                "it finished are kept: run the same command again") from None
        if not quiet:
            print(f"[minigrok] {done}/{len(units)} {unit['label']}: {line} "
                  f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
        progress_update(bar, done)
    progress_end(bar)
    if failures:
        raise MinigrokError(failures[0] + (f" ({len(failures) - 1} more units failed)"
                                           if len(failures) > 1 else ""))
