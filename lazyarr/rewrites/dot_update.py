"""One pass over a weight matrix for a hidden layer's backward at minibatch 1.

A 1-row training step reads each hidden weight ``W`` (m x n) twice after the forward: the
backward product ``dx = g @ W.T`` (``g``: 1 x n) and the SGD update ``W + alpha * (a @ d)``
(``a``: m x 1, ``d``: 1 x n, a rank-1 `Gemm` with ``beta = 1``). Both walk ``W`` row by row, so
one kernel can do both in a single pass (row ``i``: ``dx[i] = W[i] . g``, then
``W[i] += alpha * a[i] * d``): for a matrix that does not stay in cache, one read of ``W``
less. The pass (specialize, after the BLAS node rewrites, before fusion) replaces such a pair
by one `DotUpdate` node; the executor decides whether it writes into ``W`` (as for `Gemm`).
"""

from __future__ import annotations

import numpy as np

from ..array.ops.linalg import Gemm, MatMul
from ..array.ops.shape import Transpose
from ..graph.basic import Apply, Op, Var
from ..graph.fgraph import FunctionGraph
from ..graph.userline import where
from .db import Report, register_pass

__all__ = ["DotUpdate", "fuse_dot_update"]


class DotUpdate(Op):
    """``(g @ W.T, W + alpha * (a @ d))``: inputs ``(W, alpha, a, d, g)`` with ``W`` (m, n),
    ``a`` (m, 1), ``d`` and ``g`` (1, n), all float32/float64 of one dtype, ``alpha`` 0-d.
    Outputs ``dx`` (1, m) and the updated ``W`` (m, n), rounded as `MatMul` and as
    ``Gemm(W, alpha, a, d, 1)`` are (the dot products in any order).

    Made by `fuse_dot_update` only; never by user code."""

    raises_on_values = False
    nout = 2

    def infer(self, w: Var, alpha: Var, a: Var, d: Var, g: Var):
        dt = w.dtype
        if dt not in (np.float32, np.float64) or any(
                v.dtype != dt for v in (alpha, a, d, g)):
            raise TypeError(f"DotUpdate: operands must be float32 or float64 of one dtype "
                            f"({where()})")
        if len(w.shape) != 2 or alpha.shape != ():
            raise ValueError(f"DotUpdate: W must be 2-d and alpha 0-d ({where()})")
        m, n = w.shape
        if a.shape != (m, 1) or d.shape != (1, n) or g.shape != (1, n):
            raise ValueError(f"DotUpdate: a {a.shape}, d {d.shape} and g {g.shape} do not "
                             f"fit W {w.shape} ({where()})")
        return [(dt, (1, m)), (dt, (m, n))]

    def perform(self, w: np.ndarray, alpha: np.ndarray, a: np.ndarray, d: np.ndarray,
                g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx = np.asarray(np.matmul(g, w.T))
        new = np.matmul(a, d)
        if alpha != 1:
            new *= alpha
        new += w
        return dx, new


def _const_one(v: Var) -> bool:
    return (v.owner is None and v.const and v.data is not None and v.shape == ()
            and v.data.item() == 1)


def _rank1_update(node: Apply) -> bool:
    """A float32 `Gemm` ``W + alpha * (a @ d)`` with ``a`` (m, 1), ``d`` (1, n), ``W`` (m, n)
    (only float32 has a native kernel; elsewhere `perform` would copy ``W`` every call)."""
    if not isinstance(node.op, Gemm):
        return False
    w, _alpha, a, d, beta = node.inputs
    return (len(w.shape) == 2 and None not in w.shape and w.dtype == np.float32
            and a.shape == (w.shape[0], 1) and d.shape == (1, w.shape[1])
            and node.outputs[0].shape == w.shape and _const_one(beta))


def _row_times_transpose(node: Apply, w: Var) -> bool:
    """A `MatMul` ``g @ W.T`` with ``g`` (1, n) and ``W.T`` a `Transpose` of ``w``."""
    if not isinstance(node.op, MatMul):
        return False
    g, t = node.inputs
    return (t.owner is not None and isinstance(t.owner.op, Transpose)
            and tuple(t.owner.op.perm) == (1, 0) and t.owner.inputs[0] is w
            and g.shape == (1, w.shape[1]) and g.dtype == w.dtype)


def _reaches(starts: list[Var], targets: set[Var], readers: dict) -> bool:
    """Whether any of ``targets`` is computed from any of ``starts`` (or is one of them)."""
    seen: set[Var] = set()
    stack = list(starts)
    while stack:
        v = stack.pop()
        if v in targets:
            return True
        if v in seen:
            continue
        seen.add(v)
        for node in readers.get(v, ()):
            stack.extend(node.outputs)
    return False


def fuse_dot_update(fg: FunctionGraph, report: Report) -> None:
    """Replace each ``g @ W.T`` and rank-1 ``W + alpha * (a @ d)`` pair by one `DotUpdate`
    (the pair's output variables are kept, now made by the new node, so readers need no
    edit). Skipped where the update's operands are computed from the product or the other way
    round (one node cannot run both before and after the other)."""
    order = fg.toposort()
    readers: dict[Var, list[Apply]] = {}
    for node in order:
        for v in node.inputs:
            readers.setdefault(v, []).append(node)
    for node in order:
        if not _rank1_update(node):
            continue
        w, alpha, a, d, _beta = node.inputs
        products = [r for t in (readers.get(w, ())) if isinstance(t.op, Transpose)
                    for r in readers.get(t.outputs[0], ()) if _row_times_transpose(r, w)]
        if len(products) != 1:
            continue
        mm = products[0]
        g = mm.inputs[0]
        dx, upd = mm.outputs[0], node.outputs[0]
        if _reaches([dx, upd], {w, alpha, a, d, g}, readers):
            continue
        fused = Apply(DotUpdate(), (w, alpha, a, d, g), [dx, upd], node.site)
        dx.owner, dx.index = fused, 0
        upd.owner, upd.index = fused, 1
        for old in (mm, node):  # later pairs are checked against the graph as it is now
            for v in old.inputs:
                rs = readers.get(v, [])
                if old in rs:
                    rs.remove(old)
        for v in fused.inputs:
            readers.setdefault(v, []).append(fused)
        report.record("dot_update", "MatMul+Gemm")


register_pass("dot_update", "specialize", 48, tags=("blas",), needs=(Gemm,))(
    fuse_dot_update)
