"""Specialize: ops that have only a NumPy ``perform`` lowered to ops that run natively.

`Roll`, `Tri` (``tril``/``triu``) and the ``diagonal``/``trace``/``vector_norm`` of `Linalg`
have NumPy ``perform``s only: inside a compiled loop body each cost a Python call per step
(3-6 us on small arrays, against 0.3-0.5 us for the equivalent native nodes). Where the shapes are
static they become nodes the native VM runs without Python: a roll is a `Concat` of two
basic slices per axis, a triangle a ``where`` of an index mask (which fusion joins to its
neighbours), a diagonal the `Diagonal` view (`DiagonalThunk`), a trace the sum of that view,
a vector norm the reductions NumPy computes (a 16-vector's norm in a compiled loop: a 12.5 us
Python thunk through NumPy's tuple-axis path, now 0.47 us).
Rolls, triangles and diagonals move data only: NumPy's values bit for bit. A trace is summed
by the reduction kernel, as ``sum(diagonal(x))`` is (its order of additions, not NumPy's
pairwise one). Gradients are taken before rewriting and keep the ops' own rules.
"""

from __future__ import annotations

import math

import numpy as np

from ..array.ops.index import FULL_SLICE, GetItem
from ..array.ops.linalg_ext import Linalg
from ..array.ops.reduce import Reduce
from ..array.ops.shape import Concat, Diagonal, Reshape, Roll, Tri
from ..graph.basic import Var
from .canonicalize import FOLD_MAX_SIZE
from .db import build, register_rewrite
from .patterns import cast_to, const_like, ew

PHASE = "specialize"
#: a roll along several axes is lowered (one concat, one pass and one buffer per axis) up to
#: this many elements; above, NumPy's one-pass ``roll`` costs less than the extra passes
#: (a (512, 512) roll by (1, -3): 0.21 ms through NumPy, 1.6 ms as two concats)
ROLL_MULTI_MAX = 1 << 16
#: a diagonal up to this long is a view wherever it is read; a longer one only where
#: reductions read it: broadcast along rows, its step of ``m + 1`` elements made the
#: kernel's inner loop a gather ((512, 512) ``c + diagonal(c)``: 220 -> 300 us as a view;
#: lengths 32, 64, 128: 4.6 -> 2.4, 5.7 -> 4.5, 8.9 -> 10.3 us)
DIAGONAL_VIEW_MAX = 64


def _static(shape: tuple) -> bool:
    return None not in shape


def _slice(x: Var, axis: int, lo: int | None, hi: int | None, step: int | None = None,
           site=None) -> Var:
    """``x[..., lo:hi:step, ...]`` on ``axis`` (a basic-index view)."""
    n = len(x.shape)
    spec = tuple(("s", lo, hi, step) if a == axis else FULL_SLICE for a in range(n))
    size = len(range(*slice(lo, hi, step).indices(x.shape[axis])))
    shape = x.shape[:axis] + (size,) + x.shape[axis + 1:]
    return build(GetItem(spec, shape), x, site=site)[0]


@register_rewrite("roll_to_concat", PHASE, tags=("lower",), op_classes=[Roll])
def roll_to_concat(node, g):
    """``roll(x, s, axis)`` -> ``concat([x[..., n-s:], x[..., :n-s]], axis)`` per axis (the
    flattened array for ``axis=None``, as NumPy rolls it)."""
    x = node.inputs[0]
    op, site = node.op, node.site
    if not _static(x.shape):
        return None
    if op.axes is None:
        if len(x.shape) == 1:
            return [_roll_axes(x, {0: op.shifts[0]}, site)]
        flat = build(Reshape((math.prod(x.shape),)), x, site=site)[0]
        return build(Reshape(x.shape), _roll_axes(flat, {0: op.shifts[0]}, site), site=site)
    shifts: dict[int, int] = {}
    for s, a in zip(op.shifts, op.axes):  # a repeated axis rolls by the sum, as in NumPy
        shifts[a] = shifts.get(a, 0) + s
    if sum(1 for a, s in shifts.items() if x.shape[a] and s % x.shape[a]) > 1 \
            and math.prod(x.shape) > ROLL_MULTI_MAX:
        return None
    return [_roll_axes(x, shifts, site)]


def _roll_axes(x: Var, shifts: dict, site) -> Var:
    for a, s in shifts.items():
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            x = build(Concat(a), _slice(x, a, n - s, None, site=site),
                      _slice(x, a, None, n - s, site=site), site=site)[0]
    return x


@register_rewrite("tri_to_where", PHASE, tags=("lower",), op_classes=[Tri])
def tri_to_where(node, g):
    """``tril(x, k)`` -> ``where(j <= i + k, x, 0)`` and ``triu(x, k)`` -> ``where(j >= i + k,
    x, 0)``: the mask a bool constant up to `FOLD_MAX_SIZE` elements (a contiguous operand of
    the fused kernel), else a comparison of index constants of shapes ``(n, 1)`` and
    ``(m,)`` (broadcast, computed in the kernel)."""
    x = node.inputs[0]
    if not _static(x.shape[-2:]):
        return None
    n, m = x.shape[-2:]
    k = min(max(node.op.k, -n), m)  # beyond these every row keeps all or nothing
    if n * m <= FOLD_MAX_SIZE:  # the mask constant folding would make: read contiguously
        mask = np.tri(n, m, k, dtype=bool) if node.op.lower else ~np.tri(n, m, k - 1, dtype=bool)
        mask = _const(mask)
    else:  # an (n, 1) and an (m,) index constant rather than n * m bytes
        rows = np.arange(k, n + k, dtype=np.int64).reshape(n, 1)
        cols = np.arange(m, dtype=np.int64)
        mask = ew("less_equal" if node.op.lower else "greater_equal", _const(cols),
                  _const(rows), site=node.site)
    return [ew("where", mask, x, const_like(0, x), site=node.site)]


def _const(data: np.ndarray) -> Var:
    data.flags.writeable = False
    return Var(data.dtype, data.shape, None, 0, data, True)


@register_rewrite("diagonal_to_view", PHASE, tags=("lower",), op_classes=[Linalg])
def diagonal_to_view(node, g):
    """``linalg.diagonal(x, offset)`` -> the `Diagonal` view; ``linalg.trace(x, offset)`` ->
    the sum of that view over its last axis. A diagonal longer than `DIAGONAL_VIEW_MAX` that
    something other than a reduction reads stays NumPy's contiguous copy."""
    op = node.op
    if op.name not in ("diagonal", "trace"):
        return None
    x = node.inputs[0]
    out = node.outputs[0]
    if op.name == "diagonal" and (out.shape[-1] is None or out.shape[-1] > DIAGONAL_VIEW_MAX):
        readers = g.readers(out)
        if g.nclients(out) != len(readers) or not all(type(r.op) is Reduce
                                                      for r, _ in readers):
            return None
    diag = build(Diagonal(op.p["offset"]), x, site=node.site)
    if op.name == "diagonal":
        return diag
    return build(Reduce("sum", (len(x.shape) - 2,), False, op.p["dtype"]), diag[0],
                 site=node.site)


@register_rewrite("vector_norm_primitives", PHASE, tags=("lower",), op_classes=[Linalg])
def vector_norm_primitives(node, g):
    """``Linalg{vector_norm}(x)`` -> the reductions NumPy's ``vector_norm`` computes, which
    fusion joins to their elementwise prologue: ``sqrt(sum(x*x))`` (``re*re + im*im`` for
    complex ``x``) for ``ord=2``, ``sum(|x|)``, ``max(|x|)``/``min(|x|)`` for ``±inf``, the
    nonzero count for ``ord=0``, else ``sum(|x|**p) ** (1/p)``. Unscaled, as NumPy's: a norm
    whose squares overflow is ``inf``, one whose squares underflow 0. A norm over no axes
    stays the op."""
    op = node.op
    if op.name != "vector_norm":
        return None
    x = node.inputs[0]
    axes, keep, p = tuple(sorted(op.p["axes"])), op.p["keepdims"], op.p["ord"]
    if not axes or x.dtype.kind not in "fc":
        return None
    if p in (math.inf, -math.inf) and any(x.shape[a] == 0 for a in axes):
        return None  # max/min of nothing raises when built; the op raises when run, as NumPy
    site = node.site
    rt = node.outputs[0].dtype

    def reduce(kind: str, v: Var) -> Var:
        return build(Reduce(kind, axes, keep, rt), v, site=site)[0]

    if p == 2:
        if x.dtype.kind == "c":
            re, im = ew("real", x, site=site), ew("imag", x, site=site)
            sq = ew("add", ew("multiply", re, re, site=site), ew("multiply", im, im, site=site),
                    site=site)
        else:
            sq = ew("multiply", x, x, site=site)
        return [ew("sqrt", reduce("sum", sq), site=site)]
    if p == 0:
        nz = ew("not_equal", x, const_like(0, x), site=site)
        return [reduce("sum", cast_to(nz, rt, site=site))]
    a = ew("abs", x, site=site)
    if p == 1:
        return [reduce("sum", a)]
    if p == math.inf:
        return [reduce("max", a)]
    if p == -math.inf:
        return [reduce("min", a)]
    s = reduce("sum", ew("pow", a, const_like(p, a), site=site))
    return [ew("pow", s, const_like(1.0 / p, s), site=site)]
