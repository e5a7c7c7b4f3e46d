"""Reductions, statistics and cumulative functions of the standard."""

from __future__ import annotations

from ...graph.basic import apply_types
from ...graph.userline import where
from .. import dtypes as D
from ..coerce import Array, as_var, build, cast, wrap
from ..ops.axes import normalize_axes, normalize_axis
from ..ops.reduce import Cumulative, Reduce

__all__ = ["sum", "prod", "mean", "var", "std", "min", "max", "all", "any",
           "cumulative_sum", "cumulative_prod", "diff"]

def _acc_dtype(dt, dtype, fname):
    if dtype is not None:
        return D.as_dtype(dtype)
    if dt.kind == "b":
        return D.default_int
    if dt.kind == "i":
        return D.int64
    if dt.kind == "u":
        return D.uint64
    return dt


_reduce_ops: dict = {}


def _reduce(kind, x, axis, keepdims, dtype_fn, dtype_arg=None):
    v = as_var(x)
    try:
        # axis's type too: 1.0 == True == 1 would find the op cached for axis=1
        ck = (kind, type(axis), axis, keepdims, dtype_arg, v.dtype, len(v.shape))
        op = _reduce_ops.get(ck)
    except TypeError:  # an unhashable axis (a list)
        ck = op = None
    if op is None:
        axes = normalize_axes(axis, len(v.shape), kind)
        out_dt = dtype_fn(v.dtype)
        if not axes and not keepdims and out_dt == v.dtype and kind != "mean":
            return wrap(v)
        op = Reduce(kind, axes, bool(keepdims), out_dt)
        if ck is not None:
            if len(_reduce_ops) > 4096:
                _reduce_ops.clear()
            _reduce_ops[ck] = op
    return wrap(apply_types(op, (v,), op.infer(v), 2)[0])


def sum(x, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:  # noqa: A001
    """Sum over ``axis``; integer inputs accumulate in (u)int64, floats in their own dtype."""
    return _reduce("sum", x, axis, keepdims, lambda dt: _acc_dtype(dt, dtype, "sum"), dtype)


def prod(x, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:
    """Product over ``axis`` (accumulation dtype as for ``sum``)."""
    return _reduce("prod", x, axis, keepdims, lambda dt: _acc_dtype(dt, dtype, "prod"), dtype)


def _float_only(fname):
    def rule(dt):
        if dt.kind == "b":
            raise TypeError(f"{fname}() needs a numeric array, not {dt} ({where()})")
        return D.float_dtype(dt)
    return rule


def mean(x, /, *, axis=None, keepdims: bool = False) -> Array:
    """Arithmetic mean over ``axis`` (integers are averaged in float64)."""
    return _reduce("mean", x, axis, keepdims, _float_only("mean"))


def _real_only(fname):
    def rule(dt):
        if dt.kind == "c":
            raise TypeError(f"{fname}() is not defined for complex arrays ({where()})")
        return dt
    return rule


def max(x, /, *, axis=None, keepdims: bool = False) -> Array:  # noqa: A001
    """Maximum over ``axis`` (NaN propagates; an empty reduction is a ValueError)."""
    return _reduce("max", x, axis, keepdims, _real_only("max"))


def min(x, /, *, axis=None, keepdims: bool = False) -> Array:  # noqa: A001
    """Minimum over ``axis`` (NaN propagates; an empty reduction is a ValueError)."""
    return _reduce("min", x, axis, keepdims, _real_only("min"))


def all(x, /, *, axis=None, keepdims: bool = False) -> Array:  # noqa: A001
    """Whether every element along ``axis`` is true (non-zero)."""
    return _reduce("all", x, axis, keepdims, lambda dt: D.bool_)


def any(x, /, *, axis=None, keepdims: bool = False) -> Array:  # noqa: A001
    """Whether any element along ``axis`` is true (non-zero)."""
    return _reduce("any", x, axis, keepdims, lambda dt: D.bool_)


def var(x, /, *, axis=None, correction: float = 0.0, keepdims: bool = False) -> Array:
    """Variance over ``axis`` with ``correction`` degrees of freedom subtracted from N."""
    from .elementwise import conj, real

    v = as_var(x)
    if v.dtype.kind in "b":
        raise TypeError(f"var() needs a numeric array, not {v.dtype} ({where()})")
    v = cast(v, D.float_dtype(v.dtype))
    axes = normalize_axes(axis, len(v.shape), "var")
    a = wrap(v)
    shape = Array.shape.fget(a)
    n = 1
    for ax in axes:
        n *= shape[ax]
    dev = a - mean(a, axis=axes, keepdims=True)
    sq = real(dev * conj(dev)) if v.dtype.kind == "c" else dev * dev
    s = sum(sq, axis=axes, keepdims=keepdims)
    return s / (n - correction)


def std(x, /, *, axis=None, correction: float = 0.0, keepdims: bool = False) -> Array:
    """Standard deviation over ``axis`` (square root of ``var``)."""
    from .elementwise import sqrt

    return sqrt(var(x, axis=axis, correction=correction, keepdims=keepdims))


def _cumulative(kind, x, axis, dtype, include_initial):
    v = as_var(x)
    if len(v.shape) == 0:
        raise ValueError(f"cumulative_{kind}() needs at least one dimension ({where()})")
    if axis is None:
        if len(v.shape) > 1:
            raise ValueError(f"cumulative_{kind}(): axis is required for arrays of more than "
                             f"one dimension ({where()})")
        axis = 0
    ax = normalize_axis(axis, len(v.shape), f"cumulative_{kind}")
    dt = _acc_dtype(v.dtype, dtype, kind)
    return build(Cumulative(kind, ax, bool(include_initial), dt), v)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial: bool = False) -> Array:
    """Running sums along ``axis`` (``include_initial`` prepends a zero)."""
    return _cumulative("sum", x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial: bool = False) -> Array:
    """Running products along ``axis`` (``include_initial`` prepends a one)."""
    return _cumulative("prod", x, axis, dtype, include_initial)


def diff(x, /, *, axis: int = -1, n: int = 1, prepend=None, append=None) -> Array:
    """The ``n``-th discrete difference along ``axis`` (``prepend``/``append`` joined first)."""
    from .elementwise import not_equal, subtract
    from .manipulation import concat

    v = as_var(x)
    if len(v.shape) == 0:
        raise ValueError(f"diff() needs at least one dimension ({where()})")
    if n < 0:
        raise ValueError(f"diff(): n must be non-negative, got {n} ({where()})")
    ax = normalize_axis(axis, len(v.shape), "diff")
    a = wrap(v)
    if n == 0:  # as NumPy: x itself, prepend and append ignored
        return a
    parts = [p for p in (prepend, a, append) if p is not None]
    if len(parts) > 1:
        a = concat(parts, axis=ax)
    op = not_equal if a.dtype == D.bool_ else subtract
    lead = (slice(None),) * ax
    for _ in range(n):
        a = op(a[lead + (slice(1, None),)], a[lead + (slice(None, -1),)])
    return a

