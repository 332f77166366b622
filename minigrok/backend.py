"""The array backend: NumPy on the CPU, or CuPy on an NVIDIA GPU.

One switch chooses where parameters and data live: `set_backend("cupy")`, the CLI flag
`--backend cupy`, or the environment variable `MINIGROK_BACKEND=cupy`. Everything else
follows the arrays it is given: layers, losses and the optimiser ask `array_module(x)`
which module their inputs belong to, so no function reads a hidden global.

Random numbers are always drawn on the host with a `numpy.random.Generator` and then
moved with `to_device`, so a CPU run and a GPU run from the same seed start identical.
"""
import ctypes
import ctypes.util
import os

import numpy

from .errors import MinigrokError

BACKENDS = ("numpy", "cupy")
_current = {"name": None, "module": None}


def _import_cupy():
    try:
        import cupy
    except ImportError as exc:  # the user asked for a GPU run without CuPy
        raise MinigrokError(
            f"backend 'cupy' was requested but CuPy cannot be imported ({exc}); "
            "install it with `pip install -e \".[gpu]\"` or use --backend numpy"
        ) from None
    return cupy


def set_backend(name):
    """Select the array module for new parameters and data: 'numpy' or 'cupy'."""
    if name not in BACKENDS:
        raise MinigrokError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
    module = numpy if name == "numpy" else _import_cupy()
    _current.update(name=name, module=module)
    return module


def backend_name():
    """Name of the selected backend ('numpy' unless set or MINIGROK_BACKEND says otherwise)."""
    if _current["name"] is None:
        set_backend(env_backend())
    return _current["name"]


def env_backend():
    """The backend MINIGROK_BACKEND names (numpy when unset or empty); a one-line refusal
    naming the variable for anything else."""
    name = os.environ.get("MINIGROK_BACKEND", "") or "numpy"
    if name not in BACKENDS:
        raise MinigrokError(f"MINIGROK_BACKEND={name!r} is not allowed: give {', '.join(BACKENDS)}")
    return name


def get_xp():
    """The selected array module (numpy or cupy)."""
    backend_name()
    return _current["module"]


def array_module(*arrays):
    """The module the given arrays belong to: cupy if any is a CuPy array, else numpy."""
    for a in arrays:
        module = type(a).__module__
        if module.startswith("cupy"):
            return _import_cupy()
        xp_of = getattr(a, "__array_namespace__", None)
        if xp_of is not None and not module.startswith("numpy"):
            return xp_of()  # a strict stand-in module used by the tests, or another array API
    return numpy


def to_device(a, xp=None):
    """Copy a host (NumPy) array onto the selected backend."""
    xp = xp or get_xp()
    return xp.asarray(a)


def to_numpy(a):
    """Copy an array of any backend to a NumPy array on the host."""
    if isinstance(a, numpy.ndarray):
        return a
    if hasattr(a, "get"):  # cupy.ndarray
        return a.get()
    return numpy.asarray(a)


def to_float(a):
    """A Python float from a 0-d array of any backend."""
    return float(to_numpy(a))


def keep_freed_memory(max_bytes=1 << 30):
    """Ask glibc's malloc to keep up to max_bytes of freed memory for reuse (process-wide).

    NumPy allocates fresh arrays for every temporary of every step. By default glibc hands
    large freed blocks back to the OS (munmap, heap trimming), so the next step pays page
    faults to get them again: a Transformer step at p = 67 ran ~1.4x slower for it. This
    keeps blocks up to 32 MiB on the heap and stops trimming it. A no-op (returns False)
    where there is no glibc mallopt; results are unchanged either way.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, max_bytes))
