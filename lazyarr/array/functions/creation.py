"""Creation functions of the standard. None of them computes before a value is read, except
``asarray`` of existing data (which aliases it when no copy is asked for)."""

from __future__ import annotations

import math
import operator

import numpy as np

from ...graph.basic import Var
from ...graph.userline import where
from .. import dtypes as D
from .._front import NestedArray, shape_node
from ..coerce import (
    Array,
    as_var,
    build,
    cast,
    const,
    leaf_from_numpy,
    nested_var,
    own,
    scalar_data,
    sequence_array,
    snapshot,
    wrap,
)
from ..device import as_device
from ..ops.axes import int_arg
from ..ops.creation import Alloc, Arange, Eye, Linspace
from ..ops.shape import Tri

__all__ = ["asarray", "arange", "empty", "empty_like", "eye", "from_dlpack", "full",
           "full_like", "linspace", "meshgrid", "ones", "ones_like", "tril", "triu", "zeros",
           "zeros_like"]

_SCALARS = (bool, int, float, complex)


def _shape_arg(shape, fname: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) or hasattr(shape, "__index__") and not isinstance(
            shape, (tuple, list)):
        shape = (shape,)
    try:
        out = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{fname}(): shape must be an int or a tuple of ints, not {shape!r} "
                        f"({where()})") from None
    if any(s < 0 for s in out):
        raise ValueError(f"{fname}(): negative dimensions are not allowed: {out} ({where()})")
    return out


def asarray(obj, /, *, dtype=None, device=None, copy: bool | None = None) -> Array:
    """An array from ``obj`` (an Array, a NumPy array, a buffer, a DLPack object, a Python
    scalar or nested sequence). With ``copy=None`` or ``False`` existing NumPy data is aliased,
    so later mutations of it are seen by computations not yet run; ``copy=True`` snapshots it.
    ``copy=False`` raises ValueError when a conversion would need a copy."""
    as_device(device)
    dt = None if dtype is None else D.as_dtype(dtype)
    if isinstance(obj, Array):
        if dt is not None and dt != obj.dtype:
            if copy is False:
                raise ValueError(f"asarray(copy=False): converting {obj.dtype} to {dt} needs a "
                                 f"copy ({where()})")
            return wrap(cast(obj._v, dt))
        # copy=None/False: the array itself, so writes through either name are seen by both
        # (NumPy's aliasing); copy=True: a new array on the same (immutable) value, or on a
        # copy where the leaf aliases a user's NumPy data (the copy must not see later writes)
        return wrap(snapshot(obj._v)) if copy else obj
    if isinstance(obj, _SCALARS):
        if copy is False:
            raise ValueError(f"asarray(copy=False): a Python {type(obj).__name__} needs a copy "
                             f"into a new buffer ({where()})")
        d = dt or _scalar_dtype(obj)
        if isinstance(obj, complex) and d.kind != "c" or isinstance(obj, float) and d.kind in "iub":
            raise TypeError(f"asarray(): cannot represent {obj!r} as {d} ({where()})")
        return wrap(Var.leaf(own(scalar_data(obj, d))))
    if not isinstance(obj, np.ndarray) and hasattr(obj, "__dlpack__") and not hasattr(
            obj, "__array__"):
        obj = np.from_dlpack(obj)
    if isinstance(obj, (np.ndarray, np.generic)):
        # a NumPy scalar becomes a new 0-d array nobody else holds: lazyarr's own
        arr = own(np.asarray(obj)) if isinstance(obj, np.generic) else np.asarray(obj)
        if dt is not None and arr.dtype != dt:
            if copy is False:
                raise ValueError(f"asarray(copy=False): converting {arr.dtype} to {dt} needs a "
                                 f"copy ({where()})")
            arr = own(arr.astype(dt))
        elif copy:
            arr = own(arr.copy())
        return wrap(leaf_from_numpy(arr))
    if copy is False and not hasattr(obj, "__buffer__") and not isinstance(obj, memoryview):
        raise ValueError(f"asarray(copy=False): a {type(obj).__name__} cannot be used without a "
                         f"copy ({where()})")
    try:
        arr = _from_sequence(obj, dt)
    except NestedArray:  # a list holding Arrays: stacked, no value is read
        return wrap(nested_var(obj, dt))
    if isinstance(obj, (list, tuple, range)):  # data NumPy made for us (a buffer's is not)
        arr = own(arr)
    return wrap(leaf_from_numpy(arr))


def _scalar_dtype(x) -> np.dtype:
    """The dtype of ``asarray(x)`` for a Python scalar: NumPy's, uint64 for an int above
    int64; OverflowError for an int that no integer dtype holds."""
    if type(x) is int and not -(2**63) <= x < 2**63:
        _check_int_range((x,))
        return D.uint64
    return D.python_scalar_default(x)


def _check_int_range(values) -> None:
    """OverflowError for the first Python int of ``values`` outside [-2**63, 2**64)."""
    for x in values:
        if type(x) is int and not -(2**63) <= x < 2**64:
            raise OverflowError(f"asarray(): the Python int {x} is out of the range of every "
                                f"integer dtype (int64, uint64) ({where()})")


def _from_sequence(obj, dt):
    try:
        arr = sequence_array(obj, dt)
    except (TypeError, ValueError, OverflowError) as exc:
        raise type(exc)(f"asarray(): {exc} ({where()})") from None
    if arr.dtype == object:
        _check_int_range(arr.flat)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"asarray(): cannot make a numeric array from {type(obj).__name__} "
                        f"({where()})")
    if dt is None and arr.dtype not in D._SUPPORTED:
        arr = arr.astype(D.float64 if arr.dtype.kind == "f" else D.complex128)
    return arr


def _fill_dtype(fill_value, dtype) -> np.dtype:
    if dtype is not None:
        return D.as_dtype(dtype)
    if isinstance(fill_value, Array):
        return fill_value.dtype
    return D.python_scalar_default(fill_value)


def full(shape, fill_value, *, dtype=None, device=None) -> Array:
    """An array of ``shape`` filled with ``fill_value`` (dtype from the value by default)."""
    return _filled(shape, fill_value, dtype, device, "full")


def _filled(shape, fill_value, dtype, device, fname: str) -> Array:
    """`full`, its errors naming ``fname`` (zeros, ones, empty call it too)."""
    as_device(device)
    shape = _shape_arg(shape, fname)
    dt = _fill_dtype(fill_value, dtype)
    if isinstance(fill_value, (Array, np.ndarray)):
        v = cast(as_var(fill_value), dt)
        if v.shape != ():
            raise ValueError(f"{fname}(): fill_value must be a scalar ({where()})")
    else:
        if isinstance(fill_value, complex) and dt.kind != "c":
            raise TypeError(f"{fname}(): cannot fill {dt} with complex {fill_value!r} "
                            f"({where()})")
        v = const(fill_value, dt)
    return shape_node(Alloc(shape), v, shape)  # Alloc's rule: the fill's dtype, ``shape``


def zeros(shape, *, dtype=None, device=None) -> Array:
    """An array of zeros (default dtype float64)."""
    return _filled(shape, 0, dtype or D.default_float, device, "zeros")


def ones(shape, *, dtype=None, device=None) -> Array:
    """An array of ones (default dtype float64)."""
    return _filled(shape, 1, dtype or D.default_float, device, "ones")


def empty(shape, *, dtype=None, device=None) -> Array:
    """An array whose values are unspecified (lazyarr gives zeros)."""
    return _filled(shape, 0, dtype or D.default_float, device, "empty")


def _like(x, fill, dtype, device, fname):
    v = as_var(x)
    dt = D.as_dtype(dtype) if dtype is not None else v.dtype
    if None in v.shape:
        return _filled_over(v, fill, dt, device, fname)
    return full(v.shape, fill, dtype=dt, device=device)


def _filled_over(v: Var, fill, dt, device, fname: str) -> Array:
    """``fill`` (as ``dt``) over the shape of ``v``, some of whose sizes only the run knows:
    a `where` with both branches ``fill``, over a mask of v's shape (no value is read, so
    this works inside a trace; a size read would need the value)."""
    from .elementwise import isnan, where

    c = _filled((), fill, dt, device, fname)
    return where(isnan(wrap(v)), c, c)


def zeros_like(x, /, *, dtype=None, device=None) -> Array:
    return _like(x, 0, dtype, device, "zeros_like")


def ones_like(x, /, *, dtype=None, device=None) -> Array:
    return _like(x, 1, dtype, device, "ones_like")


def empty_like(x, /, *, dtype=None, device=None) -> Array:
    return _like(x, 0, dtype, device, "empty_like")


def full_like(x, /, fill_value, *, dtype=None, device=None) -> Array:
    return _like(x, fill_value, dtype, device, "full_like")


def arange(start, /, stop=None, step=1, *, dtype=None, device=None) -> Array:
    """Evenly spaced values in ``[start, stop)`` (``arange(n)`` is ``0..n-1``)."""
    as_device(device)
    if stop is None:
        start, stop = 0, start
    # NumPy's integer and float scalars (a size from NumPy code, np.int64) as Python numbers,
    # as the other creation functions and array_api_strict take them
    start, stop, step = [int(v) if isinstance(v, np.integer) else
                         float(v) if isinstance(v, np.floating) else v
                         for v in (start, stop, step)]
    if step == 0:
        raise ValueError(f"arange(): step must not be zero ({where()})")
    for name, val in (("start", start), ("stop", stop), ("step", step)):
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            raise TypeError(f"arange(): {name} must be a real number, not {val!r} ({where()})")
    all_int = all(isinstance(v, int) for v in (start, stop, step))
    dt = D.as_dtype(dtype) if dtype is not None else (D.default_int if all_int else D.default_float)
    n = _arange_length(start, stop, step, all_int, dt)
    if all_int and start and n and dt.kind == "i" and _fits(start, dt) and _fits(
            start + (n - 1) * step, dt):
        # start + arange(0, ...), the start a constant: a window's positions at a changing
        # start (``arange(i, i + L)``) are one program once it has changed, not an op each
        return build(Arange(0, n * step, step, dt, n)) + start
    return build(Arange(start, stop, step, dt, n))


def _fits(v: int, dt: np.dtype) -> bool:
    info = np.iinfo(dt)
    return info.min <= v <= info.max


def _arange_length(start, stop, step, all_int: bool, dt: np.dtype) -> int:
    """The number of elements of ``arange(start, stop, step)``; ValueError for a NaN or
    infinite span, or one of more bytes of ``dt`` than an array can hold (NumPy's limit)."""
    if all_int:
        span = -((start - stop) // step)  # ceil((stop - start) / step), exact
    else:
        span = (stop - start) / step
        if not math.isfinite(span):
            raise ValueError(f"arange(): cannot compute the length of [{start}, {stop}) in "
                             f"steps of {step} ({where()})")
        span = math.ceil(span)
    n = max(0, span)
    if n * dt.itemsize > np.iinfo(np.intp).max:
        raise ValueError(f"arange(): {n} elements exceed the maximum size of an array "
                         f"({where()})")
    return n


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True) -> Array:
    """``num`` evenly spaced samples from ``start`` to ``stop``."""
    as_device(device)
    if num < 0:
        raise ValueError(f"linspace(): num must be non-negative ({where()})")
    is_c = isinstance(start, complex) or isinstance(stop, complex)
    dt = D.as_dtype(dtype) if dtype is not None else (D.default_complex if is_c else
                                                       D.default_float)
    # the endpoints in the type NumPy computes with (float64 for Python numbers; a NumPy
    # float32 or complex64 scalar keeps its precision)
    at = np.result_type(start, stop, 1.0)
    ends = [const(v, at) for v in (start, stop)]
    return build(Linspace(int_arg(num, "linspace", "num"), dt, bool(endpoint)), *ends)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None) -> Array:
    """A 2-d array with ones on diagonal ``k`` and zeros elsewhere."""
    as_device(device)
    m = n_rows if n_cols is None else n_cols
    return build(Eye(int_arg(n_rows, "eye", "n_rows"), int_arg(m, "eye", "n_cols"),
                     int_arg(k, "eye", "k"), D.as_dtype(dtype or D.default_float)))


def from_dlpack(x, /, *, device=None, copy=None) -> Array:
    """An array from an object that supports DLPack (no copy unless ``copy=True``)."""
    as_device(device)
    if isinstance(x, Array):
        return asarray(x, copy=True) if copy else x
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack(): x must support the DLPack protocol (__dlpack__), "
                        f"not {type(x).__name__} ({where()})")
    arr = np.from_dlpack(x) if copy is None else np.from_dlpack(x, copy=copy)
    return wrap(leaf_from_numpy(arr))


def meshgrid(*arrays, indexing: str = "xy") -> list[Array]:
    """Coordinate matrices from 1-d coordinate vectors (``indexing`` 'xy' or 'ij')."""
    from .manipulation import broadcast_to, reshape

    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid(): indexing must be 'xy' or 'ij' ({where()})")
    vs = [as_var(a) for a in arrays]
    if any(len(v.shape) != 1 for v in vs):
        raise ValueError(f"meshgrid(): arrays must be 1-d ({where()})")
    if len({v.dtype for v in vs}) > 1:
        raise ValueError(f"meshgrid(): arrays must have one dtype ({where()})")
    sizes = [v.shape[0] for v in vs]
    if indexing == "xy" and len(vs) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, v in enumerate(vs):
        j = (1 - i if i < 2 else i) if indexing == "xy" and len(vs) > 1 else i
        shape = [1] * len(vs)
        shape[j] = -1 if v.shape[0] is None else v.shape[0]
        out.append(reshape(wrap(v), tuple(shape)))
    if None in sizes:  # a size known only at run time
        from .manipulation import broadcast_at_run_time

        return broadcast_at_run_time([as_var(o) for o in out])
    return [broadcast_to(o, tuple(sizes)) for o in out]


def _tri(x, k, lower):
    return build(Tri(int_arg(k, "tril" if lower else "triu", "k"), lower), as_var(x))


def tril(x, /, *, k: int = 0) -> Array:
    """Lower triangle of the last two axes (elements above diagonal ``k`` zeroed)."""
    return _tri(x, k, True)


def triu(x, /, *, k: int = 0) -> Array:
    """Upper triangle of the last two axes (elements below diagonal ``k`` zeroed)."""
    return _tri(x, k, False)


def _from_pickle(data: np.ndarray) -> Array:
    """The array a pickle of an Array gives back (`Array.__reduce__`): over the unpickled
    data, which nobody else holds (lazyarr's own: read-only), or over a copy where it views a
    buffer the caller handed over out of band (pickle protocol 5) and can still write."""
    arr = np.asarray(data)
    if arr.base is not None and not isinstance(arr.base, bytes):
        arr = arr.copy()
    return wrap(leaf_from_numpy(own(arr)))
