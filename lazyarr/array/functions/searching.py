"""Searching and gathering functions of the standard: argmax, argmin, nonzero,
count_nonzero, searchsorted, take, take_along_axis (and isin)."""

from __future__ import annotations

from ...graph.userline import where as _site
from .. import dtypes as D
from ..coerce import Array, as_var, build, build_many, cast, coerce_pair, const, is_scalar
from ..ops.axes import normalize_axes, normalize_axis
from ..ops.index import check_known_bounds
from ..ops.search import ArgReduce, CountNonzero, IsIn, Nonzero, SearchSorted, Take, TakeAlongAxis

__all__ = ["argmax", "argmin", "count_nonzero", "isin", "nonzero", "searchsorted", "take",
           "take_along_axis"]


def _argreduce(kind: str, x, axis, keepdims: bool) -> Array:
    v = as_var(x)
    if v.dtype.kind in "cb":
        raise TypeError(f"arg{kind}() needs a real numeric array, not {v.dtype} ({_site()})")
    ax = None if axis is None else normalize_axis(axis, len(v.shape), f"arg{kind}")
    if len(v.shape) == 0:
        ax = None
    return build(ArgReduce(kind, ax, bool(keepdims)), v)


def argmax(x, /, *, axis: int | None = None, keepdims: bool = False) -> Array:
    """Index (int64) of the first maximum along ``axis`` (of the flattened array if None);
    shape: ``x.shape`` without ``axis`` (kept as size 1 with ``keepdims``)."""
    return _argreduce("max", x, axis, keepdims)


def argmin(x, /, *, axis: int | None = None, keepdims: bool = False) -> Array:
    """Index (int64) of the first minimum along ``axis`` (see ``argmax``)."""
    return _argreduce("min", x, axis, keepdims)


def nonzero(x, /) -> tuple[Array, ...]:
    """One int64 index array per axis of ``x`` listing its non-zero elements in row-major
    order. Their length depends on the data: it is computed only when read."""
    v = as_var(x)
    if len(v.shape) == 0:
        raise ValueError(f"nonzero() of a 0-d array is not defined; use nonzero(atleast_1d) "
                         f"({_site()})")
    return tuple(build_many(Nonzero(len(v.shape)), v))


def count_nonzero(x, /, *, axis=None, keepdims: bool = False) -> Array:
    """Number (int64) of non-zero elements over ``axis`` (an int, a tuple or None: all)."""
    v = as_var(x)
    axes = normalize_axes(axis, len(v.shape), "count_nonzero")
    return build(CountNonzero(axes, bool(keepdims)), v)


def searchsorted(x1, x2, /, *, side: str = "left", sorter=None) -> Array:
    """Indices (int64, shape of ``x2``) where ``x2``'s elements would be inserted into the
    sorted 1-d ``x1`` (sorted by ``sorter``, indices of any integer dtype, if given) to keep
    it sorted."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted(): side must be 'left' or 'right', not {side!r} "
                         f"({_site()})")
    if is_scalar(x1):
        raise TypeError(f"searchsorted(): x1 must be an array ({_site()})")
    v1, v2, dt = coerce_pair(x1, x2)
    if len(v1.shape) != 1:
        raise ValueError(f"searchsorted(): x1 must be 1-d, got shape {v1.shape} ({_site()})")
    if dt.kind == "c":
        raise TypeError(f"searchsorted(): complex arrays have no order ({_site()})")
    ins = [cast(v1, dt), cast(v2, dt)]
    if sorter is not None:
        s = as_var(sorter)
        if s.dtype.kind not in "iu" or s.shape != v1.shape:
            raise ValueError(f"searchsorted(): sorter must be integer indices of x1's shape "
                             f"({_site()})")
        ins.append(cast(s, D.default_index))  # NumPy takes no uint64 sorter
    return build(SearchSorted(side), *ins)


def _index_var(indices, fname: str):
    iv = as_var(indices)
    if iv.dtype.kind not in "iu":
        raise TypeError(f"{fname}(): indices must be an integer array, not {iv.dtype} "
                        f"({_site()})")
    return iv


def take(x, indices, /, *, axis: int | None = None) -> Array:
    """Elements of ``x`` at the 1-d integer ``indices`` along ``axis`` (which may be omitted
    only for 1-d ``x``); result shape: ``x.shape`` with ``axis`` of size ``len(indices)``."""
    v = as_var(x)
    iv = _index_var(indices, "take")
    if len(iv.shape) != 1:
        raise ValueError(f"take(): indices must be 1-d, got shape {iv.shape} ({_site()})")
    if axis is None:
        if len(v.shape) > 1:
            raise ValueError(f"take(): axis is required for an array of {len(v.shape)} "
                             f"dimensions ({_site()})")
        axis = 0
    if len(v.shape) == 0:
        raise ValueError(f"take(): x must have at least one dimension ({_site()})")
    ax = normalize_axis(axis, len(v.shape), "take")
    check_known_bounds(iv, v.shape[ax], ax)
    return build(Take(ax), v, iv)


def take_along_axis(x, indices, /, *, axis: int = -1) -> Array:
    """``x`` gathered by integer ``indices`` (same number of dimensions) along ``axis``, other
    axes broadcast against each other."""
    v = as_var(x)
    iv = _index_var(indices, "take_along_axis")
    if len(iv.shape) != len(v.shape):
        raise ValueError(f"take_along_axis(): x and indices must have the same number of "
                         f"dimensions, got {v.shape} and {iv.shape} ({_site()})")
    ax = normalize_axis(axis, len(v.shape), "take_along_axis")
    check_known_bounds(iv, v.shape[ax], ax)
    return build(TakeAlongAxis(ax), v, iv)


def isin(x1, x2, /, *, invert: bool = False) -> Array:
    """Boolean array of ``x1``'s shape: whether each element of ``x1`` is in ``x2``."""
    if is_scalar(x1) and is_scalar(x2):
        raise TypeError(f"isin(): at least one argument must be an array ({_site()})")
    if is_scalar(x2):
        v1 = as_var(x1)
        v2 = const(x2, D.scalar_dtype(x2, v1.dtype))
    else:
        v1, v2, _ = coerce_pair(x1, x2)
    return build(IsIn(bool(invert)), v1, v2)
