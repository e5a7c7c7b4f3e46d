"""Sorting ops: ``sort`` and ``argsort`` along one axis, stable or not, ascending or
descending (a stable descending sort keeps equal elements in their original order)."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from .. import dtypes as D


def _argsort(x: np.ndarray, axis: int, descending: bool, stable: bool) -> np.ndarray:
    kind = "stable" if stable else None
    if not descending:
        return np.argsort(x, axis=axis, kind=kind)
    # sort the reversed array ascending, reverse the result: equal elements keep their order
    r = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind=kind), axis)
    return (x.shape[axis] - 1) - r


class Sort(Op):
    """``x`` sorted along ``axis``."""

    raises_on_values = False

    def __init__(self, axis: int, descending: bool, stable: bool):
        self.axis, self.descending, self.stable = axis, descending, stable

    def infer(self, x: Var):
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        # equal integers or bools are indistinguishable, so only floats (-0.0/+0.0, NaN
        # payloads) can show the order a stable sort keeps; NumPy's default kind is ~10x faster
        kind = "stable" if self.stable and x.dtype.kind in "fc" else None
        if self.descending:
            return np.flip(np.sort(np.flip(x, self.axis), axis=self.axis, kind=kind), self.axis)
        return np.sort(x, axis=self.axis, kind=kind)


class ArgSort(Op):
    """Indices (int64) that sort ``x`` along ``axis``."""

    raises_on_values = False

    def __init__(self, axis: int, descending: bool, stable: bool):
        self.axis, self.descending, self.stable = axis, descending, stable

    def infer(self, x: Var):
        return [(D.default_index, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        r = _argsort(x, self.axis, self.descending, self.stable)
        return r.astype(D.default_index, copy=False)
