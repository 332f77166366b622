"""Thread counts and BLAS facts for the benchmarks, without threadpoolctl.

Threads. NumPy's OpenBLAS reads OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) once, when
NumPy is imported, so `request_threads(n)` must run before the first `import numpy`;
bench.py calls it at the top of the file. For a NumPy imported earlier (as under
`minigrok bench` inside a test), `set_openblas_threads(n)` changes the count at run time
through OpenBLAS's own C API, the call threadpoolctl makes. torch has its own OpenMP/MKL
pool: torch.set_num_threads(n). JAX (XLA) reads XLA_FLAGS when it starts:
`request_jax_threads(n)` before `import jax`.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, force OpenBLAS's kernel choice (see
benchmarks/RESULTS.md); `openblas_info()` reports the kernel actually used.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from minigrok.threads import THREAD_VARIABLES, request_threads  # noqa: E402,F401  (no NumPy)
from minigrok.threads import blas_info, set_blas_threads  # noqa: E402


def request_jax_threads(n):
    """Ask XLA's CPU backend for n threads (read when JAX starts: call before importing jax).
    One thread: Eigen's thread pool off and one intra-op thread, the usual recipe. More:
    XLA's default, one thread per core this process may use (so n = the core count)."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith(("--xla_cpu_multi_thread_eigen", "intra_op_parallelism_threads"))]
    if n == 1:
        flags = ["--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1", *flags]
    if flags:
        os.environ["XLA_FLAGS"] = " ".join(flags)
    else:
        os.environ.pop("XLA_FLAGS", None)


def set_openblas_threads(n):
    """Set NumPy's OpenBLAS thread count at run time; False when no OpenBLAS is found."""
    return set_blas_threads(n)


def openblas_info():
    """minigrok.threads.blas_info plus the environment that forces OpenBLAS's kernel."""
    info = blas_info()
    if info:
        info.update(OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE"),
                    OPENBLAS_L2_SIZE=os.environ.get("OPENBLAS_L2_SIZE"))
    return info


def cpu_model():
    """The CPU's model name and the number of CPUs this process may use (provenance.py)."""
    from minigrok.provenance import cpu_model as model_and_cpus
    return model_and_cpus()
