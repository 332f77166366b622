"""Thread counts and BLAS facts for the benchmarks, without threadpoolctl.

Threads. NumPy's OpenBLAS reads OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) once, when
NumPy is imported, so `request_threads(n)` must run before the first `import numpy`;
bench.py calls it at the top of the file. For a NumPy imported earlier (as under
`minigrok bench` inside a test), `set_openblas_threads(n)` changes the count at run time
through OpenBLAS's own C API, the call threadpoolctl makes. torch has its own OpenMP/MKL
pool: torch.set_num_threads(n).

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, force OpenBLAS's kernel choice (see
benchmarks/RESULTS.md); `openblas_info()` reports the kernel actually used.
"""
import ctypes
import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def request_threads(n):
    """Ask every BLAS for n threads through the environment (before numpy is imported)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def _openblas_library():
    """The OpenBLAS shared library loaded by NumPy, with its symbol prefix and suffix."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""),
                               ("openblas_", "64_"), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, prefix, suffix, path
    return None


def set_openblas_threads(n):
    """Set NumPy's OpenBLAS thread count at run time; False when no OpenBLAS is found."""
    found = _openblas_library()
    if found is None:
        return False
    lib, prefix, suffix, _ = found
    getattr(lib, f"{prefix}set_num_threads{suffix}")(int(n))
    return True


def openblas_info():
    """{'library', 'config', 'corename', 'threads'} of NumPy's OpenBLAS ({} if none)."""
    found = _openblas_library()
    if found is None:
        return {}
    lib, prefix, suffix, path = found
    for name in ("get_config", "get_corename"):
        getattr(lib, f"{prefix}{name}{suffix}").restype = ctypes.c_char_p
    return {"library": os.path.basename(path),
            "config": getattr(lib, f"{prefix}get_config{suffix}")().decode().strip(),
            "corename": getattr(lib, f"{prefix}get_corename{suffix}")().decode(),
            "threads": getattr(lib, f"{prefix}get_num_threads{suffix}")(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, and the number of CPUs this process may use."""
    name = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return name, len(os.sched_getaffinity(0))
