"""Derivative rules of the matrix products: `MatMul` (NumPy's ``matmul``: batched, 1-d
operands promoted) and the BLAS forms `Gemm`/`Gemv` (``beta*c + alpha*(a @ b)``) that the
BLAS rewrite makes. ``tensordot`` and ``vecdot`` are built from these and elementwise ops."""

from __future__ import annotations

from ..array.ops.linalg import Gemm, Gemv, MatMul
from ..array.ops.shape import Transpose
from .registry import register_jvp, register_vjp
from .util import add_all, apply_op, conj, reshape_shape, reshape_to
from .xp import xp


def _mH(x):
    """Conjugate transpose of the last two axes (at least 2-d)."""
    n = x.ndim
    return conj(apply_op(Transpose(tuple(range(n - 2)) + (n - 1, n - 2)), x))


def matmul_vjp(a, b, g):
    """Cotangents ``(g @ bᴴ, aᴴ @ g)`` of ``a @ b`` (before reducing broadcast batch axes,
    which the engine does)."""
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1 != b1 and max(a.ndim, b.ndim) == 2:  # vector @ matrix, matrix @ vector: one gemv each
        if a1:
            return xp.matmul(g, _mH(b)), xp.matmul(xp.expand_dims(conj(a), axis=-1),
                                                   xp.expand_dims(g, axis=0))
        return (xp.matmul(xp.expand_dims(g, axis=-1), xp.expand_dims(conj(b), axis=0)),
                xp.matmul(_mH(a), g))
    a2 = xp.expand_dims(a, axis=0) if a1 else a
    b2 = xp.expand_dims(b, axis=-1) if b1 else b
    g2 = g
    if a1:
        g2 = xp.expand_dims(g2, axis=-1 if b1 else -2)
    if b1:
        g2 = xp.expand_dims(g2, axis=-1)
    ga = xp.matmul(g2, _mH(b2))
    gb = xp.matmul(_mH(a2), g2)
    if a1:
        ga = reshape_to(xp.sum(ga, axis=tuple(range(ga.ndim - 2))) if ga.ndim > 2 else ga,
                        reshape_shape(a))
    if b1:
        gb = reshape_to(xp.sum(gb, axis=tuple(range(gb.ndim - 2))) if gb.ndim > 2 else gb,
                        reshape_shape(b))
    return ga, gb


@register_vjp(MatMul)
def _matmul_vjp(op, inputs, outputs, cts):
    return list(matmul_vjp(inputs[0], inputs[1], cts[0]))


@register_jvp(MatMul)
def _matmul_jvp(op, inputs, outputs, tangents):
    (a, b), (ta, tb) = inputs, tangents
    return [add_all([None if ta is None else apply_op(op, ta, b),
                     None if tb is None else apply_op(op, a, tb)])]


def _gemm_vjp(op, inputs, outputs, cts):
    c, alpha, a, b, beta = inputs
    g = cts[0]
    ga, gb = matmul_vjp(a, b, g)
    return [g * conj(beta), xp.sum(g * conj(xp.matmul(a, b))), ga * conj(alpha),
            gb * conj(alpha), xp.sum(g * conj(c))]


def _gemm_jvp(op, inputs, outputs, tangents):
    c, alpha, a, b, beta = inputs
    tc, talpha, ta, tb, tbeta = tangents
    prod_t = add_all([None if ta is None else xp.matmul(ta, b),
                      None if tb is None else xp.matmul(a, tb)])
    return [add_all([None if tc is None else beta * tc,
                     None if tbeta is None else tbeta * c,
                     None if talpha is None else talpha * xp.matmul(a, b),
                     None if prod_t is None else alpha * prod_t])]


for _cls in (Gemm, Gemv):
    register_vjp(_cls)(_gemm_vjp)
    register_jvp(_cls)(_gemm_jvp)
