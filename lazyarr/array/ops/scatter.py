"""Scatter-add: ``x`` with ``value`` added at ``x[key]``, repeated indices accumulating
(NumPy's ``np.add.at``). It is the adjoint of indexing with integer arrays, made by ``diff``."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from .index import _np_key, _spec_str


class AddAt(Op):
    """A copy of ``x`` with ``value`` added at ``key``: inputs ``x, value, *index arrays``
    (the spec of `GetItem`/`SetItem`); ``value`` broadcasts to the selection."""

    def __init__(self, spec: tuple):
        self.spec = spec

    def infer(self, x: Var, value: Var, *arrays: Var):
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray, value: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        y = x.copy()
        np.add.at(y, _np_key(self.spec, arrays), value)
        return y

    def perform_into(self, x: np.ndarray, value: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        """`perform` writing into ``x`` itself (a buffer its owner gives up: the linker calls
        it for a donated ``x`` at its last reader)."""
        np.add.at(x, _np_key(self.spec, arrays), value)
        return x

    def __repr__(self) -> str:
        return f"AddAt{{{_spec_str(self.spec)}}}"
