"""Ops without array inputs (filled arrays, ranges, identity) and the triangular masks."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where


class Alloc(Op):
    """An array of ``shape`` filled with its 0-d input (cast to the input's dtype)."""

    raises_on_values = False

    def __init__(self, shape: tuple):
        self.shape = shape

    def infer(self, value: Var):
        return [(value.dtype, self.shape)]

    def perform(self, value: np.ndarray) -> np.ndarray:
        return np.full(self.shape, value, dtype=value.dtype)


class Arange(Op):
    """``arange(start, stop, step)`` of ``dtype`` with ``n`` elements (known when built)."""

    raises_on_values = False
    exact_params = True  # arange(-0.0, ...) starts at -0.0

    def __init__(self, start, stop, step, dtype: np.dtype, n: int):
        self.start, self.stop, self.step, self.dtype, self.n = start, stop, step, dtype, n

    def infer(self):
        return [(self.dtype, (self.n,))]

    def perform(self) -> np.ndarray:
        r = np.arange(self.start, self.stop, self.step, dtype=self.dtype)
        return r[: self.n] if r.shape[0] != self.n else r


class Linspace(Op):
    """``num`` evenly spaced samples of ``dtype`` from 0-d input ``start`` to input ``stop``
    (the scalars given, as constants of the type NumPy computes them in, so that a loop's
    changing endpoints become arguments of one program)."""

    raises_on_values = False

    def __init__(self, num: int, dtype: np.dtype, endpoint: bool):
        self.num, self.dtype, self.endpoint = num, dtype, endpoint

    def infer(self, start: Var, stop: Var):
        return [(self.dtype, (self.num,))]

    def perform(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        return np.linspace(start[()], stop[()], self.num, endpoint=self.endpoint,
                           dtype=self.dtype)


class Eye(Op):
    """An ``(n, m)`` array of ``dtype`` with ones on diagonal ``k``."""

    raises_on_values = False  # the sizes are checked when the node is built

    def __init__(self, n: int, m: int, k: int, dtype: np.dtype):
        self.n, self.m, self.k, self.dtype = n, m, k, dtype

    def infer(self):
        for name, size in (("n_rows", self.n), ("n_cols", self.m)):
            if size < 0:
                raise ValueError(f"eye(): {name} must not be negative, got {size} ({where()})")
        return [(self.dtype, (self.n, self.m))]

    def perform(self) -> np.ndarray:
        return np.eye(self.n, self.m, self.k, dtype=self.dtype)
