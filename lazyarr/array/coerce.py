"""Turning user arguments (arrays, NumPy arrays, Python scalars, nested lists) into graph
variables, and graph variables into user-facing arrays."""

from __future__ import annotations

import math
import sys
import threading
import types

import numpy as np

from ..graph.basic import Apply, Op, Var, apply
from ..graph.userline import where
from . import _front
from . import dtypes as D
from ._front import is_frozen
from .materialize import (  # noqa: F401 (read by _front.wrap)
    MAX_PENDING_DEPTH,
    live_pending,
    prune_live,
)

_SCALARS = (bool, int, float, complex)
_const_cache: dict[tuple, Var] = {}
_CONST_CACHE_MAX = 4096

#: the registry of pending variables held by user arrays is pruned when it grows past
#: `_prune_at`: at least this, and twice what the last pruning kept (amortized O(1) per array)
LIVE_PRUNE_AT = 1 << 14
_prune_at = LIVE_PRUNE_AT

# Set by array_object once the Array class exists (it needs this module first).
Array = None  # type: ignore[assignment]


def const(value, dtype: np.dtype) -> Var:
    """A constant leaf holding Python scalar ``value`` as a 0-d array of ``dtype``; small
    constants are shared, and keyed by value."""
    key = (type(value), value, dtype)
    if type(value) is float and not value:  # 0.0 and -0.0 are equal keys: told by the sign
        key = ("zero", math.copysign(1.0, value), dtype)
    v = _const_cache.get(key)
    if v is not None:
        return v
    data = scalar_data(value, dtype)
    data.flags.writeable = False
    v = Var(dtype, (), None, 0, data, True)
    # NaN keys would never be found again; -0.0 == 0.0 would find the other zero's sign (a
    # complex value, by either part)
    if isinstance(value, complex):  # np.complex128 too
        shared = _plain(value.real) and _plain(value.imag)
    else:
        shared = value == value and (value or type(value) in (int, bool, float))
    if shared:
        if len(_const_cache) >= _CONST_CACHE_MAX:
            _const_cache.clear()
        _const_cache[key] = v
    return v


def scalar_data(value, dtype: np.dtype) -> np.ndarray:
    """Python scalar ``value`` as a 0-d array of ``dtype``: OverflowError for an int out of
    the dtype's range, TypeError for a complex value of a real dtype, naming the user's line."""
    try:
        return np.asarray(value, dtype=dtype)
    except OverflowError as exc:
        raise OverflowError(f"{exc} ({where()})") from None
    except TypeError:
        raise TypeError(f"cannot represent {value!r} as {dtype} ({where()})") from None


def _plain(x: float) -> bool:
    """``==`` tells float ``x`` from every other float: not a NaN, not a zero."""
    return x == x and x != 0.0


def leaf_from_numpy(x: np.ndarray) -> Var:
    """A leaf over a NumPy array (no copy: the array aliases ``x``)."""
    if x.dtype not in D._SUPPORTED:
        dt = _numpy_fallback_dtype(x.dtype)
        x = x.astype(dt)
    return Var(x.dtype, x.shape, None, 0, x, False)


def snapshot(v: Var) -> Var:
    """``v``, or where it is a leaf over NumPy data its owner can still write (an `asarray`
    alias of a user's array), a leaf over a read-only copy: the value a copy must keep."""
    d = v.data
    if v.owner is None and isinstance(d, np.ndarray) and not is_frozen(d):
        return leaf_from_numpy(_locked_copy(d))
    return v


def _locked_copy(x: np.ndarray) -> np.ndarray:
    """A read-only copy of ``x`` (lazyarr's own data: nobody writes it, so nothing copies it
    again)."""
    return own(x.copy())


def own(arr: np.ndarray) -> np.ndarray:
    """``arr``, data lazyarr made and alone holds, locked read-only as all of lazyarr's own
    data are (a NumPy handle of the result must not write what pending arrays read)."""
    arr.flags.writeable = False
    return arr


def _numpy_fallback_dtype(dt: np.dtype) -> np.dtype:
    if dt.kind == "f":  # float16, longdouble
        return D.float32 if dt.itemsize < 4 else D.float64
    if dt.kind == "c":
        return D.complex128
    raise TypeError(f"arrays of dtype {dt} are not supported ({where()})")


def as_var(x, dtype: np.dtype | None = None) -> Var:
    """The variable behind ``x``: an Array's node, or a new leaf for other array-likes."""
    if type(x) is Array:
        return x._v
    if isinstance(x, _SCALARS):
        return const(x, dtype or D.python_scalar_default(x))
    if isinstance(x, Array):
        return x._v
    if isinstance(x, np.ndarray):
        x = np.asarray(x)
        # an operand is read when the expression is written, as NumPy reads it; only
        # `asarray` aliases a user's array
        return leaf_from_numpy(x if is_frozen(x) else _locked_copy(x))
    if isinstance(x, np.generic):  # a new 0-d array nobody else holds: lazyarr's own
        return leaf_from_numpy(own(np.asarray(x)))
    if x is None:
        raise TypeError(f"expected an array, got None ({where()})")
    try:
        arr = sequence_array(x, None)
    except _front.NestedArray:
        return nested_var(x, dtype)
    except Exception as exc:
        raise TypeError(f"cannot convert {type(x).__name__} to an array ({where()})") from exc
    if arr.dtype == object:
        raise TypeError(f"cannot convert {type(x).__name__} to an array ({where()})")
    if arr.dtype.kind == "f" and isinstance(x, (list, tuple)):
        arr = arr.astype(D.default_float, copy=False)
    return leaf_from_numpy(arr)


def sequence_array(x, dtype: np.dtype | None) -> np.ndarray:
    """``np.asarray(x, dtype)``, except that an Array inside a list or tuple ``x`` raises
    `_front.NestedArray` instead of being read (`nested_var` then stacks the list)."""
    if type(x) not in (list, tuple):
        return np.asarray(x, dtype=dtype)
    prev = _front.probe_nested(threading.get_ident())
    try:
        return np.asarray(x, dtype=dtype)
    finally:
        _front.probe_nested(prev)


def nested_var(seq: list | tuple, dtype: np.dtype | None) -> Var:
    """A (nested) list or tuple holding Arrays as one variable: its items stacked (no value
    is read), in ``dtype`` or else the dtype NumPy's ``asarray`` gives such values (Python
    scalars as NumPy types them: ``[f32_array, 2.0]`` is float64, ``[i64_array, 2**63]``
    float64)."""
    from .functions.manipulation import stack

    def convert(e):  # Python scalars stay values: NumPy's dtype for them is their own
        if type(e) in (list, tuple):
            return [convert(x) for x in e]
        return e if isinstance(e, _SCALARS) else as_var(e)

    def leaves(t):
        for x in t:
            yield from leaves(x) if type(x) is list else (x,)

    tree = convert(seq)
    if dtype is None:
        dts = [x.dtype if isinstance(x, Var) else np.asarray(x).dtype for x in leaves(tree)]
        dtype = np.result_type(*dts)
        if dtype not in D._SUPPORTED:  # a Python int past uint64
            raise TypeError(f"asarray(): cannot make an array of {dtype} values ({where()})")
    dt = dtype

    def join(t):
        if type(t) is not list:
            return cast(t, dt) if isinstance(t, Var) else const(t, dt)
        if not t:
            raise ValueError(f"asarray(): an empty list beside arrays ({where()})")
        return stack([wrap(join(x)) for x in t])._v

    return join(tree)


def is_scalar(x) -> bool:
    return isinstance(x, _SCALARS)


def coerce_pair(x1, x2) -> tuple[Var, Var, np.dtype]:
    """Variables for two operands and their promoted dtype (Python scalars are weak)."""
    if type(x1) is Array:
        v1 = x1._v
        if type(x2) is Array:
            v2 = x2._v
            return v1, v2, D.promote(v1.dtype, v2.dtype)
        if isinstance(x2, _SCALARS):
            dt = D.scalar_dtype(x2, v1.dtype)
            return v1, const(x2, dt), dt
    elif isinstance(x1, _SCALARS):
        if type(x2) is Array:
            v2 = x2._v
            dt = D.scalar_dtype(x1, v2.dtype)
            return const(x1, dt), v2, dt
        if isinstance(x2, _SCALARS):
            raise TypeError(f"at least one operand must be an array ({where()})")
    v1 = as_var(x1) if not isinstance(x1, _SCALARS) else None
    v2 = as_var(x2) if not isinstance(x2, _SCALARS) else None
    if v1 is None:
        dt = D.scalar_dtype(x1, v2.dtype)
        return const(x1, dt), v2, dt
    if v2 is None:
        dt = D.scalar_dtype(x2, v1.dtype)
        return v1, const(x2, dt), dt
    return v1, v2, D.promote(v1.dtype, v2.dtype)


_cast_ops: dict[np.dtype, Op] = {}


def cast(v: Var, dtype: np.dtype) -> Var:
    """``v`` converted to ``dtype`` (no node if it already has it; constants convert now)."""
    if v.dtype == dtype:
        return v
    if v.const and v.data is not None and v.data.ndim == 0:
        return const(v.data.item(), dtype)
    op = _cast_ops.get(dtype)
    if op is None:
        from .ops.elemwise import Cast

        op = _cast_ops[dtype] = Cast(dtype)
    return apply(op, v)[0]


#: ``wrap(v)``: the user-facing Array for variable ``v`` (realized now if its pending chain is
#: longer than ``MAX_PENDING_DEPTH``); in C (`_front.wrap`), which calls ``_prune`` and reads
#: copies of ``_prune_at`` and ``MAX_PENDING_DEPTH`` (`_CoerceModule` keeps them equal)
wrap = _front.wrap


def _prune() -> None:
    global _prune_at
    _prune_at = max(LIVE_PRUNE_AT, 2 * len(prune_live()))
    _front.set_limits(MAX_PENDING_DEPTH, _prune_at)


class _CoerceModule(types.ModuleType):
    """This module's type: assigning ``MAX_PENDING_DEPTH`` or ``_prune_at`` (tests patch
    both; `diff.engine.deep_graphs` lifts the bound per thread instead) also sets the copies
    `_front.wrap` reads in C."""

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in ("MAX_PENDING_DEPTH", "_prune_at"):
            _front.set_limits(self.MAX_PENDING_DEPTH, self._prune_at)


sys.modules[__name__].__class__ = _CoerceModule
_front.set_limits(MAX_PENDING_DEPTH, _prune_at)


def rebind(a, v: Var, writer=None) -> None:
    """Point Array ``a`` at variable ``v`` (functional updates: setitem, in-place operators),
    as a write into NumPy memory: ``a``'s live views follow (but ``writer``, the view whose
    write this is), and if ``a`` is a view its base is written."""
    _front.repoint(a, v)
    if a._views is not None:
        views = _front.live_views(a)
        if views is not None:
            sys.modules["lazyarr.array.functions.indexing"].follow_base(a, views, writer)
    if a._base is not None:
        sys.modules["lazyarr.array.functions.indexing"].write_through(a)


def build(op: Op, *inputs: Var):
    """Apply ``op`` and wrap its single output."""
    return wrap(apply(op, *inputs)[0])


def build_many(op: Op, *inputs: Var) -> list:
    return [wrap(o) for o in apply(op, *inputs)]


__all__ = ["const", "as_var", "coerce_pair", "cast", "wrap", "build", "build_many", "Apply"]
