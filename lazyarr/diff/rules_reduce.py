"""Derivative rules of `Reduce` (sum, prod, mean, max, min; all/any have none) and
`Cumulative` (cumulative sums and products)."""

from __future__ import annotations

import math

from ..array.ops.reduce import Cumulative, Reduce, reduced_shape
from .registry import register_jvp, register_vjp
from .util import apply_op, arange_along, as_var, conj, match, reshape_shape, reshape_to
from .xp import xp


def _keep(g, op, x_shape):
    """Reduced ``g`` with the reduced axes kept (size 1)."""
    if op.keepdims:
        return g
    if None in x_shape:  # a size known only at run time: new axes, which a reshape cannot name
        for a in sorted(op.axes):
            g = xp.expand_dims(g, axis=a)
        return g
    return xp.reshape(g, reduced_shape(tuple(x_shape), op.axes, True))


def _count(op, x_shape) -> int:
    return math.prod(x_shape[a] for a in op.axes)


def _spread(g, x, op, shape, mean: bool):
    """``g`` (kept dims) over ``x``'s shape ``shape``, divided by the reduced count for a
    mean; where a size is known only at run time, through a product with ones of x's shape
    (no size is read: inside a trace that would need the value)."""
    if None not in shape:
        return xp.broadcast_to(g / _count(op, shape) if mean else g, shape)
    ones = xp.ones_like(x)
    out = g * ones
    return out / xp.sum(ones, axis=op.axes, keepdims=True) if mean else out


def _prod_partial(x, axes):
    """d prod(x over axes) / dx: the product of the other elements (no division, so exact at
    zeros); several axes are moved last and flattened into one."""
    if len(axes) == 1:
        return _others_product(x, axes[0])
    nd = x.ndim
    rest = [a for a in range(nd) if a not in axes]
    perm = tuple(rest + list(axes))
    xt = xp.permute_dims(x, perm)
    shp = reshape_shape(xt)
    lead, tail = shp[:len(rest)], shp[len(rest):]
    flat = reshape_to(xt, lead + (None if None in tail else math.prod(tail),))
    p = reshape_to(_others_product(flat, len(rest)), shp)
    inv = tuple(sorted(range(nd), key=lambda i: perm[i]))
    return xp.permute_dims(p, inv)


def _others_product(x, ax: int):
    """The product of the other elements along axis ``ax`` of ``x``, from exclusive cumulative
    products from both ends."""
    left = _along(xp.cumulative_prod(x, axis=ax, include_initial=True), ax, slice(None, -1))
    right = xp.flip(xp.cumulative_prod(xp.flip(x, axis=ax), axis=ax, include_initial=True),
                    axis=ax)
    return left * _along(right, ax, slice(1, None))


def _extreme_mask(x, out, op):
    """Where ``x`` attains the max/min, as 0/1 in x's dtype, and how many times per slice."""
    mask = xp.astype(x == _keep(out, op, as_var(x).shape), x.dtype)
    return mask, xp.sum(mask, axis=op.axes, keepdims=True)


@register_vjp(Reduce)
def _reduce_vjp(op, inputs, outputs, cts):
    (x,), (g,) = inputs, cts
    kind, shape = op.kind, as_var(x).shape  # None: a size known only at run time
    if kind in ("all", "any"):
        return [None]
    g = match(g, x.dtype)
    if kind in ("sum", "mean"):
        return [_spread(_keep(g, op, shape), x, op, shape, kind == "mean")]
    if kind == "prod":
        return [_keep(g, op, shape) * conj(_prod_partial(x, op.axes))]
    mask, cnt = _extreme_mask(x, outputs[0], op)
    return [_keep(g, op, shape) * mask / cnt]


@register_jvp(Reduce)
def _reduce_jvp(op, inputs, outputs, tangents):
    (x,), (t,) = inputs, tangents
    kind = op.kind
    if kind in ("all", "any"):
        return [None]
    if kind in ("sum", "mean"):
        return [apply_op(op, t)]
    if kind == "prod":
        s = xp.sum(_prod_partial(x, op.axes) * t, axis=op.axes, keepdims=op.keepdims)
    else:
        mask, cnt = _extreme_mask(x, outputs[0], op)
        s = xp.sum(mask * t, axis=op.axes, keepdims=True) / cnt
        s = s if op.keepdims else xp.reshape(s, outputs[0].shape)
    return [match(s, op.dtype)]


def _along(a, ax, sl):
    return a[(slice(None),) * ax + (sl,)]


def _cumprod_matrix(x, ax):
    """``C[..., j, k] = prod(x_i for i <= k, i != j)`` for ``k >= j`` (else 0), with the
    cumulated axis moved last: the exact partials of a cumulative product, zeros included
    (O(n^2) memory in the length of the axis)."""
    xm = xp.moveaxis(x, ax, -1)
    i = arange_along(xm, -1)
    eye = i[:, None] == i[None, :]
    rep = xp.where(eye, xp.ones((), dtype=x.dtype), xp.expand_dims(xm, axis=-2))
    return xp.triu(xp.cumulative_prod(rep, axis=-1))


@register_vjp(Cumulative)
def _cumulative_vjp(op, inputs, outputs, cts):
    (x,), (g,) = inputs, cts
    ax = op.axis
    g = match(g, x.dtype)
    if op.include_initial:
        g = _along(g, ax, slice(1, None))
    if op.kind == "sum":
        return [xp.flip(xp.cumulative_sum(xp.flip(g, axis=ax), axis=ax), axis=ax)]
    c = conj(_cumprod_matrix(x, ax))
    gm = xp.expand_dims(xp.moveaxis(g, ax, -1), axis=-2)
    return [xp.moveaxis(xp.sum(c * gm, axis=-1), -1, ax)]


@register_jvp(Cumulative)
def _cumulative_jvp(op, inputs, outputs, tangents):
    (x,), (t,) = inputs, tangents
    if op.kind == "sum":
        return [apply_op(op, t)]
    ax = op.axis
    c = _cumprod_matrix(x, ax)
    tm = xp.expand_dims(xp.moveaxis(t, ax, -1), axis=-1)
    r = xp.moveaxis(xp.sum(c * tm, axis=-2), -1, ax)
    if op.include_initial:
        r = xp.concat([xp.zeros_like(_along(r, ax, slice(0, 1))), r], axis=ax)
    return [match(r, op.dtype)]
