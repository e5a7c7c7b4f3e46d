"""Derivative rules of the shape and layout ops (``array/ops/shape.py``). Most are linear, so
their jvp applies the op itself to the tangent."""

from __future__ import annotations

import math

from ..array.functions.searching import take
from ..array.ops.shape import (
    BroadcastTo,
    Concat,
    Flip,
    Repeat,
    Reshape,
    Roll,
    SumLike,
    Tile,
    Transpose,
    Tri,
)
from .registry import register_jvp, register_vjp
from .util import apply_op, arange_along, zeros_of
from .xp import xp


def _linear_jvp(op, inputs, outputs, tangents):
    return [apply_op(op, tangents[0], *inputs[1:])]


for _cls in (Reshape, Transpose, BroadcastTo, Flip, Roll, Repeat, Tile, Tri):
    register_jvp(_cls)(_linear_jvp)


@register_vjp(Reshape)
def _reshape_vjp(op, inputs, outputs, cts):
    shape = inputs[0]._v.shape
    if shape.count(None) == 1:  # a size known only at run time: the op names it (its
        return [apply_op(Reshape(shape), cts[0])]  # perform fills it in), reading no value
    return [xp.reshape(cts[0], inputs[0].shape)]  # several: read (eagerly only)


@register_vjp(Transpose)
def _transpose_vjp(op, inputs, outputs, cts):
    inv = tuple(sorted(range(len(op.perm)), key=lambda i: op.perm[i]))
    return [xp.permute_dims(cts[0], inv)]


@register_vjp(BroadcastTo)
def _broadcast_vjp(op, inputs, outputs, cts):
    return [cts[0]]  # the engine sums it back to the input's shape


@register_vjp(Flip)
def _flip_vjp(op, inputs, outputs, cts):
    return [apply_op(op, cts[0])]


@register_vjp(Roll)
def _roll_vjp(op, inputs, outputs, cts):
    return [apply_op(Roll(tuple(-s for s in op.shifts), op.axes), cts[0])]


@register_vjp(Tri)
def _tri_vjp(op, inputs, outputs, cts):
    return [apply_op(op, cts[0])]


@register_vjp(Concat)
def _concat_vjp(op, inputs, outputs, cts):
    g, ax = cts[0], op.axis
    out, start = [], 0  # an int until an input with a size known only at run time, then an
    for x in inputs:  # int64 Array counted when it runs: those parts are gathered
        n = x._v.shape[ax]
        if isinstance(start, int) and n is not None:
            out.append(g[(slice(None),) * ax + (slice(start, start + n),)])
            start += n
            continue
        positions = start + arange_along(x, ax)
        out.append(take(g, positions, axis=ax))
        start = start + (n if n is not None else xp.sum(xp.ones_like(positions)))
    return out


@register_jvp(Concat)
def _concat_jvp(op, inputs, outputs, tangents):
    ts = [zeros_of(x) if t is None else t for x, t in zip(inputs, tangents)]
    return [apply_op(op, *ts)]


@register_vjp(Repeat)
def _repeat_vjp(op, inputs, outputs, cts):
    x, g = inputs[0], cts[0]
    if op.repeats is not None:  # each element repeated r times along axis
        r = op.repeats
        ax, s = (0, (math.prod(x.shape),)) if op.axis is None else (op.axis, x.shape)
        g = xp.sum(xp.reshape(g, s[:ax] + (s[ax], r) + s[ax + 1:]), axis=ax + 1)
        return [xp.reshape(g, x.shape)]
    # per-element counts: sums over segments, from a cumulative sum of g
    rep = inputs[1]
    flat = op.axis is None
    ax = 0 if flat else op.axis
    n = math.prod(x.shape) if flat else x.shape[ax]
    rep = xp.broadcast_to(xp.astype(rep, xp.int64), (n,))
    ends = xp.cumulative_sum(rep)
    cs = xp.cumulative_sum(g, axis=ax, include_initial=True)
    lead = (slice(None),) * ax
    seg = cs[lead + (ends,)] - cs[lead + (ends - rep,)]
    return [xp.reshape(seg, x.shape) if flat else seg, None]


@register_vjp(Tile)
def _tile_vjp(op, inputs, outputs, cts):
    x, g = inputs[0], cts[0]
    nd = max(len(op.reps), x.ndim)
    shape = (1,) * (nd - x.ndim) + tuple(x.shape)
    reps = (1,) * (nd - len(op.reps)) + tuple(op.reps)
    inter = tuple(v for r, d in zip(reps, shape) for v in (r, d))
    g = xp.sum(xp.reshape(g, inter), axis=tuple(range(0, 2 * nd, 2)))
    return [xp.reshape(g, x.shape)]


@register_vjp(SumLike)
def _sum_like_vjp(op, inputs, outputs, cts):
    g, like = inputs
    return [cts[0] * xp.ones_like(g), None]  # spread back over g's (run-time) shape


@register_jvp(SumLike)
def _sum_like_jvp(op, inputs, outputs, tangents):
    return [None if tangents[0] is None else apply_op(op, tangents[0], inputs[1])]
