"""Matrix products: `MatMul`, and `Gemm`/`Gemv` (made by the BLAS rewrite)."""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from ._shapes import matmul_shape  # the rule itself, in C


class MatMul(Op):
    """``a @ b`` for operands of one dtype (NumPy's ``matmul`` semantics)."""

    raises_on_values = False
    zero_sign_unspecified = True

    def infer(self, a: Var, b: Var):
        return [(a.dtype, matmul_shape(a.shape, b.shape))]

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.matmul(a, b))


def _check_scalars(name: str, alpha: Var, beta: Var, dt: np.dtype) -> None:
    if dt.kind not in "fc":
        raise TypeError(f"{name}: needs float or complex operands, not {dt} ({where()})")
    for what, v in (("alpha", alpha), ("beta", beta)):
        if v.shape != () or v.dtype != dt:
            raise TypeError(f"{name}: {what} must be a 0-d {dt} array, not "
                            f"{v.dtype}{list(v.shape)} ({where()})")


def _check_acc(name: str, what: str, c: Var, out_shape: tuple, dt: np.dtype) -> None:
    if c.dtype != dt:
        raise TypeError(f"{name}: {what} has dtype {c.dtype}, the product {dt} ({where()})")
    tail = out_shape[len(out_shape) - len(c.shape):] if c.shape else ()
    if len(c.shape) > len(out_shape) or any(d not in (1, e) for d, e in zip(c.shape, tail)):
        raise ValueError(f"{name}: {what} of shape {c.shape} does not broadcast to the "
                         f"product's shape {out_shape} ({where()})")


def _scaled_product_type(name: str, what: str, c: Var, alpha: Var, a: Var, b: Var,
                         beta: Var) -> list[tuple[np.dtype, tuple]]:
    """``[(dtype, shape)]`` of ``beta*c + alpha*(a @ b)`` (ranks of ``a``/``b`` already
    checked): checks ``alpha``/``beta`` (0-d, the product's dtype) and that ``c`` broadcasts."""
    dt = a.dtype
    _check_scalars(name, alpha, beta, dt)
    out = matmul_shape(a.shape, b.shape)
    _check_acc(name, what, c, out, dt)
    return [(dt, out)]


def _scaled_sum(prod: np.ndarray, alpha: np.ndarray, c: np.ndarray,
                beta: np.ndarray) -> np.ndarray:
    """``beta*c + alpha*prod`` with IEEE semantics (``beta == 0`` still multiplies ``c``, so a
    NaN/inf in ``c`` propagates, as in the unfused expression); ``prod`` is overwritten."""
    if alpha != 1:
        prod *= alpha
    if beta == 1:
        prod += c
    else:
        prod += beta * c
    return prod


class Gemm(Op):
    """``beta*c + alpha*(a @ b)``: inputs ``(c, alpha, a, b, beta)``; ``a`` (m, k) and ``b``
    (k, n) 2-d float/complex of one dtype; ``alpha``/``beta`` 0-d of that dtype; ``c`` of that
    dtype and a shape broadcastable to (m, n). Output (m, n).

    Made by the BLAS rewrite (``rewrites/blas.py``) from ``alpha*A@B + beta*C``; never by user
    code. Semantics are those of the unfused expression (IEEE: ``0*NaN`` is NaN), so a BLAS
    thunk may pass ``beta = 0`` to BLAS only where that cannot differ (finite ``c``)."""

    raises_on_values = False
    zero_sign_unspecified = True

    def infer(self, c: Var, alpha: Var, a: Var, b: Var, beta: Var):
        dt = a.dtype
        if len(a.shape) != 2 or len(b.shape) != 2 or b.dtype != dt:
            raise ValueError(f"Gemm: a and b must be 2-d of one dtype, not {a.dtype}"
                             f"{list(a.shape)} and {b.dtype}{list(b.shape)} ({where()})")
        return _scaled_product_type("Gemm", "c", c, alpha, a, b, beta)

    def perform(self, c: np.ndarray, alpha: np.ndarray, a: np.ndarray, b: np.ndarray,
                beta: np.ndarray) -> np.ndarray:
        return _scaled_sum(np.matmul(a, b), alpha, c, beta)


class Gemv(Op):
    """``beta*y + alpha*(a @ x)``: inputs ``(y, alpha, a, x, beta)``; ``a`` (m, k) 2-d and ``x``
    (k,) 1-d float/complex of one dtype; ``alpha``/``beta`` 0-d of that dtype; ``y`` of that
    dtype and a shape broadcastable to (m,). Output (m,). Same semantics and origin as `Gemm`.
    """

    raises_on_values = False
    zero_sign_unspecified = True

    def infer(self, y: Var, alpha: Var, a: Var, x: Var, beta: Var):
        dt = a.dtype
        if len(a.shape) != 2 or len(x.shape) != 1 or x.dtype != dt:
            raise ValueError(f"Gemv: a must be 2-d and x 1-d of one dtype, not {a.dtype}"
                             f"{list(a.shape)} and {x.dtype}{list(x.shape)} ({where()})")
        return _scaled_product_type("Gemv", "y", y, alpha, a, x, beta)

    def perform(self, y: np.ndarray, alpha: np.ndarray, a: np.ndarray, x: np.ndarray,
                beta: np.ndarray) -> np.ndarray:
        return _scaled_sum(np.matmul(a, x), alpha, y, beta)
