"""The training loop's test evaluation: in this process, or in a second process that
measures the parameters of epoch n while this one takes epoch n's step.

Each logged epoch the loop measures the test loss and accuracy of the parameters before
that epoch's step (train.py). In one process the evaluation and the step take turns on
one core: for the Transformer at p = 67 on the all split the evaluation is about a third
of an epoch, most of it the float64 exp of the cross-entropy on 2,694 x 67 logits. The
step does not need it, so a second process can evaluate a copy of the parameters (handed
over through shared memory) on a second core while this one computes the step. It runs
the same function (train.evaluate) on the same arrays with one BLAS thread, so the
numbers are the same bits (tests/test_evaluator.py).

    evaluator = open_evaluator(model, params, x, y, objective, n_evals, allowed)
    evaluator.submit(params)   hand over the parameters before the step (in this
                               process: measured at once, before the step changes them)
    evaluator.result()         (loss, accuracy) of the parameters last submitted
    evaluator.keep(runs)       a stacked loop's runs still training (positions in the stack)
    evaluator.close()

The second process is started (overlap_wanted) when MINIGROK_EVAL_PROCESS is
    off    never
    on     whenever it can serve the run: a model of models.MODELS on NumPy arrays (not a
           closure-built model such as edge-popup's, nor CuPy), on a POSIX system, with
           one BLAS thread here as there (--blas-threads 2 rounds otherwise)
    auto   (or unset) when it can, the caller allows it (not in a sweep's worker
           processes, which fill the cores already), this process may use two cores or
           more, and the loop has MIN_EVALS evaluations left.
It starts in the background: until it is ready (its imports, ~1 s), the loop evaluates
here, and on auto it is stopped once ready if an evaluation here took under MIN_SECONDS
(a small model: the hand-over, ~0.5 ms, would cost what it saves). If it dies, the loop
evaluates the parameters handed over itself and goes on without it.
"""
import math
import mmap
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection

import numpy as np

from . import threads
from .backend import array_module, keep_freed_memory
from .errors import MinigrokError
from .models import MODELS

THIS_FILE = os.path.realpath(__file__)  # the process must run this very code
PACKAGE_ROOT = os.path.dirname(os.path.dirname(THIS_FILE))  # the folder holding minigrok/
MIN_EVALS = 500  # evaluations left in the loop
MIN_SECONDS = 1e-3  # one evaluation here
ENV = "MINIGROK_EVAL_PROCESS"
CHOICES = ("auto", "on", "off")
READY = b"ready " + THIS_FILE.encode()  # names the code the process runs: the caller's, or it is not used
EVALUATE, RESULT, FAILED = b"e", b"=", b"!"  # the process's other short messages


def setting():
    """MINIGROK_EVAL_PROCESS: auto (also when unset or empty), on or off."""
    given = os.environ.get(ENV, "")
    choice = given.strip().lower() or "auto"
    if choice not in CHOICES:
        raise MinigrokError(f"{ENV}={given!r} is not allowed: give {', '.join(CHOICES)}")
    return choice


def overlap_wanted(model, x, n_evals, allowed=True):
    """Whether to start the evaluation process (see the module docstring)."""
    choice = setting()
    possible = (os.name == "posix" and array_module(x).__name__ == "numpy"
                and any(model is m for m in MODELS.values())
                and threads.blas_info().get("threads", 1) == threads.DEFAULT_THREADS)  # the process's count
    if choice != "auto":
        return possible and choice == "on"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return possible and allowed and cores >= 2 and n_evals >= MIN_EVALS


def open_evaluator(model, params, x, y, objective, n_evals, allowed=True):
    """An Overlapped evaluator when overlap_wanted (on auto, kept only for evaluations of
    MIN_SECONDS or more), else an InProcess one."""
    if overlap_wanted(model, x, n_evals, allowed):
        try:
            return Overlapped(model, params, x, y, objective, min_seconds=MIN_SECONDS if setting() == "auto" else 0.0)
        except OSError:  # no process or shared memory to be had (limits): evaluate here
            pass
    return InProcess(model, x, y, objective)


class InProcess:
    """Evaluates at submit, in this process."""

    def __init__(self, model, x, y, objective):
        self.model, self.x, self.y, self.objective = model, x, y, objective
        self.measured = None

    def submit(self, params):
        from .train import evaluate
        self.measured = evaluate(self.model, params, self.x, self.y, self.objective)

    def result(self):
        return self.measured

    def keep(self, runs):
        from .train import take_runs
        self.x, self.y = take_runs(self.x, runs), take_runs(self.y, runs)

    def close(self):
        pass


class Overlapped(InProcess):
    """Evaluates in a second Python process (serve() below, started from PACKAGE_ROOT) while the
    caller takes its step: the parameters go through a shared memory buffer, the messages
    through a socket pair (serve() below has the protocol). Evaluates here until that
    process is ready, and for good if it fails; stops it once ready if an evaluation here
    took less than min_seconds (a small model: handing over costs what it saves)."""

    def __init__(self, model, params, x, y, objective, min_seconds=0.0, wait=False):
        super().__init__(model, x, y, objective)
        self.min_seconds, self.seconds_here = min_seconds, []
        size = sum(w.nbytes for w in params.values())  # the most it holds: stacks only shrink
        self.shared = _shared_memory(size)
        ours, theirs = socket.socketpair()
        env = dict(os.environ, **{name: str(threads.DEFAULT_THREADS) for name in threads.THREAD_VARIABLES})
        fds = (theirs.fileno(), self.shared.fileno())
        # this very minigrok first on the path (not one in the working directory, where -m
        # and -c would look first), in a session of its own (a Ctrl-C is the caller's)
        start = (f"import sys; sys.path[0] = {PACKAGE_ROOT!r}; from minigrok.evaluator import serve; "
                 f"serve({fds[0]}, {fds[1]})")
        self.process = subprocess.Popen([sys.executable, "-c", start], pass_fds=fds, env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.buffer = mmap.mmap(self.shared.fileno(), size)
        self.layout, self.views = None, None  # where the parameters lie in the buffer
        self.ready, self.handed_over = False, False
        self.remote = 0  # evaluations made by the process
        name = next(n for n, m in MODELS.items() if m is model)
        if not self._send(pickle.dumps(("start", (name, size, x, y, objective)))):
            self._stop()
        elif wait:  # start synchronously: the process evaluates from the first submit
            self.ready = self._receive() == READY

    def submit(self, params):
        if not self.ready and self.process is not None and self.conn.poll():
            self.ready = (self._receive() == READY  # it runs this very code
                          and min(self.seconds_here, default=1e9) >= self.min_seconds)
            if not self.ready:
                self._stop()
        if not self.ready:
            t0 = time.perf_counter()
            super().submit(params)
            self.seconds_here.append(time.perf_counter() - t0)
            return
        layout = _layout(params)
        if layout != self.layout:  # the first time, and after runs left the stack
            self.layout, self.views = layout, _views(layout, self.buffer)
            if not self._send(pickle.dumps(("layout", layout))):
                return self._fall_back(params)
        for name, w in params.items():
            np.copyto(self.views[name], w)
        self.handed_over = self._send(EVALUATE)
        if not self.handed_over:
            self._fall_back()

    def result(self):
        if not self.handed_over:
            return self.measured
        self.handed_over = False
        answer = self._receive()
        if not (answer and answer[:1] == RESULT):
            self._fall_back()
            return self.measured
        self.remote += 1
        values = np.frombuffer(answer, dtype=np.float64, offset=1)  # loss of each run, then accuracy
        return values[:len(values) // 2], values[len(values) // 2:]

    def keep(self, runs):
        super().keep(runs)
        if self.process is not None and not self._send(pickle.dumps(("keep", list(runs)))):
            self._stop()

    def close(self):
        self._stop()
        self.views = None
        self.buffer.close()
        self.shared.close()

    def _send(self, message):
        try:
            self.conn.send_bytes(message)
            return True
        except (OSError, ValueError):  # the process is gone
            return False

    def _receive(self):
        try:
            return self.conn.recv_bytes()
        except (OSError, EOFError):
            return None

    def _fall_back(self, params=None):
        """Evaluate here what was handed over (or params), and go on without the process."""
        self._stop()
        print("[minigrok] the evaluation process failed or ended; evaluating in this process",
              file=sys.stderr, flush=True)
        InProcess.submit(self, params if params is not None else self.views)

    def _stop(self):
        ready, self.ready = self.ready, False
        if self.process is None:
            return
        self.conn.close()  # the process sees the end of its input and exits
        try:
            self.process.wait(timeout=5 if ready else 0)  # not ready: still importing
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _shared_memory(size):
    """An open file of `size` bytes that no other process can find: memory two processes
    can map (an anonymous memfd on Linux, else an unlinked temporary file)."""
    if hasattr(os, "memfd_create"):
        shared = open(os.memfd_create("minigrok-evaluator"), "w+b")
    else:
        shared = tempfile.TemporaryFile()
    shared.truncate(max(size, 1))
    return shared


def _layout(arrays):
    """Where a dict of arrays lies in the shared buffer, one after the other:
    [(name, shape, dtype, offset)]."""
    layout, offset = [], 0
    for name, w in arrays.items():
        layout.append((name, w.shape, w.dtype.str, offset))
        offset += w.nbytes
    return layout


def _views(layout, buffer):
    """The arrays of a layout, as views of buffer."""
    return {name: _view(buffer, shape, dtype, offset) for name, shape, dtype, offset in layout}


def _view(buffer, shape, dtype, offset):
    return np.frombuffer(buffer, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)


def serve(conn_fd, shared):
    """The evaluation process. One BLAS thread; then, on the socket, pickled messages
    ("start", (model name, buffer size, x, y, objective)), ("layout", [(name, shape,
    dtype, offset)]) and ("keep", runs), and EVALUATE: measure the parameters the layout
    finds in the shared buffer and send RESULT + the float64 bytes of each run's loss
    then accuracy (or FAILED + the error). It ends at the end of its input (the caller
    closed it, or is gone). Ctrl-C is the caller's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threads.set_blas_threads(threads.DEFAULT_THREADS)
    keep_freed_memory()
    from .train import evaluate, take_runs
    conn = Connection(conn_fd)
    try:
        _, (model_name, size, x, y, objective) = pickle.loads(conn.recv_bytes())
        model, buffer, params = MODELS[model_name], mmap.mmap(shared, size), None
        conn.send_bytes(READY)
        while True:
            message = conn.recv_bytes()
            if message != EVALUATE:
                kind, body = pickle.loads(message)
                if kind == "layout":
                    params = _views(body, buffer)
                else:  # keep
                    x, y = take_runs(x, body), take_runs(y, body)
                continue
            try:
                loss, acc = evaluate(model, params, x, y, objective)
                answer = RESULT + np.concatenate([np.ravel(loss), np.ravel(acc)]).astype(np.float64).tobytes()
            except Exception as exc:  # the caller evaluates again itself, and reports it
                answer = FAILED + repr(exc).encode()
            conn.send_bytes(answer)
    except (EOFError, OSError):  # the caller closed its end, or is gone
        return
