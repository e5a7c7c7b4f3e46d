"""Matrix products."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .elemwise import broadcast_shapes


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """Result shape of ``a @ b`` (NumPy's rules: 1-d operands are promoted, then dropped)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul: operands must have at least one dimension ({where()})")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ValueError(f"matmul: contracted dimensions differ: {a} @ {b} ({where()})")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


class MatMul(Op):
    """``a @ b`` for operands of one dtype (NumPy's ``matmul`` semantics)."""

    def infer(self, a: Var, b: Var):
        return [(a.dtype, matmul_shape(a.shape, b.shape))]

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.matmul(a, b))
