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

import math
from collections.abc import Sequence

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.elemwise import Cast, Elemwise
from ..array.ops.reduce import Reduce
from ..array.ops.rowprog import RowProgram
from ..array.ops.shape import BroadcastTo, Reshape
from ..graph.basic import Apply, Var
from ..graph.fgraph import FunctionGraph
from .db import Report, register_pass

__all__ = ["MAX_MEMBERS", "MAX_OPERANDS", "fuse_elemwise", "fuse_reduce_prologue", "count_fused"]

#: inputs + outputs of one fused kernel: the native VM's ``MAXARGS`` (``exec_cpu/_vm.pyx``)
MAX_OPERANDS = 96
#: nodes of one fused kernel: GCC's RTL combiner is quadratic in a long block (a 470-node
#: composite of an unrolled 40-step particle update took 17 s to compile), and a kernel
#: this long is compute-bound, so the intermediate between two halves costs little
MAX_MEMBERS = 128
#: nodes a convexity search may visit before it gives up (and the node is not fused)
SEARCH_LIMIT = 64
REDUCE_KINDS = frozenset({"sum", "prod", "mean", "max", "min", "all", "any"})
#: groups of at most this many elements recompute smaller-shape nodes of any function: fig1's
#: logreg b1 softmax, (1, 10), reads ``log`` and ``1/sum`` of (1, 1) values, each a thunk
TINY_GROUP = 16
#: functions cheap enough to recompute per element of a larger group (no transcendental,
#: no division): a smaller-shape node read only inside a group joins it if it is one of these
RECOMPUTE = frozenset({
    "add", "subtract", "multiply", "negative", "positive", "abs", "square", "sign", "maximum",
    "minimum", "where", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_invert", "floor", "ceil", "trunc", "round", "conj", "real", "imag",
    "isnan", "isinf", "isfinite", "signbit", "copysign"})


def _is_view(node: Apply) -> bool:
    """A view that broadcasting inside a composite makes free: ``BroadcastTo``, or a
    ``Reshape`` that only prepends size-1 axes."""
    op = node.op
    if isinstance(op, BroadcastTo):
        return True
    if isinstance(op, Reshape):
        x = node.inputs[0].shape
        k = len(op.shape) - len(x)
        return k >= 0 and op.shape[k:] == x and all(d == 1 for d in op.shape[:k])
    return False


def _fusable(node: Apply, shape: tuple) -> bool:
    op = node.op
    if not isinstance(op, (Elemwise, Cast)) and not _is_view(node):
        return False
    return node.outputs[0].shape == shape and None not in shape


def _recomputable(node: Apply, shape: tuple) -> bool:
    """A cheap elementwise node of a smaller shape that broadcasts to ``shape``: inside a group
    of that shape it is recomputed per output element (cheaper than a pass of its own). In a
    group of at most `TINY_GROUP` elements any function is (a few recomputed ``log`` or
    divisions cost less than a thunk)."""
    op = node.op
    if isinstance(op, Elemwise):
        if op.fn.name not in RECOMPUTE and not (
                None not in shape and math.prod(shape) <= TINY_GROUP):
            return False
    elif not isinstance(op, Cast):
        return False
    s = node.outputs[0].shape
    if s == shape or None in s or None in shape or len(s) > len(shape):
        return False
    return all(d == 1 or d == e for d, e in zip(s, shape[len(shape) - len(s):]))


class _Index:
    """Topological positions and client lists of a graph, for the grouping searches."""

    def __init__(self, fg: FunctionGraph):
        self.order = fg.toposort()
        self.pos = {node: i for i, node in enumerate(self.order)}
        self.clients: dict[Var, list[Apply]] = {}
        for node in self.order:
            for v in node.inputs:
                self.clients.setdefault(v, []).append(node)
        self.escapes = set(fg.outputs)

    def reaches(self, starts: Sequence[Apply], members: set, lo: int, hi: int,
                forward: bool) -> bool:
        """Whether a path from ``starts`` (outside ``members``) through non-members, within
        positions ``lo..hi``, meets a member; True also when the search is too long."""
        seen: set[Apply] = set()
        stack = [n for n in starts if lo <= self.pos[n] <= hi]
        pos, clients = self.pos, self.clients
        while stack:
            n = stack.pop()
            if n in members:
                return True
            if n in seen:
                continue
            seen.add(n)
            if len(seen) > SEARCH_LIMIT:
                return True
            if forward:
                nxt = [c for o in n.outputs for c in clients.get(o, ())]
            else:
                nxt = [v.owner for v in n.inputs if v.owner is not None]
            stack.extend(m for m in nxt if lo <= pos[m] <= hi)
        return False


class _Group:
    """A growing set of nodes to fuse, with its operand counts kept up to date."""

    def __init__(self, seed: Apply, idx: _Index):
        self.idx = idx
        self.shape = seed.outputs[0].shape
        self.members: set[Apply] = set()
        self.lo = self.hi = idx.pos[seed]
        self.reads: dict[Var, int] = {}  # reads of non-member values by members
        self.ext: dict[Var, int] = {}  # member outputs: readers outside (graph outputs count)
        self.n_out = 0  # member outputs with a reader outside
        self.add(seed)

    def operands(self) -> int:
        return len(self.reads) + self.n_out

    def add(self, node: Apply) -> None:
        self.members.add(node)
        p = self.idx.pos[node]
        self.lo, self.hi = min(self.lo, p), max(self.hi, p)
        for o in node.outputs:
            self.reads.pop(o, None)
            k = (sum(1 for c in self.idx.clients.get(o, ()) if c not in self.members)
                 + (o in self.idx.escapes))
            self.ext[o] = k
            self.n_out += k > 0
        for v in node.inputs:
            if v.owner is not None and v.owner in self.members:
                self.ext[v] -= 1
                self.n_out -= self.ext[v] == 0
            else:
                self.reads[v] = self.reads.get(v, 0) + 1

    def only_read_inside(self, node: Apply) -> bool:
        """Whether every reader of ``node``'s output is a member (and it is no graph output)."""
        out = node.outputs[0]
        return out not in self.idx.escapes and all(
            c in self.members for c in self.idx.clients.get(out, ()))

    def can_add(self, node: Apply) -> bool:
        idx, members = self.idx, self.members
        out = node.outputs[0]
        outside = [c for c in idx.clients.get(out, ()) if c not in members]
        if _is_view(node) and (outside or out in idx.escapes):
            return False  # a view is free only when nothing else needs it materialized
        new_reads = sum(1 for v in node.inputs
                        if v not in self.reads and (v.owner is None or v.owner not in members))
        if (self.operands() + new_reads + (1 if outside else 0) > MAX_OPERANDS
                or len(members) >= MAX_MEMBERS):
            return False
        # a path leaving the node and coming back to a member ends at a member after it;
        # one leaving a member and coming back to the node starts at a member before it
        p = idx.pos[node]
        if outside and idx.reaches(outside, members, p, self.hi, forward=True):
            return False
        before = [v.owner for v in node.inputs if v.owner is not None and v.owner not in members]
        return not (before and idx.reaches(before, members, self.lo, p, forward=False))


def _grow_groups(idx: _Index) -> tuple[list[_Group], dict[Apply, _Group]]:
    group_of: dict[Apply, _Group] = {}
    groups: list[_Group] = []
    for seed in reversed(idx.order):
        if seed in group_of or _is_view(seed) or not _fusable(seed, seed.outputs[0].shape):
            continue
        shape = seed.outputs[0].shape
        g = _Group(seed, idx)
        frontier = [seed]
        while frontier:
            m = frontier.pop()
            for v in m.inputs:
                p = v.owner
                if p is None or p in g.members or p in group_of:
                    continue
                if not _fusable(p, shape) and not (_recomputable(p, shape)
                                                   and g.only_read_inside(p)):
                    continue
                if not g.can_add(p):
                    continue
                g.add(p)
                frontier.append(p)
        if sum(1 for m in g.members if not _is_view(m)) >= 2:
            groups.append(g)
            for m in g.members:
                group_of[m] = g
    return groups, group_of


def _drop_cyclic(idx: _Index, groups: list[_Group], group_of: dict) -> list[_Group]:
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


def _small_const(v: Var) -> bool:
    return v.owner is None and v.const and v.data is not None and v.data.size == 1


def _contract(g: _Group, idx: _Index) -> Apply | None:
    """Replace the group's nodes by one `Composite` node, keeping the output variables (None:
    the group cannot be expressed as one composite, and is left as it is)."""
    members = sorted(g.members, key=idx.pos.__getitem__)
    shape = g.shape
    inside = g.members
    inputs = _inputs(members, inside)
    if _broadcast(inputs) != shape:
        # only a view gave the group its rank or size (``reshape(x, (1, n))``): keep the
        # views as nodes, their outputs as inputs; not possible if a view reads a member
        views = [m for m in members if _is_view(m) and m.inputs[0].shape != shape]
        if any(m.inputs[0].owner in inside for m in views):
            return None
        members = [m for m in members if m not in views]
        inside = set(members)
        inputs = _inputs(members, inside)
    real = [v for v in inputs if not _small_const(v)]
    if not real or _broadcast(real) != shape:
        real = inputs  # the constants give the shape: keep them as inputs
    ref: dict[Var, int] = {v: i for i, v in enumerate(real)}
    steps: list[tuple] = []
    n_in = len(real)

    def step(s: tuple) -> int:
        steps.append(s)
        return n_in + len(steps) - 1

    for v in inputs:
        if v not in ref:
            ref[v] = step(("const", (), v.dtype, v.data.item()))
    outs: list[Var] = []
    for m in members:
        o = m.outputs[0]
        op = m.op
        if isinstance(op, Elemwise):
            ref[o] = step((op.fn.name, tuple(ref[v] for v in m.inputs), o.dtype, None))
        elif isinstance(op, Cast):
            ref[o] = step(("cast", (ref[m.inputs[0]],), o.dtype, None))
        else:  # a view: the composite broadcasts its inputs anyway
            ref[o] = ref[m.inputs[0]]
        if g.ext.get(o):
            outs.append(o)
    comp = Composite(tuple(v.dtype for v in real), tuple(steps), tuple(ref[o] for o in outs))
    node = Apply(comp, real, outs, members[-1].site)
    for j, o in enumerate(outs):
        o.owner, o.index = node, j
    return node


def _inputs(members: list[Apply], inside: set) -> list[Var]:
    """Values the members read from outside ``inside``, in first-read order."""
    return [v for v in dict.fromkeys(v for m in members for v in m.inputs)
            if v.owner is None or v.owner not in inside]


def _broadcast(vs: Sequence[Var]) -> tuple:
    if not vs:
        return ()
    nd = max(len(v.shape) for v in vs)
    out = []
    for i in range(-nd, 0):
        sizes = {v.shape[i] for v in vs if -i <= len(v.shape)} - {1}
        out.append(sizes.pop() if len(sizes) == 1 else (1 if not sizes else None))
    return tuple(out)


def fuse_elemwise(fg: FunctionGraph, report: Report | None = None) -> int:
    """Fuse connected elementwise groups of ``fg`` into `Composite` nodes, in place; returns
    the number of composites made."""
    idx = _Index(fg)
    groups, group_of = _grow_groups(idx)
    groups = _drop_cyclic(idx, groups, group_of) if groups else groups
    n = 0
    for g in groups:
        node = _contract(g, idx)
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
