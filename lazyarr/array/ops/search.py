"""Searching and gathering ops: argmax/argmin, nonzero, count_nonzero, searchsorted, take,
take_along_axis, isin.

``nonzero`` has a data-dependent size: its outputs have shape ``(None,)`` in the IR.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .. import dtypes as D
from .elemwise import broadcast_shapes
from .reduce import reduced_shape

_INDEX = D.default_index


class ArgReduce(Op):
    """Index of the first maximum (``kind='max'``) or minimum along ``axis`` (None: of the
    flattened array); int64 result."""

    def __init__(self, kind: str, axis: int | None, keepdims: bool):
        self.kind, self.axis, self.keepdims = kind, axis, keepdims

    def infer(self, x: Var):
        axes = tuple(range(len(x.shape))) if self.axis is None else (self.axis,)
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"arg{self.kind}() of an empty sequence ({where()})")
        return [(_INDEX, reduced_shape(x.shape, axes, self.keepdims))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        fn = np.argmax if self.kind == "max" else np.argmin
        r = fn(x, axis=self.axis, keepdims=self.keepdims)
        return np.asarray(r, dtype=_INDEX)


class Nonzero(Op):
    """Indices of the non-zero elements: one int64 array of data-dependent length per axis."""

    def __init__(self, ndim: int):
        self.ndim = ndim
        self.nout = ndim

    def infer(self, x: Var):
        return [(_INDEX, (None,))] * self.ndim

    def perform(self, x: np.ndarray):
        r = tuple(i.astype(_INDEX, copy=False) for i in np.nonzero(x))
        return r if self.nout > 1 else r[0]


class CountNonzero(Op):
    """Number of non-zero elements over sorted ``axes``; int64 result."""

    raises_on_values = False

    def __init__(self, axes: tuple, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def infer(self, x: Var):
        return [(_INDEX, reduced_shape(x.shape, self.axes, self.keepdims))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        r = np.count_nonzero(x, axis=self.axes, keepdims=self.keepdims)
        return np.asarray(r, dtype=_INDEX)


class SearchSorted(Op):
    """Insertion points of ``x2`` in sorted 1-d ``x1`` (optional third input: ``sorter``)."""

    def __init__(self, side: str):
        self.side = side

    def infer(self, x1: Var, x2: Var, *sorter: Var):
        return [(_INDEX, x2.shape)]

    def perform(self, x1: np.ndarray, x2: np.ndarray, *sorter: np.ndarray) -> np.ndarray:
        s = sorter[0] if sorter else None
        return np.asarray(np.searchsorted(x1, x2, side=self.side, sorter=s), dtype=_INDEX)


def _check_bounds(idx: np.ndarray, n: int, fname: str) -> None:
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx[(idx >= n) | (idx < -n)][0]
        raise IndexError(f"{fname}(): index {bad} is out of bounds for an axis of size {n}")


class Take(Op):
    """Elements of ``x`` at 1-d integer ``indices`` along ``axis`` (negative indices count
    from the end)."""

    def __init__(self, axis: int):
        self.axis = axis

    def infer(self, x: Var, indices: Var):
        shape = list(x.shape)
        shape[self.axis] = indices.shape[0]
        return [(x.dtype, tuple(shape))]

    def perform(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        _check_bounds(indices, x.shape[self.axis], "take")
        return np.take(x, indices, axis=self.axis)


class TakeAlongAxis(Op):
    """``x`` gathered by ``indices`` along ``axis`` (other axes broadcast)."""

    def __init__(self, axis: int):
        self.axis = axis

    def infer(self, x: Var, indices: Var):
        xs = list(x.shape)
        ix = list(indices.shape)
        xs[self.axis] = 1
        ix_other = list(ix)
        ix_other[self.axis] = 1
        shape = list(broadcast_shapes(tuple(xs), tuple(ix_other)))
        shape[self.axis] = ix[self.axis]
        return [(x.dtype, tuple(shape))]

    def perform(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        _check_bounds(indices, x.shape[self.axis], "take_along_axis")
        ax = self.axis
        xs, ix = list(x.shape), list(indices.shape)
        xs[ax] = ix[ax] = 1
        b = np.broadcast_shapes(tuple(xs), tuple(ix))
        xb = np.broadcast_to(x, b[:ax] + (x.shape[ax],) + b[ax + 1:])
        ib = np.broadcast_to(indices, b[:ax] + (indices.shape[ax],) + b[ax + 1:])
        return np.take_along_axis(xb, ib, axis=ax)


class IsIn(Op):
    """Whether each element of ``x1`` occurs in ``x2`` (``invert`` negates)."""

    def __init__(self, invert: bool):
        self.invert = invert

    def infer(self, x1: Var, x2: Var):
        return [(D.bool_, x1.shape)]

    def perform(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return np.asarray(np.isin(x1, x2, invert=self.invert))
