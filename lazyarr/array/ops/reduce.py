"""Reductions (sum, prod, mean, max, min, all, any) and cumulative sums and products."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from ._shapes import reduced_shape  # the rule itself, in C

_NP = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "max": np.max, "min": np.min,
       "all": np.all, "any": np.any}


class Reduce(Op):
    """``kind`` (sum, prod, mean, max, min, all, any) over sorted ``axes``, result ``dtype``."""

    raises_on_values = False

    def __init__(self, kind: str, axes: tuple, keepdims: bool, dtype: np.dtype):
        self.kind, self.axes, self.keepdims, self.dtype = kind, axes, keepdims, dtype
        self.np_fn = _NP[kind]

    @property
    def zero_sign_unspecified(self) -> bool:
        # a sum's: its order of additions; max/min's: which of equal zeros is kept (the
        # native kernels keep the first, NumPy the last)
        return self.kind in ("sum", "mean", "max", "min")

    def infer(self, x: Var):
        if self.kind in ("max", "min") and any(x.shape[a] == 0 for a in self.axes):
            raise ValueError(f"{self.kind}() of an empty array has no identity ({where()})")
        return [(self.dtype, reduced_shape(x.shape, self.axes, self.keepdims))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        kind = self.kind
        if kind in ("sum", "prod", "mean"):
            r = self.np_fn(x, axis=self.axes, keepdims=self.keepdims, dtype=self.dtype)
        else:
            r = self.np_fn(x, axis=self.axes, keepdims=self.keepdims)
        r = np.asarray(r)
        return r if r.dtype == self.dtype else r.astype(self.dtype)

    def __repr__(self) -> str:
        keep = ", keepdims" if self.keepdims else ""
        return f"{self.kind.capitalize()}{{axes={self.axes}{keep}}}"


class Cumulative(Op):
    """Cumulative ``kind`` (sum or prod) along ``axis``; ``include_initial`` prepends the
    identity."""

    raises_on_values = False

    def __init__(self, kind: str, axis: int, include_initial: bool, dtype: np.dtype):
        self.kind, self.axis, self.include_initial, self.dtype = kind, axis, include_initial, dtype

    @property
    def zero_sign_unspecified(self) -> bool:
        return self.kind == "sum"

    def infer(self, x: Var):
        shape = list(x.shape)
        if self.include_initial and shape[self.axis] is not None:
            shape[self.axis] += 1
        return [(self.dtype, tuple(shape))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        fn = np.cumsum if self.kind == "sum" else np.cumprod
        r = fn(x, axis=self.axis, dtype=self.dtype)
        if self.include_initial:
            shape = list(r.shape)
            shape[self.axis] = 1
            init = np.full(shape, 0 if self.kind == "sum" else 1, dtype=self.dtype)
            r = np.concatenate([init, r], axis=self.axis)
        return r
