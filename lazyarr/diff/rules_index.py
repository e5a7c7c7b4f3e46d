"""Derivative rules of indexing: `GetItem`, `SetItem` (functional ``x[key] = value``) and
`AddAt` (scatter-add, the adjoint of integer-array indexing)."""

from __future__ import annotations

from ..array.coerce import as_var, wrap
from ..array.ops.index import GetItem, SetItem, _np_key, parse_key
from ..array.ops.scatter import AddAt
from ..graph.basic import Var
from .registry import register_jvp, register_vjp
from .util import apply_op, zeros_of
from .xp import xp


def _select(spec: tuple, x_shape: tuple, g, arrays):
    """``g[key]`` for the key of ``spec`` over an array of ``x_shape`` (the selection an
    update writes), with the same index inputs: integers and slice starts given as inputs
    (`ops.index.dynamic_key`) stay inputs."""
    if not any(e[0] in "dt" for e in spec):
        return g[_np_key(spec, arrays)]
    it = iter(arrays)
    fixed = []  # a key of the same shape, to find the selection's shape
    for e in spec:
        if e[0] == "d":
            next(it)
            fixed.append(0)
        elif e[0] == "t":
            next(it)
            fixed.append(slice(0, e[1]))
        elif e[0] == "a":
            a = next(it)
            fixed.append(wrap(a) if isinstance(a, Var) else a)
        else:
            fixed.extend(_np_key((e,), ()))
    shape = parse_key(tuple(fixed), x_shape, as_var)[2]
    return apply_op(GetItem(spec, shape), g, *arrays)


def _has_int_arrays(spec, arrays) -> bool:
    """Some index array of ``spec`` (an ``("a",)`` entry; the inputs of ``("d",)`` and
    ``("t", ...)`` entries are an integer and a slice start) holds integers: it may repeat
    an index."""
    it = iter(arrays)
    for e in spec:
        if e[0] in "adt":
            a = next(it)
            if e[0] == "a" and a.dtype.kind in "iu":
                return True
    return False


@register_vjp(GetItem)
def _getitem_vjp(op, inputs, outputs, cts):
    x, arrays, g = inputs[0], inputs[1:], cts[0]
    # integer arrays may repeat an index: their adjoint accumulates
    scatter = AddAt(op.spec) if _has_int_arrays(op.spec, arrays) else SetItem(op.spec)
    return [apply_op(scatter, zeros_of(x), g, *arrays)] + [None] * len(arrays)


@register_jvp(GetItem)
def _getitem_jvp(op, inputs, outputs, tangents):
    return [apply_op(op, tangents[0], *inputs[1:])]


@register_vjp(SetItem)
def _setitem_vjp(op, inputs, outputs, cts):
    arrays, g = inputs[2:], cts[0]
    gx = apply_op(op, g, xp.zeros((), dtype=g.dtype), *arrays)
    gv = _select(op.spec, inputs[0].shape, g, arrays)
    if _has_int_arrays(op.spec, arrays):  # a repeated index: only the last write is seen
        gv = xp.where(_last_writes(op, inputs[0], gv, arrays), gv, 0)
    return [gx, gv] + [None] * len(arrays)


def _last_writes(op, x, sel, arrays):
    """Boolean mask over the selection ``sel``: the positions whose write survives."""
    n = sel.size
    ids = xp.reshape(xp.arange(n, dtype=xp.int64), sel.shape)
    written = apply_op(op, xp.full(x.shape, -1, dtype=xp.int64), ids, *arrays)
    return _select(op.spec, x.shape, written, arrays) == ids


@register_jvp(SetItem)
def _setitem_jvp(op, inputs, outputs, tangents):
    x, arrays = inputs[0], inputs[2:]
    tx, tv = tangents[0], tangents[1]
    if tx is None:
        tx = zeros_of(x)
    if tv is None:
        tv = xp.zeros((), dtype=x.dtype)
    return [apply_op(op, tx, tv, *arrays)]


@register_vjp(AddAt)
def _addat_vjp(op, inputs, outputs, cts):
    arrays, g = inputs[2:], cts[0]
    return [g, _select(op.spec, inputs[0].shape, g, arrays)] + [None] * len(arrays)


@register_jvp(AddAt)
def _addat_jvp(op, inputs, outputs, tangents):
    x, arrays = inputs[0], inputs[2:]
    tx, tv = tangents[0], tangents[1]
    if tx is None:
        tx = zeros_of(x)
    if tv is None:
        return [tx]
    return [apply_op(op, tx, tv, *arrays)]
