"""Scatter-add: ``x`` with ``value`` added at ``x[key]``, repeated indices accumulating
(NumPy's ``np.add.at``). It is the adjoint of indexing with integer arrays, made by ``diff``."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op
from .index import UpdateAt, _np_key


class AddAt(UpdateAt, Op):
    """A copy of ``x`` with ``value`` added at ``key``: inputs ``x, value, *index arrays``
    (the spec of `GetItem`/`SetItem`); ``value`` broadcasts to the selection."""

    @staticmethod
    def write(y: np.ndarray, key: tuple, value: np.ndarray) -> None:
        np.add.at(y, key, value)

    def perform_into(self, x: np.ndarray, value: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        """`perform` writing into ``x`` itself (a buffer its owner gives up: the linker calls
        it for a donated ``x`` at its last reader)."""
        np.add.at(x, _np_key(self.spec, arrays), value)
        return x
