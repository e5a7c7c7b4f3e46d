"""BLAS recognition (specialize phase, before fusion): ``alpha*A@B + beta*C`` becomes one `Gemm`
node and matrix-vector products become `Gemv`, so that the scaling and the accumulation happen
inside BLAS instead of in an elementwise pass (and fusion cannot swallow them).

The rewrites build up a product step by step, each exact in IEEE arithmetic:

* ``A @ x`` (2-d @ 1-d) -> ``Gemv(-0.0, 1, A, x, 1)`` and ``x @ A`` -> ``Gemv(-0.0, 1, A.T, x, 1)``
  (adding ``-0.0`` changes no value, not even a zero's sign);
* ``alpha * P`` (``P`` a product read only there, with ``alpha`` 0-d) -> the product with
  ``alpha``; a 2-d @ 2-d `MatMul` becomes ``Gemm(-0.0, alpha, A, B, 1)``;
* ``P + C``, ``C + P``, ``P - C``, ``C - P`` with ``C`` (or ``beta*C``, ``beta`` 0-d) of a
  shape that broadcasts to the product's -> the product accumulating into ``C`` (a negated side
  needs a constant factor: the SGD update ``W - lr*(A@B)`` is ``Gemm(W, -lr, A, B, 1)``).

Only float and complex products are rewritten (integer matmul has no BLAS). Transposed operands
stay `Transpose` views: BLAS reads them in place.
"""

from __future__ import annotations

import numpy as np

from ..array.ops.elemwise import Elemwise
from ..array.ops.linalg import Gemm, Gemv, MatMul
from ..array.ops.shape import Transpose
from ..graph.basic import Apply, Var
from .db import GraphEditor, build, register_rewrite

__all__ = ["gemv_product", "gemm_scale", "gemm_accumulate"]

_ADD, _SUB, _MUL = Elemwise("add"), Elemwise("subtract"), Elemwise("multiply")
_T = Transpose((1, 0))


def _const(value, dt: np.dtype) -> Var:
    data = np.asarray(value, dtype=dt)
    data.flags.writeable = False
    return Var(dt, (), None, 0, data, True)


def _const_value(v: Var):
    """The value of a 0-d constant, else None."""
    if v.owner is None and v.const and v.data is not None and v.shape == ():
        return v.data.item()
    return None


def _is_neg_zero(v: Var) -> bool:
    x = _const_value(v)
    return x is not None and x == 0 and np.signbit(np.real(x))


def _blas_dtype(dt: np.dtype) -> bool:
    return dt.kind in "fc"


def _bare_product(v: Var, g: GraphEditor) -> Apply | None:
    """The `Gemm`/`Gemv` node computing ``v`` if it has no accumulator yet (``c = -0.0``,
    ``beta = 1``) and nothing else reads ``v``."""
    node = v.owner
    if node is None or not isinstance(node.op, (Gemm, Gemv)) or g.nclients(v) != 1:
        return None
    c, _alpha, _a, _b, beta = node.inputs
    return node if _is_neg_zero(c) and _const_value(beta) == 1 else None


@register_rewrite("gemv_product", "specialize", tags=("blas",), op_classes=(MatMul,))
def gemv_product(node: Apply, g: GraphEditor) -> list[Var] | None:
    """``A @ x`` / ``x @ A`` (one operand 2-d, the other 1-d, float/complex) -> `Gemv`."""
    a, b = node.inputs
    dt = node.outputs[0].dtype
    if not _blas_dtype(dt):
        return None
    one, nz = _const(1, dt), _const(-0.0, dt)
    if len(a.shape) == 2 and len(b.shape) == 1:
        return build(Gemv(), nz, one, a, b, one, site=node.site)
    if len(a.shape) == 1 and len(b.shape) == 2:
        at = build(_T, b, site=node.site)[0]
        return build(Gemv(), nz, one, at, a, one, site=node.site)
    return None


def _matmul_2d(v: Var, g: GraphEditor) -> Apply | None:
    node = v.owner
    if (node is None or not isinstance(node.op, MatMul) or g.nclients(v) != 1
            or not _blas_dtype(v.dtype)):
        return None
    a, b = node.inputs
    return node if len(a.shape) == 2 and len(b.shape) == 2 else None


@register_rewrite("gemm_scale", "specialize", tags=("blas",), op_classes=(_MUL,),
                  needs=(MatMul, Gemm, Gemv))
def gemm_scale(node: Apply, g: GraphEditor) -> list[Var] | None:
    """``alpha * P`` or ``P * alpha`` (``alpha`` 0-d; ``P`` a 2-d matmul or a bare product read
    only here) -> the product scaled by ``alpha`` inside BLAS."""
    out = node.outputs[0]
    for alpha, p in (node.inputs, node.inputs[::-1]):
        if alpha.shape != () or alpha.dtype != out.dtype or p.shape != out.shape:
            continue
        mm = _matmul_2d(p, g)
        if mm is not None:
            a, b = mm.inputs
            return build(Gemm(), _const(-0.0, out.dtype), alpha, a, b,
                         _const(1, out.dtype), site=node.site)
        prod = _bare_product(p, g)
        if prod is not None and _const_value(prod.inputs[1]) == 1:
            c, _one, a, b, beta = prod.inputs
            return build(prod.op, c, alpha, a, b, beta, site=node.site)
    return None


@register_rewrite("gemm_accumulate", "specialize", tags=("blas",), op_classes=(_ADD, _SUB),
                  needs=(MatMul, Gemm, Gemv))
def gemm_accumulate(node: Apply, g: GraphEditor) -> list[Var] | None:
    """``P + C``, ``C + P``, ``P - C``, ``C - P`` (``C`` or ``beta*C`` broadcasting to ``P``'s
    shape; ``P`` a 2-d matmul, a scaled or bare product read only here) -> ``beta*C + alpha*P``
    in BLAS. A negated side needs a constant factor (negating it is exact): ``W - lr*(A@B)``
    becomes ``Gemm(W, -lr, A, B, 1)``."""
    out = node.outputs[0]
    if not _blas_dtype(out.dtype):
        return None
    x, y = node.inputs
    if node.op is _SUB:
        pairs = ((x, y, False, True), (y, x, True, False))
    else:
        pairs = ((x, y, False, False), (y, x, False, False))
    for p, c, neg_p, neg_c in pairs:
        if p.shape != out.shape:
            continue
        mm = _matmul_2d(p, g)
        if mm is not None:
            op, (a, b), alpha = Gemm(), mm.inputs, _const(1, out.dtype)
        else:
            prod = _bare_product(p, g)
            if prod is None:
                continue
            op, (_c, alpha, a, b, _beta) = prod.op, prod.inputs
        if neg_p:
            aval = _const_value(alpha)
            if aval is None:
                continue
            alpha = _const(-aval, out.dtype)
        beta = _const(-1 if neg_c else 1, out.dtype)
        cn = c.owner
        if (cn is not None and cn.op is _MUL and g.nclients(c) == 1):
            for bt, cc in (cn.inputs, cn.inputs[::-1]):
                if bt.shape != () or cc.shape != c.shape:
                    continue
                if not neg_c:
                    beta, c = bt, cc
                    break
                bval = _const_value(bt)
                if bval is not None:  # P - beta*C: beta negated, exactly, when constant
                    beta, c = _const(-bval, out.dtype), cc
                    break
        return build(op, c, alpha, a, b, beta, site=node.site)
    return None
