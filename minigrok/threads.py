"""How many threads the BLAS under NumPy uses, without importing NumPy.

Float32 sums are split differently across BLAS threads, and grokking amplifies the
rounding: the same seed gave dense t_gen(0.99) 8,080 with OpenBLAS on 2 threads and
8,515 on 1. So minigrok pins the BLAS to one thread by default (the command line's
--blas-threads, worker processes of a sweep), and a seed gives the same bits on any core
count; one thread is as fast at these sizes.

    request_threads(n)   through the environment: for a process that has not yet
                         imported NumPy (and for the processes it starts)
    set_blas_threads(n)  at run time, through the loaded OpenBLAS's own C API (the call
                         threadpoolctl makes); False when no OpenBLAS is loaded
    blas_info()          library, build, kernel and thread count, for summary.json
"""
import ctypes
import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_THREADS = 1


def request_threads(n):
    """Ask every BLAS for n threads through the environment (read when NumPy is imported)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def _openblas():
    """(library, symbol prefix, symbol suffix, path) of the OpenBLAS this process has
    loaded, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""),
                               ("openblas_", "64_"), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, prefix, suffix, path
    return None


def set_blas_threads(n):
    """Set the loaded OpenBLAS's thread count now; False when none is loaded."""
    found = _openblas()
    if found is None:
        return False
    lib, prefix, suffix, _ = found
    getattr(lib, f"{prefix}set_num_threads{suffix}")(int(n))
    return True


def blas_info():
    """{'library', 'config', 'corename', 'threads'} of the loaded OpenBLAS ({} if none)."""
    found = _openblas()
    if found is None:
        return {}
    lib, prefix, suffix, path = found
    for name in ("get_config", "get_corename"):
        getattr(lib, f"{prefix}{name}{suffix}").restype = ctypes.c_char_p
    return {"library": os.path.basename(path),
            "config": getattr(lib, f"{prefix}get_config{suffix}")().decode().strip(),
            "corename": getattr(lib, f"{prefix}get_corename{suffix}")().decode(),
            "threads": getattr(lib, f"{prefix}get_num_threads{suffix}")()}
