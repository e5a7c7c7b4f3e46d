"""Scatter-add: ``x`` with ``value`` added at ``x[key]``, repeated indices accumulating
(NumPy's ``np.add.at``). It is the adjoint of indexing with integer arrays, made by ``diff``."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op
from .index import UpdateAt


class AddAt(UpdateAt, Op):
    """A copy of ``x`` with ``value`` added at ``key``: inputs ``x, value, *index arrays``
    (the spec of `GetItem`/`SetItem`); ``value`` broadcasts to the selection."""

    @staticmethod
    def write(y: np.ndarray, key: tuple, value: np.ndarray) -> None:
        np.add.at(y, key, value)
