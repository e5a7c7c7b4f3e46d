"""Which gather/scatter and basic-indexing nodes run natively (`_vm`'s ``_gather.pxi``) and
with which thunk.

`Take`, `TakeAlongAxis`, `AddAt` with one index array (rows: an embedding's gradient or SGD
update) or two (points: the gradient of ``take_along_axis``), `Alloc` of a static shape and
`Concat` get thunks with no Python call; at run time each checks its operands and falls back
to ``perform`` for anything else (other dtypes or layouts, out-of-bounds indices: ``perform``
raises).
A `GetItem` by integers, slices and new axes only (a view) is made through the NumPy C API
(`slice_thunk`), and so is a `Flip` (the slice ``::-1`` on each flipped axis) and a
`BroadcastTo` of a static shape (stride 0 on the stretched axes, read-only as NumPy's), and
a `Diagonal` (its last axis stepping by the sum of the input's last two strides).
"""

from __future__ import annotations

from ..array.ops.creation import Alloc
from ..array.ops.index import GetItem
from ..array.ops.scatter import AddAt
from ..array.ops.search import Take, TakeAlongAxis
from ..array.ops.shape import BroadcastTo, Concat, Diagonal, Flip
from ._vm import (
    AddAtThunk,
    AllocThunk,
    BroadcastThunk,
    ConcatThunk,
    DiagonalThunk,
    SliceThunk,
    TakeAlongAxisThunk,
    TakeThunk,
    Thunk,
)


def addat_mode(node) -> int:
    """1: ``x[idx] += v`` (one index array); 2: ``x[i0, i1] += v`` on a matrix; 0: neither."""
    op = node.op
    if type(op) is not AddAt or node.outputs[0].dtype.kind != "f":
        return 0
    if op.spec == (("a",),):
        return 1
    if op.spec == (("a",), ("a",)) and len(node.inputs[0].shape) == 2:
        return 2
    return 0


def gather_thunk(node, ins: tuple, outs: tuple, free: tuple, reuse: bool,
                 into: bool) -> Thunk | None:
    """The native thunk of ``node`` or None. ``reuse``: the output may keep its buffer;
    ``into``: an `AddAt` may write into its input 0 (donated, or dead and private)."""
    op = node.op
    t = type(op)
    fn = op.perform
    if t is Take and op.axis >= 0:
        return TakeThunk(fn, ins, outs, free, node, op.axis, reuse)
    if t is TakeAlongAxis and op.axis >= 0:
        return TakeAlongAxisThunk(fn, ins, outs, free, node, op.axis, reuse)
    mode = addat_mode(node)
    if mode:
        return AddAtThunk(op.perform_into if into else fn, ins, outs, free, node, mode,
                          reuse and not into, into)
    if t is Alloc and all(isinstance(d, int) and d >= 0 for d in op.shape):
        return AllocThunk(fn, ins, outs, free, node, tuple(op.shape), reuse)
    if t is Concat and node.outputs[0].dtype.kind in "biufc":
        return ConcatThunk(fn, ins, outs, free, node, op.axis, reuse)
    return None


def slice_thunk(node, ins: tuple, outs: tuple, free: tuple) -> Thunk | None:
    """The native view thunk of a basic-index `GetItem` (integers, slices, new axes, the
    integers and slice starts given as inputs too) or of a
    `Flip`, `BroadcastTo` or `Diagonal`, else None. Its output is a view of its input: never a
    buffer to write in place."""
    op = node.op
    if (type(op) is BroadcastTo and len(ins) == 1 and len(op.shape) <= 16
            and all(isinstance(d, int) and d >= 0 for d in op.shape)):
        return BroadcastThunk(op.perform, ins, outs, free, node, tuple(op.shape))
    if type(op) is Diagonal and len(ins) == 1:
        return DiagonalThunk(op.perform, ins, outs, free, node, op.offset)
    if type(op) is Flip and len(ins) == 1 and 0 < len(node.inputs[0].shape) <= 16:
        spec = tuple(("s", None, None, -1 if a in op.axes else None)
                     for a in range(len(node.inputs[0].shape)))
        return SliceThunk(op.perform, ins, outs, free, node, spec)
    if (type(op) is not GetItem or not op.view or len(op.spec) > 16
            or len(ins) != 1 + sum(e[0] in "dt" for e in op.spec)):
        return None
    return SliceThunk(op.perform, ins, outs, free, node, op.spec)
