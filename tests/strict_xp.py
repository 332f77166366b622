"""A strict stand-in for CuPy on the CPU: an array type that, like a GPU array, refuses
every implicit conversion to a NumPy array, and a module with the subset of the NumPy API
that minigrok calls through `xp = array_module(...)`.

    import strict_xp
    W = strict_xp.asarray(numpy_array)     # "host -> device", as cupy.asarray
    W.get()                                # "device -> host", as cupy.ndarray.get

What fails, as on a GPU:
- `np.asarray(W)`, `np.array(W)` and everything that converts: `__array__` raises;
- NumPy functions and ufuncs called on it (`np.exp(W)`, `np.concatenate([W])`,
  `np.zeros(2) + W`): `__array_ufunc__ = None` and an `__array_function__` that answers
  NotImplemented make NumPy raise TypeError instead of converting;
- mixing it with a NumPy array in an operator or an index (`W * mask_on_host`).
Python and NumPy scalars mix freely, and `float()`, `int()`, `bool()` of a one-element
array work (CuPy allows them too, with a device synchronisation).

The module exposes only the names minigrok needs (FUNCTIONS below); anything else raises
AttributeError, so the list is also a record of the API surface a backend must offer.
"""
import sys

import numpy as np

FUNCTIONS = (
    "arange", "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like",
    "add", "subtract", "multiply", "divide", "exp", "log", "sqrt", "abs", "maximum",
    "minimum", "where", "sign", "square",
    "stack", "concatenate", "take_along_axis", "put_along_axis", "einsum", "repeat",
    "matmul", "logical_and", "logical_or", "logical_not", "isfinite", "clip", "argsort",
    "sort", "tril", "triu", "eye", "outer", "flatnonzero", "count_nonzero", "broadcast_to",
)
CONSTANTS = ("float16", "float32", "float64", "int32", "int64", "bool_", "inf", "nan",
             "newaxis", "pi", "e", "dtype", "finfo", "iinfo")
METHODS = ("reshape", "swapaxes", "transpose", "astype", "sum", "mean", "max", "min",
           "argmax", "argmin", "any", "all", "copy", "ravel", "flatten", "cumsum", "prod",
           "clip", "round", "fill", "squeeze", "std", "var")


class StrictArray:
    """A NumPy array behind a wall: operators and methods return StrictArrays; nothing
    converts implicitly to NumPy. `.get()` is the explicit copy to the host."""

    __array_ufunc__ = None  # NumPy ufuncs and numpy-array operators raise TypeError
    __hash__ = None

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"StrictArray wraps a numpy.ndarray, not {type(data).__name__}")
        self._data = data

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a strict (device) array to a NumPy array; "
                        "use minigrok.backend.to_numpy (or .get()) to copy it to the host")

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented  # NumPy raises "no implementation found for numpy.<func>"

    def __array_namespace__(self, api_version=None):
        return sys.modules[__name__]

    def get(self):
        """The explicit device -> host copy, as cupy.ndarray.get()."""
        return self._data.copy()

    # -- attributes ---------------------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    dtype = property(lambda self: self._data.dtype)
    nbytes = property(lambda self: self._data.nbytes)
    T = property(lambda self: StrictArray(self._data.T))

    def __getattr__(self, name):
        if name in METHODS:
            method = getattr(self._data, name)
            return lambda *args, **kwargs: _wrap(method(*_unwrap(args), **_unwrap(kwargs)))
        raise AttributeError(f"StrictArray has no attribute {name!r} (not in strict_xp.METHODS)")

    # -- scalars and containers -----------------------------------------------------------
    def __float__(self):
        return float(self._data.item())

    def __int__(self):
        return int(self._data.item())

    def __bool__(self):
        return bool(self._data.item())

    def item(self):
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (StrictArray(np.asarray(row)) for row in self._data)

    def __repr__(self):
        return f"StrictArray({self._data!r})"

    def __getitem__(self, key):
        return _wrap(self._data[_unwrap_index(key)])

    def __setitem__(self, key, value):
        self._data[_unwrap_index(key)] = _unwrap(value)


def _binary(op, reflected=False):
    def method(self, other):
        other = _unwrap(other)
        a, b = (other, self._data) if reflected else (self._data, other)
        return _wrap(op(a, b))
    return method


def _inplace(op):
    def method(self, other):
        op(self._data, _unwrap(other), out=self._data)
        return self
    return method


for _name, _op in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                   "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power, "matmul": np.matmul,
                   "and": np.logical_and, "or": np.logical_or}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_op))
    setattr(StrictArray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(StrictArray, f"__i{_name}__", _inplace(_op))
for _name, _op in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                   "gt": np.greater, "ge": np.greater_equal}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_op))
StrictArray.__neg__ = lambda self: StrictArray(-self._data)
StrictArray.__pos__ = lambda self: self
StrictArray.__abs__ = lambda self: StrictArray(np.abs(self._data))
StrictArray.__invert__ = lambda self: StrictArray(~self._data)


def _unwrap(x):
    """StrictArray -> its NumPy array; Python/NumPy scalars pass; a NumPy array is refused."""
    if isinstance(x, StrictArray):
        return x._data
    if isinstance(x, np.ndarray):
        raise TypeError("a NumPy array was mixed with a strict (device) array; move it first "
                        "with xp.asarray / minigrok.backend.to_device")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _unwrap_index(key):
    if isinstance(key, tuple):
        return tuple(_unwrap_index(k) for k in key)
    if isinstance(key, list):
        raise TypeError("index with a list: use an array on the same backend")
    return _unwrap(key)


def _wrap(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return StrictArray(np.asarray(x))  # a 0-d result stays an array, as in CuPy
    if isinstance(x, (list, tuple)):
        return type(x)(_wrap(v) for v in x)
    return x


def asarray(a, dtype=None):
    """Host -> device: NumPy arrays, Python scalars and lists become StrictArrays."""
    if isinstance(a, StrictArray):
        return a if dtype is None else a.astype(dtype)
    return StrictArray(np.array(a, dtype=dtype))


array = asarray


def _function(name):
    func = getattr(np, name)

    def wrapper(*args, **kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))
    wrapper.__name__ = name
    return wrapper


def __getattr__(name):
    if name in FUNCTIONS:
        return _function(name)
    if name in CONSTANTS:
        return getattr(np, name)
    raise AttributeError(f"strict_xp has no {name!r}: minigrok called a function outside the "
                         "subset a backend must offer (add it to FUNCTIONS if CuPy has it)")
