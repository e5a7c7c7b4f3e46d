"""Elementwise ops: one op per row of the scalar table, plus casts; with broadcasting."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .. import dtypes as D
from ._shapes import broadcast_shapes  # the rule itself, in C
from .scalar_table import TABLE, ScalarFn

__all__ = ["Elemwise", "Cast", "broadcast_shapes", "elementwise_types"]


_bool = D.bool_
_types_cache: dict[tuple[str, np.dtype], tuple[np.dtype, np.dtype]] = {}


def elementwise_types(fn: ScalarFn, dt: np.dtype) -> tuple[np.dtype, np.dtype]:
    """``(compute dtype, result dtype)`` of scalar function ``fn`` on operands promoted to
    ``dt``; TypeError if the standard does not define ``fn`` for that dtype."""
    key = (fn.name, dt)
    r = _types_cache.get(key)
    if r is None:
        r = _elementwise_types(fn, dt)
        _types_cache[key] = r
    return r


def _bad(fn: ScalarFn, dt: np.dtype, what: str):
    return TypeError(f"{fn.name}() is defined for {what} inputs, not {dt} ({where()})")


def _elementwise_types(fn: ScalarFn, dt: np.dtype) -> tuple[np.dtype, np.dtype]:
    k, kind = dt.kind, fn.kind
    if kind == "numeric":
        if k == "b":
            raise _bad(fn, dt, "numeric")
        return dt, dt
    if kind == "numeric_or_bool":
        return dt, dt
    if kind == "float":
        if k == "b":
            raise _bad(fn, dt, "numeric")
        c = D.float_dtype(dt)
        return c, c
    if kind == "realfloat":
        if k in "cb":
            raise _bad(fn, dt, "real numeric")
        c = D.float_dtype(dt)
        return c, c
    if kind == "real":
        if k in "cb":
            raise _bad(fn, dt, "real numeric")
        return dt, dt
    if kind == "cmp":
        return dt, _bool
    if kind == "order":
        if k == "c":
            raise _bad(fn, dt, "real-valued")
        return dt, _bool
    if kind == "logical":
        return _bool, _bool
    if kind == "bitwise":
        if k in "fc":
            raise _bad(fn, dt, "integer or boolean")
        return dt, dt
    if kind == "shift":
        if k not in "iu":
            raise _bad(fn, dt, "integer")
        return dt, dt
    if kind == "pred":
        return dt, _bool
    if kind == "signbit":
        if k == "c":
            raise _bad(fn, dt, "real floating-point")
        return D.float_dtype(dt), _bool
    if kind == "abs":
        if k == "b":
            raise _bad(fn, dt, "numeric")
        return dt, D.real_dtype(dt)
    if kind == "part":
        return dt, D.real_dtype(dt)
    if kind == "where":
        return dt, dt
    raise AssertionError(kind)


class Elemwise(Op):
    """Apply scalar function ``TABLE[name]`` elementwise, broadcasting the operands.

    Operands arrive already promoted to one compute dtype (``where``'s condition is bool)."""

    raises_on_values = False

    def __init__(self, name: str):
        self.fn = TABLE[name]

    def infer(self, *inputs: Var):
        fn = self.fn
        dt = inputs[-1].dtype
        if len(inputs) == 1:
            return [(elementwise_types(fn, dt)[1], inputs[0].shape)]
        shape = broadcast_shapes(*[v.shape for v in inputs])
        return [(elementwise_types(fn, dt)[1], shape)]

    def perform(self, *xs: np.ndarray) -> np.ndarray:
        r = self.fn.np_fn(*xs)
        if type(r) is not np.ndarray:
            r = np.asarray(r)
        return r

    def __repr__(self) -> str:
        return self.fn.name


def cast_values(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x.astype(dtype)``; float -> uint32 through int64, NumPy's scalar conversion on x86
    (its vector loop gives other values out of range in some lanes, so the reference would
    depend on an element's position; the kernels take the int64 conversion's low bits too)."""
    if x.dtype.kind == "f" and dtype == np.uint32:
        with np.errstate(invalid="ignore"):
            return x.astype(np.int64).astype(dtype)
    return x.astype(dtype)


class Cast(Op):
    """Elementwise conversion to ``dtype`` (the standard's ``astype``)."""

    raises_on_values = False

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def infer(self, x: Var):
        return [(self.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return cast_values(x, self.dtype)

    def __repr__(self) -> str:
        return f"Cast{{{self.dtype}}}"
