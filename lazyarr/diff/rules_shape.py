"""Derivative rules of the shape and layout ops (``array/ops/shape.py``). Most are linear, so
their jvp applies the op itself to the tangent."""

from __future__ import annotations

import math

from ..array.coerce import Array
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
from .util import apply_op, arange_along, reshape_shape, reshape_to, zeros_of
from .xp import xp


def _linear_jvp(op, inputs, outputs, tangents):
    return [apply_op(op, tangents[0], *inputs[1:])]


for _cls in (Reshape, Transpose, BroadcastTo, Flip, Roll, Repeat, Tile, Tri):
    register_jvp(_cls)(_linear_jvp)


@register_vjp(Reshape)
def _reshape_vjp(op, inputs, outputs, cts):
    return [reshape_to(cts[0], reshape_shape(inputs[0]))]


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
    xs = reshape_shape(x)
    if op.repeats is not None:  # each element repeated r times along axis
        r = op.repeats
        flat = (None if None in xs else math.prod(xs),)
        ax, s = (0, flat) if op.axis is None else (op.axis, xs)
        g = xp.sum(reshape_to(g, s[:ax] + (s[ax], r) + s[ax + 1:]), axis=ax + 1)
        return [reshape_to(g, xs)]
    # per-element counts: sums over segments, from a cumulative sum of g
    flat = op.axis is None
    ax = 0 if flat else op.axis
    rep = _counts_along(xp.astype(inputs[1], xp.int64), xp.reshape(x, (-1,)) if flat else x, ax)
    ends = xp.cumulative_sum(rep)
    cs = xp.cumulative_sum(g, axis=ax, include_initial=True)
    lead = (slice(None),) * ax
    seg = cs[lead + (ends,)] - cs[lead + (ends - rep,)]
    return [reshape_to(seg, xs) if flat else seg, None]


def _counts_along(rep: Array, x: Array, ax: int) -> Array:
    """Per-element repeat counts ``rep`` (one, or one per element) broadcast to ``x``'s size
    along ``ax`` (read from ``x`` when it runs where it is known only then)."""
    n = x._v.shape[ax]
    if n is not None:
        return xp.broadcast_to(rep, (n,))
    return rep + xp.zeros_like(arange_along(x, ax))


@register_vjp(Tile)
def _tile_vjp(op, inputs, outputs, cts):
    x, g = inputs[0], cts[0]
    xs = reshape_shape(x)
    lead = max(len(op.reps) - len(xs), 0)  # axes of g that x lacks: repetitions only
    reps = (1,) * (len(xs) - len(op.reps)) + tuple(op.reps)
    split = reps[:lead] + tuple(v for r, d in zip(reps[lead:], xs) for v in (r, d))
    summed = tuple(range(lead)) + tuple(range(lead, lead + 2 * len(xs), 2))
    return [xp.sum(reshape_to(g, split), axis=summed)]


@register_vjp(SumLike)
def _sum_like_vjp(op, inputs, outputs, cts):
    g, like = inputs
    return [cts[0] * xp.ones_like(g), None]  # spread back over g's (run-time) shape


@register_jvp(SumLike)
def _sum_like_jvp(op, inputs, outputs, tangents):
    return [None if tangents[0] is None else apply_op(op, tangents[0], inputs[1])]
