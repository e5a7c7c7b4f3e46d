"""Row fusion (specialize phase, after elementwise and reduction-prologue fusion).

A softmax / cross-entropy tail at a small minibatch is a chain of elementwise nodes and
reductions over one ``(R, C)`` problem: row max, shift and exp, row sums, the gradient row,
the loss. After `fusion` it is still some eight nodes of a few hundred elements, each costing
more to dispatch than to compute. `fuse_rows` gathers every connected set of such nodes into
one `RowProgram` node, run row by row by one generated kernel (``exec_cpu.rowgen``).

A node joins when all its values are float32/float64 of static shape and it is one of:

* an `Elemwise`/`Composite` whose output is ``(R, C)`` (inputs ``(R, C)``, ``(R, 1)``,
  ``(1, C)``/``(C,)`` or one element), ``(R, 1)`` (inputs ``(R, 1)`` or one element) or
  ``(R,)`` (inputs ``(R,)`` or one element);
* a sum, mean, max or min (`Reduce` or `FusedReduce`) of an ``(R, C)`` value over its last
  axis (a row's value), or of any of these values over all its axes (one value: it ends the
  program, no member reads it).

A set is fused when it holds a row reduction and at least `MIN_MEMBERS` nodes, ``R * C`` is at
most `MAX_ELEMS` (a larger problem keeps its own threaded kernels) and no path leaves the set
and comes back. Values read outside it become the node's outputs.
"""

from __future__ import annotations

import numpy as np

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.elemwise import Elemwise
from ..array.ops.reduce import Reduce
from ..array.ops.rowprog import RowProgram, access, domain
from ..graph.basic import Apply, Var
from ..graph.fgraph import FunctionGraph
from .db import Report, register_pass

__all__ = ["MAX_ELEMS", "MAX_COLS", "MIN_MEMBERS", "fuse_rows", "member"]

#: largest problem (R * C elements) fused: above it the nodes' own kernels, threaded, win
MAX_ELEMS = 1 << 14
#: widest row: the kernel keeps a row of each intermediate in a scratch buffer
MAX_COLS = 4096
#: fewest nodes worth a program (two nodes are one dispatch saved)
MIN_MEMBERS = 3
ROW_KINDS = frozenset({"sum", "mean", "max", "min"})
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _floats(vs) -> bool:
    return all(v.dtype in _FLOATS and None not in v.shape for v in vs)


def member(node: Apply) -> tuple[int, int | None, str, str] | None:
    """``(R, C or None, role, domain)`` of a node that may join a row program (role:
    ``"map"``, ``"row"`` (a reduction over the last axis) or ``"full"`` (over all axes)),
    or None."""
    op = node.op
    if not node.inputs or not _floats(node.inputs) or not _floats(node.outputs):
        return None
    if isinstance(op, (Elemwise, Composite)):
        shape = node.outputs[0].shape
        if any(o.shape != shape for o in node.outputs):
            return None
        d = domain(shape)
        role = "map"
    elif isinstance(op, (Reduce, FusedReduce)):
        red = op.reduce if isinstance(op, FusedReduce) else op
        if red.kind not in ROW_KINDS or red.dtype not in _FLOATS:
            return None
        shape = np.broadcast_shapes(*[v.shape for v in node.inputs])
        d = domain(shape)
        if d is None:
            return None
        if d[2] == "vec" and tuple(red.axes) == (1,):
            role = "row"
        elif tuple(red.axes) == tuple(range(len(shape))):
            role = "full"
        else:
            return None
    else:
        return None
    if d is None:
        return None
    rows, cols, dom = d
    if any(access(v.shape, dom, rows, cols) is None for v in node.inputs):
        return None
    return rows, cols, role, dom


def _row_reduction(op) -> bool:
    """``op`` reduces over axis 1 only, as a `member` of role ``"row"`` does."""
    if isinstance(op, FusedReduce):
        op = op.reduce
    return isinstance(op, Reduce) and op.kind in ROW_KINDS and tuple(op.axes) == (1,)


def fuse_rows(fg: FunctionGraph, report: Report | None = None) -> int:
    """Replace each fusable set of small row nodes by one `RowProgram` node, in place;
    returns the number of nodes fused."""
    order = fg.toposort()
    if not any(_row_reduction(node.op) for node in order):
        return 0  # a program needs a "row" member: only such a reduction is one
    pos = {n: i for i, n in enumerate(order)}
    info = {}
    for node in order:
        p = member(node)
        if p is not None:
            info[node] = p
    if not any(p[2] == "row" for p in info.values()):
        return 0
    # connected sets: an edge joins a producer and a reader of the same R (and C, where both
    # know theirs); a full reduction's value ends a program
    parent = {n: n for n in info}

    def find(n):
        while parent[n] is not n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for node in info:
        r, c = info[node][:2]
        for v in node.inputs:
            p = v.owner
            if p is None or p not in info or info[p][2] == "full":
                continue
            pr, pc = info[p][:2]
            if pr == r and (pc is None or c is None or pc == c):
                parent[find(p)] = find(node)
    sets: dict[Apply, list[Apply]] = {}
    for node in info:
        sets.setdefault(find(node), []).append(node)
    readers: dict[Var, list[Apply]] = {}
    for node in order:
        for v in node.inputs:
            readers.setdefault(v, []).append(node)
    outs = set(fg.outputs)
    fused = 0
    for members in sets.values():
        prog = _program(members, info, pos, readers, outs)
        if prog is None:
            continue
        members, ins, out_vars, op = prog
        new = Apply(op, ins, out_vars, members[-1].site)
        for k, v in enumerate(out_vars):
            v.owner = new
            v.index = k
        fused += len(members)
        if report is not None:
            report.record("row_fusion", repr(op))
    return fused


def _program(members: list, info: dict, pos: dict, readers: dict, outs: set):
    """``(members, inputs, outputs, op)`` of one connected set, or None where it does not
    make a program (too small, mixed sizes, a path out and back in)."""
    if len(members) < MIN_MEMBERS or not any(info[n][2] == "row" for n in members):
        return None
    rows = info[members[0]][0]
    cols = {info[n][1] for n in members} - {None}
    if len(cols) != 1:
        return None
    cols = cols.pop()
    if rows * cols > MAX_ELEMS or cols > MAX_COLS:
        return None
    if any(access(v.shape, info[n][3], rows, cols) is None for n in members
           for v in n.inputs):
        return None
    members = sorted(members, key=pos.__getitem__)
    inside = set(members)
    if not _convex(inside, pos, readers):
        return None
    made = {o for n in members for o in n.outputs}
    # a value made inside is read per row; one shared by all rows ("bvec": an (R,) result
    # broadcast along a square problem's columns) exists only as a program input
    if any(v in made and access(v.shape, info[n][3], rows, cols) == "bvec"
           for n in members for v in n.inputs):
        return None
    ref: dict[Var, int] = {}
    ins: list[Var] = []
    for n in members:
        for v in n.inputs:
            if v not in made and v not in ref:
                ref[v] = len(ins)
                ins.append(v)
    k = len(ins)
    specs = []
    for n in members:
        refs = tuple(ref[v] for v in n.inputs)
        for o in n.outputs:
            ref[o] = k
            k += 1
        specs.append((n.op, refs, tuple((o.dtype, o.shape) for o in n.outputs)))
    out_vars = [o for n in members for o in n.outputs
                if o in outs or any(r not in inside for r in readers.get(o, ()))]
    for n in members:  # a member reads no value that is known only after the last row
        if info[n][2] == "full" and any(r in inside for o in n.outputs
                                        for r in readers.get(o, ())):
            return None
    if not out_vars:
        return None
    return members, ins, out_vars, RowProgram(len(ins), tuple(specs),
                                              tuple(ref[o] for o in out_vars))


def _convex(inside: set, pos: dict, readers: dict) -> bool:
    """No path from a member through a non-member back to a member."""
    hi = max(pos[n] for n in inside)
    # non-members reachable forward from the members, within the set's span
    seen: set = set()
    stack = [r for n in inside for o in n.outputs for r in readers.get(o, ())
             if r not in inside and pos[r] <= hi]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for o in n.outputs:
            for r in readers.get(o, ()):
                if r in inside:
                    return False
                if pos[r] <= hi:
                    stack.append(r)
    return True


register_pass("row_fusion", "specialize", 49.4, tags=("fusion",), needs=(Reduce, FusedReduce))(
    fuse_rows)
