"""Dtypes of the array API standard and their promotion rules (Python scalars included).

lazyarr's dtype objects are NumPy dtype instances (``xp.float32 == np.float32`` holds), so
results hand over to NumPy code unchanged. Promotion follows the standard's table; for mixed
kinds the standard leaves open (integer with floating point), lazyarr follows NumPy 2.
"""

from __future__ import annotations

import numpy as np

from ..graph.userline import where

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32,
                                                       np.uint64))
float32, float64 = np.dtype(np.float32), np.dtype(np.float64)
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

ALL_DTYPES = (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
              float32, float64, complex64, complex128)
_SUPPORTED = frozenset(ALL_DTYPES)

default_float = float64
default_int = int64
default_complex = complex128
default_index = int64

_KINDS = {
    "bool": frozenset("b"),
    "signed integer": frozenset("i"),
    "unsigned integer": frozenset("u"),
    "integral": frozenset("iu"),
    "real floating": frozenset("f"),
    "complex floating": frozenset("c"),
    "numeric": frozenset("iufc"),
}


def as_dtype(dtype, argname: str = "dtype") -> np.dtype:
    """Normalize a user's dtype argument to one of the standard's dtypes (TypeError if not)."""
    if dtype is None:
        raise TypeError(f"{argname} must be a dtype, not None ({where()})")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{argname}={dtype!r} is not a dtype ({where()})") from None
    if dt not in _SUPPORTED:
        raise TypeError(f"{argname}={dt} is not one of the array API dtypes ({where()})")
    return dt


def isdtype(dtype, kind) -> bool:
    """The standard's ``isdtype``: does ``dtype`` belong to ``kind`` (a name, a dtype or a
    tuple of them)?"""
    dtype = as_dtype(dtype)
    if isinstance(kind, tuple):
        return any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        try:
            return dtype.kind in _KINDS[kind]
        except KeyError:
            raise ValueError(f"isdtype: unknown kind {kind!r} ({where()})") from None
    return dtype == as_dtype(kind, "kind")


_promote_cache: dict[tuple[np.dtype, np.dtype], np.dtype] = {}


def promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """Result dtype of combining arrays of dtypes ``a`` and ``b``."""
    if a is b or a == b:
        return a
    try:
        return _promote_cache[(a, b)]
    except KeyError:
        pass
    r = np.result_type(a, b)
    if r not in _SUPPORTED:  # e.g. NumPy never does this, but keep the guarantee
        raise TypeError(f"no common dtype for {a} and {b}")
    _promote_cache[(a, b)] = r
    return r


def scalar_dtype(value, other: np.dtype) -> np.dtype:
    """Dtype a Python scalar takes when combined with an array of dtype ``other``."""
    k = other.kind
    if isinstance(value, bool):
        return other
    if isinstance(value, int):
        if k in "iu":
            info = np.iinfo(other)
            if not info.min <= value <= info.max:
                raise OverflowError(
                    f"Python integer {value} out of bounds for {other} ({where()})")
            return other
        return default_int if k == "b" else other
    if isinstance(value, float):
        return other if k in "fc" else default_float
    if isinstance(value, complex):
        if k == "c":
            return other
        if k == "f":
            return complex64 if other == float32 else complex128
        return default_complex
    raise TypeError(f"unsupported scalar type {type(value).__name__} ({where()})")


def python_scalar_default(value) -> np.dtype:
    """Dtype of a Python scalar on its own (``asarray(1.5)``)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return default_int
    if isinstance(value, float):
        return default_float
    if isinstance(value, complex):
        return default_complex
    raise TypeError(f"unsupported scalar type {type(value).__name__} ({where()})")


def real_dtype(dt: np.dtype) -> np.dtype:
    """The real dtype of a complex one (float32 for complex64); other dtypes unchanged."""
    if dt.kind == "c":
        return float32 if dt == complex64 else float64
    return dt


def float_dtype(dt: np.dtype) -> np.dtype:
    """The floating dtype a function of floats computes in: ints and bool use the default."""
    return dt if dt.kind in "fc" else default_float


def can_cast(from_, to) -> bool:
    """The standard's ``can_cast``: whether ``from_`` (a dtype or array) promotes with ``to``
    to ``to`` by the standard's promotion lattice: bool only to bool, integers only to
    integers that hold all their values, real and complex floats to floats as wide (kind
    changes the lattice leaves out are False, as in array_api_strict)."""
    src = getattr(from_, "dtype", from_)
    src, to = as_dtype(src, "from_"), as_dtype(to, "to")
    family = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 2}
    if src == to:
        return True
    if family[src.kind] != family[to.kind] or src.kind == "b":
        return False
    return np.can_cast(src, to, casting="safe")


def casts_safely(from_: np.dtype, to: np.dtype) -> bool:
    """NumPy's ``safe`` casting (bool and integers also to floats that hold their values):
    which arrays ``x[key] = value`` converts into ``x``'s dtype."""
    if from_ == to or from_.kind == "b":
        return True
    if to.kind == "b":
        return False
    order = {"i": 1, "u": 1, "f": 2, "c": 3}
    return order[from_.kind] <= order[to.kind] and np.can_cast(from_, to, casting="safe")


def result_type(*arrays_and_dtypes) -> np.dtype:
    """The standard's ``result_type`` over arrays, dtypes and Python scalars."""
    dts = []
    scalars = []
    for x in arrays_and_dtypes:
        if isinstance(x, (bool, int, float, complex)):
            scalars.append(x)
        elif hasattr(x, "dtype") and not isinstance(x, np.dtype):
            dts.append(as_dtype(x.dtype))
        else:
            dts.append(as_dtype(x))
    if not dts:
        if not scalars:
            raise ValueError(f"result_type needs at least one argument ({where()})")
        dt = python_scalar_default(scalars[0])
        scalars = scalars[1:]
    else:
        dt = dts[0]
        for d in dts[1:]:
            dt = promote(dt, d)
    for s in scalars:
        dt = promote(dt, scalar_dtype(s, dt))
    return dt


def finfo(type):  # noqa: A002 - the standard's argument name
    """Machine limits of a floating dtype (or of an array's dtype)."""
    dt = as_dtype(getattr(type, "dtype", type), "type")
    if dt.kind not in "fc":
        raise ValueError(f"finfo needs a floating dtype, got {dt} ({where()})")
    return _FInfo(np.finfo(dt))


class _FInfo:
    """The standard's finfo object: ``bits``, ``eps``, ``max``, ``min``, ``smallest_normal``
    (Python floats, also for float32) and ``dtype``; NumPy's other attributes as NumPy has
    them."""

    def __init__(self, fi: np.finfo):
        self._fi = fi
        self.bits, self.dtype = int(fi.bits), fi.dtype
        self.eps, self.max, self.min = float(fi.eps), float(fi.max), float(fi.min)
        self.smallest_normal = float(fi.smallest_normal)

    def __getattr__(self, name):
        return getattr(self._fi, name)

    def __repr__(self) -> str:
        return repr(self._fi)


def iinfo(type):  # noqa: A002
    """Machine limits of an integer dtype (or of an array's dtype)."""
    dt = as_dtype(getattr(type, "dtype", type), "type")
    if dt.kind not in "iu":
        raise ValueError(f"iinfo needs an integer dtype, got {dt} ({where()})")
    return np.iinfo(dt)
