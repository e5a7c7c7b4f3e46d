"""Elementwise fusion and reduction-prologue fusion (specialize phase, after BLAS recognition).

`fuse_elemwise` turns every connected group of `Elemwise`/`Cast` nodes of one output shape (and
the `BroadcastTo`/rank-padding `Reshape` views between them, and cheap nodes of a smaller shape
read only inside the group, recomputed per element) into one `Composite` node. Groups
grow from a consumer towards its producers. A node read outside its group stays computed once
and becomes one more output of the composite (never duplicated); a node joins only if no path
leaves the group and comes back (checked both ways, over the nodes between the group's
topological bounds), and a group never exceeds `MAX_OPERANDS` inputs + outputs nor
`MAX_MEMBERS` nodes. Size-1
constants become ``"const"`` steps. Shapes with a size unknown until run time are not fused (a
size that turns out to be 1 would broadcast differently from what the group assumes).

`fuse_reduce_prologue` then folds the single-output composite (or lone elementwise node) under a
`Reduce` that is its only reader into a `FusedReduce`: ``sum(exp(x - m))`` reads ``x`` once. The
native reduction kernel runs every `Reduce` kind over any axes, so every such pair is fused.

Both passes edit the graph in place and cost near-linear time: one topological sort, one client
index, and bounded searches.
"""

from __future__ import annotations

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.elemwise import Cast, Elemwise
from ..array.ops.reduce import Reduce
from ..array.ops.rowprog import RowProgram
from ..graph.basic import Apply, Var
from ..graph.fgraph import FunctionGraph
from . import _fusion
from ._fusion import Group, Index, contract, grow_groups
from .db import Report, register_pass

__all__ = ["MAX_MEMBERS", "MAX_OPERANDS", "fuse_elemwise", "fuse_reduce_prologue", "count_fused"]

_LIMITS = _fusion.limits()
#: inputs + outputs of one fused kernel: the native VM's ``MAXARGS`` (``exec_cpu/_vm.pyx``)
MAX_OPERANDS = _LIMITS["MAX_OPERANDS"]
#: nodes of one fused kernel (GCC's RTL combiner is quadratic in a long block)
MAX_MEMBERS = _LIMITS["MAX_MEMBERS"]
#: groups of at most this many elements recompute smaller-shape nodes of any function
TINY_GROUP = _LIMITS["TINY_GROUP"]
REDUCE_KINDS = frozenset({"sum", "prod", "mean", "max", "min", "all", "any"})

# The grouping searches and the contraction run in C (`_fusion`: `Index`, `Group`,
# `grow_groups`, `contract`, the membership tests `is_view`, `fusable`, `recomputable`, the
# functions cheap enough to recompute, `RECOMPUTE`, and the search limit).


def _index(fg: FunctionGraph) -> Index:
    """Topological positions and client lists of ``fg`` for the grouping searches."""
    return Index(fg.toposort(), fg.outputs)


def _drop_cyclic(idx: Index, groups: list[Group], group_of: dict) -> list[Group]:
    """Groups that each are convex may still form a cycle once all are contracted (``a1 -> b1``,
    ``b2 -> a2``): Kahn's algorithm over the contracted graph; groups left over are dropped."""
    unit = {node: group_of.get(node, node) for node in idx.order}
    deps: dict = {}
    users: dict = {}
    for node in idx.order:
        u = unit[node]
        deps.setdefault(u, set())
        for v in node.inputs:
            if v.owner is not None and unit[v.owner] is not u:
                deps[u].add(unit[v.owner])
    for u, ds in deps.items():
        for d in ds:
            users.setdefault(d, []).append(u)
    missing = {u: len(ds) for u, ds in deps.items()}
    ready = [u for u, k in missing.items() if k == 0]
    while ready:
        u = ready.pop()
        for w in users.get(u, ()):
            missing[w] -= 1
            if missing[w] == 0:
                ready.append(w)
    stuck = {u for u, k in missing.items() if k > 0}
    return [g for g in groups if g not in stuck]


def fuse_elemwise(fg: FunctionGraph, report: Report | None = None) -> int:
    """Fuse connected elementwise groups of ``fg`` into `Composite` nodes, in place; returns
    the number of composites made."""
    idx = _index(fg)
    groups, group_of = grow_groups(idx)
    # one group is convex (`Group.can_add`): only two or more may form a cycle once contracted
    groups = _drop_cyclic(idx, groups, group_of) if len(groups) > 1 else groups
    n = 0
    for g in groups:
        node = contract(g, idx)
        if node is None:
            continue
        n += 1
        if report is not None:
            report.record("elemwise_fusion", f"{len(g.members)} nodes -> {node.op!r}")
    return n


def _as_composite(node: Apply) -> Composite | None:
    op = node.op
    if isinstance(op, Composite):
        return op if op.nout == 1 else None
    n = len(node.inputs)
    dt = node.outputs[0].dtype
    if isinstance(op, Cast):
        return Composite((node.inputs[0].dtype,), (("cast", (0,), dt, None),), (1,))
    if isinstance(op, Elemwise):
        return Composite(tuple(v.dtype for v in node.inputs),
                         ((op.fn.name, tuple(range(n)), dt, None),), (n,))
    return None


def fuse_reduce_prologue(fg: FunctionGraph, report: Report | None = None) -> int:
    """Fold the elementwise producer of each `Reduce` that is its only reader into a
    `FusedReduce`, in place; returns the number of nodes fused."""
    order = fg.toposort()
    readers: dict[Var, int] = {}
    for node in order:
        for v in node.inputs:
            readers[v] = readers.get(v, 0) + 1
    for v in fg.outputs:
        readers[v] = readers.get(v, 0) + 1
    n = 0
    for node in order:
        op = node.op
        if type(op) is not Reduce or op.kind not in REDUCE_KINDS:
            continue
        x = node.inputs[0]
        p = x.owner
        if p is None or readers[x] != 1 or None in x.shape or not p.inputs:
            continue
        comp = _as_composite(p)
        if comp is None:
            continue
        new = Apply(FusedReduce(comp, op), p.inputs, node.outputs, node.site)
        node.outputs[0].owner = new
        n += 1
        if report is not None:
            report.record("reduce_fusion", f"{op!r} of {p.op!r}")
    return n


def count_fused(fg: FunctionGraph) -> int:
    """Number of fused kernels (`Composite`, `FusedReduce` and `RowProgram` nodes) in ``fg``."""
    return sum(isinstance(n.op, (Composite, FusedReduce, RowProgram)) for n in fg.toposort())


register_pass("elemwise_fusion", "specialize", 49, tags=("fusion",), needs=(Elemwise, Cast))(
    fuse_elemwise)
register_pass("reduce_fusion", "specialize", 49.25, tags=("fusion",), needs=(Reduce,))(
    fuse_reduce_prologue)
