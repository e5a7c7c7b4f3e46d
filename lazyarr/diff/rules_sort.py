"""vjp and jvp rules of sorting, searching, gathering and set ops.

``sort`` is a gather through the sorting permutation (``argsort``): the jvp gathers the
tangent, the vjp scatters the cotangent back through it. ``take`` and ``take_along_axis``
scatter-add their cotangent (``AddAt``, which has rules of its own, so second derivatives
work).
Integer results (``argsort``, ``argmax``/``argmin``, ``nonzero``, ``count_nonzero``,
``searchsorted``) and ``isin`` have no derivative; index inputs get no cotangent.

Unique values (decision): a unique value stands for all the elements equal to it, and its
derivative is their mean: the vjp gives each element ``g[inverse] / counts[inverse]``, the jvp
the per-value mean of the tangent. Moving one element alone off a tie changes the output's size,
so no choice is a true derivative there; this one is the symmetric one, and it keeps
``sum(values * counts) == sum(x)`` differentiable with gradient one. The index outputs have no
derivative.
"""

from __future__ import annotations

from ..array.coerce import Array
from ..array.functions import creation as C
from ..array.functions import elementwise as E
from ..array.functions import manipulation as M
from ..array.functions import searching as SE
from ..array.functions import sorting as SO
from ..array.functions import statistics as S
from ..array.functions.dtype_funcs import astype
from ..array.ops.index import FULL_SLICE
from ..array.ops.scatter import AddAt
from ..array.ops.search import (
    ArgReduce,
    CountNonzero,
    IsIn,
    Nonzero,
    SearchSorted,
    Take,
    TakeAlongAxis,
)
from ..array.ops.sets import FIELDS, Unique
from ..array.ops.sort import ArgSort, Sort
from .registry import register_jvp, register_vjp
from .rules_ext import sum_to
from .util import apply_op, arange_along


def _no_vjp(op, inputs, outputs, cotangents) -> list:
    """Not differentiable: no cotangent for any input."""
    return [None] * len(inputs)


def _no_jvp(op, inputs, outputs, tangents) -> list:
    """Not differentiable (integer or boolean results): zero tangents."""
    return [None] * len(outputs)


for _cls in (ArgSort, ArgReduce, Nonzero, CountNonzero, SearchSorted, IsIn):
    register_vjp(_cls)(_no_vjp)
    register_jvp(_cls)(_no_jvp)


def _differentiable(x: Array) -> bool:
    return x.dtype.kind in "fc"


def _perm(op: Sort, x: Array) -> Array:
    return SO.argsort(x, axis=op.axis, descending=op.descending, stable=op.stable)


@register_vjp(Sort)
def sort_vjp(op, inputs, outputs, cotangents) -> list:
    """The cotangent sent back through the inverse permutation."""
    x, g = inputs[0], cotangents[0]
    if g is None or not _differentiable(x):
        return [None]
    if None in x._v.shape:  # a size known only at run time, which zeros of x's shape would
        # read (inside a trace it has no value): gather through the inverse permutation
        return [SE.take_along_axis(g, SO.argsort(_perm(op, x), axis=op.axis), axis=op.axis)]
    return [_scatter_along(g, _perm(op, x), op.axis, x)]


@register_jvp(Sort)
def sort_jvp(op, inputs, outputs, tangents) -> list:
    """The tangent gathered through the sorting permutation."""
    x, t = inputs[0], tangents[0]
    if t is None or not _differentiable(x):
        return [None]
    return [SE.take_along_axis(t, _perm(op, x), axis=op.axis)]


_ARRAY = ("a",)  # an index-array entry


def _scatter_add(zeros: Array, g: Array, spec: tuple, *arrays: Array) -> Array:
    """``zeros`` with ``g`` added at ``[spec]`` (``np.add.at``)."""
    return apply_op(AddAt(spec), zeros, g, *arrays)


@register_vjp(Take)
def take_vjp(op, inputs, outputs, cotangents) -> list:
    """Scatter-add of the cotangent to the taken positions (repeats accumulate)."""
    x, idx = inputs
    g = cotangents[0]
    if g is None or not _differentiable(x):
        return [None, None]
    spec = (FULL_SLICE,) * op.axis + (_ARRAY,)
    return [_scatter_add(C.zeros_like(x, dtype=g.dtype), g, spec, idx), None]


@register_jvp(Take)
def take_jvp(op, inputs, outputs, tangents) -> list:
    """The tangent taken at the same indices."""
    t = tangents[0]
    return [None if t is None else SE.take(t, inputs[1], axis=op.axis)]


def _scatter_along(g: Array, idx: Array, ax: int, x: Array) -> Array:
    """The adjoint of ``take_along_axis(x, idx, axis=ax)``: ``g`` scatter-added along ``ax``
    into ``x`` broadcast to ``g``'s other axes, then summed back to ``x``'s shape (sizes
    known only at run time are not read)."""
    nd, x_shape = x.ndim, x._v.shape
    arrays = [idx if d == ax else M.reshape(arange_along(g, d), tuple(
        -1 if e == d else 1 for e in range(nd))) for d in range(nd)]
    added = _scatter_add(_zeros_along(g, ax, x), g, (_ARRAY,) * nd, *arrays)
    return sum_to(added, x_shape, x)


def _zeros_along(g: Array, ax: int, x: Array) -> Array:
    """Zeros of ``g``'s dtype with ``x``'s size along ``ax`` and ``g``'s on the other axes."""
    gs, xs = g._v.shape, x._v.shape
    shape = tuple(xs[ax] if d == ax else gs[d] for d in range(len(xs)))
    if None not in shape:
        return C.zeros(shape, dtype=g.dtype)
    if len(xs) == 1:
        return C.zeros_like(x, dtype=g.dtype)
    return C.zeros_like(x, dtype=g.dtype) + C.zeros_like(S.sum(g, axis=ax, keepdims=True),
                                                          dtype=g.dtype)


@register_vjp(TakeAlongAxis)
def take_along_axis_vjp(op, inputs, outputs, cotangents) -> list:
    """Scatter-add along ``axis`` (broadcast axes of ``x`` summed)."""
    x, idx = inputs
    g = cotangents[0]
    if g is None or not _differentiable(x):
        return [None, None]
    return [_scatter_along(g, idx, op.axis, x), None]


@register_jvp(TakeAlongAxis)
def take_along_axis_jvp(op, inputs, outputs, tangents) -> list:
    """The tangent gathered by the same indices."""
    t = tangents[0]
    if t is None:
        return [None]
    return [M.broadcast_to(SE.take_along_axis(t, inputs[1], axis=op.axis), outputs[0].shape)]


def _groups(op: Unique, x: Array, outputs: list) -> tuple[Array, Array]:
    """``(inverse_indices, counts)`` of ``unique(x)``: from the outputs when the op gives
    them, else from a ``unique_all`` of the same input."""
    got = dict(zip(FIELDS[op.kind], outputs))
    if "inverse_indices" in got and "counts" in got:
        return got["inverse_indices"], got["counts"]
    from ..array.functions.sets import unique_all

    r = unique_all(x)
    return r.inverse_indices, r.counts


@register_vjp(Unique)
def unique_vjp(op, inputs, outputs, cotangents) -> list:
    """Each element gets its value's cotangent divided by the value's count."""
    x, g = inputs[0], cotangents[0]
    if g is None or not _differentiable(x):
        return [None]
    inverse, counts = _groups(op, x, outputs)
    share = g / astype(counts, E.real(g).dtype if g.dtype.kind == "c" else g.dtype)
    flat = M.reshape(inverse, (-1,))
    return [M.reshape(SE.take(share, flat), tuple(x.shape))]


@register_jvp(Unique)
def unique_jvp(op, inputs, outputs, tangents) -> list:
    """The values' tangent: the mean of the tangent over each value's elements."""
    x, t = inputs[0], tangents[0]
    outs: list = [None] * len(outputs)
    if t is None or not _differentiable(x):
        return outs
    inverse, counts = _groups(op, x, outputs)
    values = outputs[0]
    zeros = astype(counts * 0, values.dtype)  # lazily sized like the values, never NaN
    total = apply_op(AddAt((_ARRAY,)), zeros, M.reshape(t, (-1,)), M.reshape(inverse, (-1,)))
    outs[0] = total / astype(counts, E.real(values).dtype if values.dtype.kind == "c"
                             else values.dtype)
    return outs
