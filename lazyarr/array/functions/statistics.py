"""Reductions, statistics and cumulative functions of the standard."""

from __future__ import annotations

import math
import numbers

from ...graph.basic import Var
from ...graph.userline import where
from .. import dtypes as D
from ..coerce import Array, as_var, build, cast, snapshot, wrap
from ..ops import _calls
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


_calls.bind(Array, wrap, as_var, snapshot)
_reduce_ops: dict = {}


def _reduce_rule(kind, dtype_rule):
    """The Python rule of reduction ``kind`` for `ops._calls.reduction`: ``rule(v, axis,
    keepdims, dtype)`` is the `Reduce` op over variable ``v`` (None when the result is ``v``
    itself); ``dtype_rule(input dtype, dtype argument)`` gives the result dtype or raises."""

    def rule(v, axis, keepdims, dtype_arg):
        try:
            # axis's type too: 1.0 == True == 1 would find the op cached for axis=1
            ck = (kind, type(axis), axis, keepdims, dtype_arg, v.dtype, len(v.shape))
            op = _reduce_ops.get(ck)
        except TypeError:  # an unhashable axis (a list)
            ck = op = None
        if op is None:
            axes = normalize_axes(axis, len(v.shape), kind)
            out_dt = dtype_rule(v.dtype, dtype_arg)
            if not axes and not keepdims and out_dt == v.dtype and kind != "mean":
                return None
            op = Reduce(kind, axes, bool(keepdims), out_dt)
            if ck is not None:
                if len(_reduce_ops) > 4096:
                    _reduce_ops.clear()
                _reduce_ops[ck] = op
        return op

    return rule


def _reduction(kind, dtype_rule, doc):
    _calls.set_rule(kind, _reduce_rule(kind, dtype_rule))
    f = getattr(_calls, kind)
    f.__module__, f.__doc__ = __name__, doc
    return f


def _accumulating(fname):
    return lambda dt, dtype: _acc_dtype(dt, dtype, fname)


def _float_only(fname):
    def rule(dt, _dtype):
        if dt.kind == "b":
            raise TypeError(f"{fname}() needs a numeric array, not {dt} ({where()})")
        return D.float_dtype(dt)
    return rule


def _real_only(fname):
    def rule(dt, _dtype):
        if dt.kind == "c":
            raise TypeError(f"{fname}() is not defined for complex arrays ({where()})")
        return dt
    return rule


def _boolean(dt, _dtype):
    return D.bool_


# C closures (`ops/_calls.pyx`): a call with the arguments of the last one builds its node
# without a Python frame. Signatures as the standard's (``dtype`` for sum and prod only).
sum = _reduction(  # noqa: A001
    "sum", _accumulating("sum"),
    "Sum over ``axis``; integer inputs accumulate in (u)int64, floats in their own dtype.")
prod = _reduction(
    "prod", _accumulating("prod"),
    "Product over ``axis`` (accumulation dtype as for ``sum``).")
mean = _reduction(
    "mean", _float_only("mean"),
    "Arithmetic mean over ``axis`` (integers are averaged in float64).")
max = _reduction(  # noqa: A001
    "max", _real_only("max"),
    "Maximum over ``axis`` (NaN propagates; an empty reduction is a ValueError).")
min = _reduction(  # noqa: A001
    "min", _real_only("min"),
    "Minimum over ``axis`` (NaN propagates; an empty reduction is a ValueError).")
all = _reduction(  # noqa: A001
    "all", _boolean, "Whether every element along ``axis`` is true (non-zero).")
any = _reduction(  # noqa: A001
    "any", _boolean, "Whether any element along ``axis`` is true (non-zero).")


def var(x, /, *, axis=None, correction: float = 0.0, keepdims: bool = False) -> Array:
    """Variance over ``axis`` with ``correction`` degrees of freedom subtracted from N."""
    return _var(x, axis, correction, keepdims, "var")


def _var(x, axis, correction, keepdims: bool, fname: str) -> Array:
    """`var`, its errors naming ``fname`` (std calls it too)."""
    from .elementwise import conj, real

    v = as_var(x)
    if v.dtype.kind in "b":
        raise TypeError(f"{fname}() needs a numeric array, not {v.dtype} ({where()})")
    if not isinstance(correction, numbers.Real):
        raise TypeError(f"{fname}(): correction must be a real number, not "
                        f"{type(correction).__name__} ({where()})")
    v = cast(v, D.float_dtype(v.dtype))
    axes = normalize_axes(axis, len(v.shape), fname)
    a = wrap(v)
    dev = a - mean(a, axis=axes, keepdims=True)
    sq = real(dev * conj(dev)) if v.dtype.kind == "c" else dev * dev
    s = sum(sq, axis=axes, keepdims=keepdims)
    if None in [v.shape[ax] for ax in axes]:
        # a count only the run knows: a sum of ones (reading the size would need the value)
        from .creation import ones_like
        from .elementwise import where as _where

        dof = sum(ones_like(real(a) if v.dtype.kind == "c" else a), axis=axes,
                  keepdims=keepdims) - correction
        return _where(dof > 0, s / _where(dof > 0, dof, 1.0), math.nan)
    n = 1
    for ax in axes:
        n *= v.shape[ax]
    dof = n - correction
    # the standard: NaN where N - correction <= 0 (NumPy gives inf for a nonzero sum)
    return s / dof if dof > 0 else s * math.nan


def std(x, /, *, axis=None, correction: float = 0.0, keepdims: bool = False) -> Array:
    """Standard deviation over ``axis`` (square root of ``var``)."""
    from .elementwise import sqrt

    return sqrt(_var(x, axis, correction, keepdims, "std"))


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


def _diff_end(p, name: str, v: Var, ax: int) -> Array:
    """``diff``'s ``prepend`` or ``append`` as an array to join to ``v`` along ``ax``: a
    scalar or 0-d array is one slice there (as in NumPy); otherwise the other sizes must be
    ``v``'s."""
    from .creation import full_like
    from .manipulation import broadcast_to

    pv = as_var(p)
    if len(pv.shape) == 0:
        want = v.shape[:ax] + (1,) + v.shape[ax + 1:]
        if None not in want:
            return broadcast_to(wrap(pv), want)
        # a size known only at run time: x's shape with 1 along the axis, as the sum of none
        # of its slices there has it (even where the axis is empty)
        one = sum(wrap(v)[(slice(None),) * ax + (slice(0, 0),)], axis=ax, keepdims=True)
        return full_like(one, wrap(pv), dtype=pv.dtype)
    if len(pv.shape) != len(v.shape) or [
            k for k in range(len(v.shape)) if k != ax and pv.shape[k] != v.shape[k]
            and pv.shape[k] is not None and v.shape[k] is not None]:
        raise ValueError(f"diff(): {name} must be a scalar or have x's shape {v.shape} except "
                         f"along axis {ax}, got shape {pv.shape} ({where()})")
    return wrap(pv)


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
    parts = [_diff_end(p, name, v, ax) if name else a
             for name, p in (("prepend", prepend), ("", a), ("append", append))
             if p is not None]
    if len(parts) > 1:
        a = concat(parts, axis=ax)
    op = not_equal if a.dtype == D.bool_ else subtract
    lead = (slice(None),) * ax
    for _ in range(n):
        a = op(a[lead + (slice(1, None),)], a[lead + (slice(None, -1),)])
    return a

