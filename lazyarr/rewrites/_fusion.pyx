# cython: language_level=3
"""The grouping searches of elementwise fusion (`rewrites.fusion`), in C: a new graph's
compilation runs them over every node, and in Python they were about half of the fusion pass.

`Index` holds a graph's topological positions and client lists; `Group` a growing set of nodes
to fuse with its operand counts; `grow_groups` grows the groups from each consumer towards its
producers; `contract` replaces a group by one `Composite` node. The rules (which nodes may join, convexity, the operand and member bounds) are
documented in `rewrites.fusion`; this module only runs them.
"""

import math

from ..graph._ir cimport Apply, Var

from ..array.ops.composite import Composite
from ..array.ops.elemwise import Cast, Elemwise
from ..array.ops.shape import BroadcastTo, Reshape

#: inputs + outputs of one fused kernel: the native VM's ``MAXARGS`` (``exec_cpu/_vm.pyx``)
cdef Py_ssize_t MAX_OPERANDS = 96
#: nodes of one fused kernel: GCC's RTL combiner is quadratic in a long block (a 470-node
#: composite of an unrolled 40-step particle update took 17 s to compile), and a kernel
#: this long is compute-bound, so the intermediate between two halves costs little
cdef Py_ssize_t MAX_MEMBERS = 128
#: nodes a convexity search may visit before it gives up (and the node is not fused)
cdef Py_ssize_t SEARCH_LIMIT = 64
#: groups of at most this many elements recompute smaller-shape nodes of any function: fig1's
#: logreg b1 softmax, (1, 10), reads ``log`` and ``1/sum`` of (1, 1) values, each a thunk
cdef Py_ssize_t TINY_GROUP = 16
#: functions cheap enough to recompute per element of a larger group (no transcendental,
#: no division): a smaller-shape node read only inside a group joins it if it is one of these
RECOMPUTE = frozenset({
    "add", "subtract", "multiply", "negative", "positive", "abs", "square", "sign", "maximum",
    "minimum", "where", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_invert", "floor", "ceil", "trunc", "round", "conj", "real", "imag",
    "isnan", "isinf", "isfinite", "signbit", "copysign"})


def limits() -> dict:
    """The bounds above, for `rewrites.fusion` to publish."""
    return {"MAX_OPERANDS": MAX_OPERANDS, "MAX_MEMBERS": MAX_MEMBERS,
            "SEARCH_LIMIT": SEARCH_LIMIT, "TINY_GROUP": TINY_GROUP}


cpdef bint is_view(Apply node):
    """A view that broadcasting inside a composite makes free: ``BroadcastTo``, or a
    ``Reshape`` that only prepends size-1 axes."""
    cdef Py_ssize_t k, i
    op = node.op
    if isinstance(op, BroadcastTo):
        return True
    if isinstance(op, Reshape):
        x = (<Var?>node.inputs[0]).shape
        k = len(op.shape) - len(x)
        if k < 0 or op.shape[k:] != x:
            return False
        for i in range(k):
            if op.shape[i] != 1:
                return False
        return True
    return False


cdef inline object _out0(Apply node):
    return node.outputs[0]


cpdef bint fusable(Apply node, object shape):
    """``node`` may join a group of ``shape``: elementwise (or a free view) of that shape, all
    sizes known."""
    op = node.op
    if not isinstance(op, (Elemwise, Cast)) and not is_view(node):
        return False
    return (<Var?>_out0(node)).shape == shape and None not in shape


cpdef bint recomputable(Apply node, object shape):
    """A cheap elementwise node of a smaller shape that broadcasts to ``shape``: inside a group
    of that shape it is recomputed per output element (cheaper than a pass of its own). In a
    group of at most `TINY_GROUP` elements any function is (a few recomputed ``log`` or
    divisions cost less than a thunk)."""
    cdef Py_ssize_t i, off
    op = node.op
    if isinstance(op, Elemwise):
        if op.fn.name not in RECOMPUTE and not (
                None not in shape and math.prod(shape) <= TINY_GROUP):
            return False
    elif not isinstance(op, Cast):
        return False
    s = (<Var?>_out0(node)).shape
    if s == shape or None in s or None in shape or len(s) > len(shape):
        return False
    off = len(shape) - len(s)
    for i in range(len(s)):
        if s[i] != 1 and s[i] != shape[off + i]:
            return False
    return True


cdef class Index:
    """Topological positions and client lists of a graph, for the grouping searches."""

    cdef public list order
    cdef public dict pos, clients
    cdef public set escapes

    def __init__(self, list order, outputs):
        cdef Apply node
        cdef Py_ssize_t i
        self.order = order
        self.pos = {}
        self.clients = {}
        for i in range(len(order)):
            node = <Apply?>order[i]
            self.pos[node] = i
            for v in node.inputs:
                lst = self.clients.get(v)
                if lst is None:
                    self.clients[v] = [node]
                else:
                    (<list>lst).append(node)
        self.escapes = set(outputs)

    cpdef bint reaches(self, list starts, set members, Py_ssize_t lo, Py_ssize_t hi,
                       bint forward):
        """Whether a path from ``starts`` (outside ``members``) through non-members, within
        positions ``lo..hi``, meets a member; True also when the search is too long."""
        cdef set seen = set()
        cdef list stack = []
        cdef dict pos = self.pos, clients = self.clients
        cdef Apply n
        cdef Py_ssize_t p
        for m in starts:
            p = pos[m]
            if lo <= p <= hi:
                stack.append(m)
        while stack:
            n = <Apply?>stack.pop()
            if n in members:
                return True
            if n in seen:
                continue
            seen.add(n)
            if len(seen) > SEARCH_LIMIT:
                return True
            if forward:
                for o in n.outputs:
                    for c in clients.get(o, ()):
                        p = pos[c]
                        if lo <= p <= hi:
                            stack.append(c)
            else:
                for v in n.inputs:
                    w = (<Var?>v).owner
                    if w is not None:
                        p = pos[w]
                        if lo <= p <= hi:
                            stack.append(w)
        return False


cdef class Group:
    """A growing set of nodes to fuse, with its operand counts kept up to date: ``reads``,
    the reads of non-member values by members; ``ext``, per member output, its readers
    outside (graph outputs count); ``n_out``, the member outputs with a reader outside."""

    cdef public Index idx
    cdef public object shape
    cdef public set members
    cdef public Py_ssize_t lo, hi, n_out
    cdef public dict reads, ext

    def __init__(self, Apply seed, Index idx):
        self.idx = idx
        self.shape = (<Var?>_out0(seed)).shape
        self.members = set()
        self.lo = self.hi = idx.pos[seed]
        self.reads = {}
        self.ext = {}
        self.n_out = 0
        self.add(seed)

    cpdef Py_ssize_t operands(self):
        return len(self.reads) + self.n_out

    cpdef add(self, Apply node):
        cdef Py_ssize_t p, k
        cdef set members = self.members
        cdef dict clients = self.idx.clients
        members.add(node)
        p = self.idx.pos[node]
        if p < self.lo:
            self.lo = p
        if p > self.hi:
            self.hi = p
        for o in node.outputs:
            self.reads.pop(o, None)
            k = 0
            for c in clients.get(o, ()):
                if c not in members:
                    k += 1
            if o in self.idx.escapes:
                k += 1
            self.ext[o] = k
            if k > 0:
                self.n_out += 1
        for v in node.inputs:
            w = (<Var?>v).owner
            if w is not None and w in members:
                k = self.ext[v] - 1
                self.ext[v] = k
                if k == 0:
                    self.n_out -= 1
            else:
                self.reads[v] = self.reads.get(v, 0) + 1

    cpdef bint only_read_inside(self, Apply node):
        """Whether every reader of ``node``'s output is a member (and it is no graph output)."""
        out = _out0(node)
        if out in self.idx.escapes:
            return False
        for c in self.idx.clients.get(out, ()):
            if c not in self.members:
                return False
        return True

    cpdef bint can_add(self, Apply node):
        cdef Index idx = self.idx
        cdef set members = self.members
        cdef list outside = []
        cdef list before = []
        cdef Py_ssize_t new_reads = 0, p
        out = _out0(node)
        for c in idx.clients.get(out, ()):
            if c not in members:
                outside.append(c)
        if is_view(node) and (outside or out in idx.escapes):
            return False  # a view is free only when nothing else needs it materialized
        for v in node.inputs:
            w = (<Var?>v).owner
            if v not in self.reads and (w is None or w not in members):
                new_reads += 1
        if (self.operands() + new_reads + (1 if outside else 0) > MAX_OPERANDS
                or len(members) >= MAX_MEMBERS):
            return False
        # a path leaving the node and coming back to a member ends at a member after it;
        # one leaving a member and coming back to the node starts at a member before it
        p = idx.pos[node]
        if outside and idx.reaches(outside, members, p, self.hi, True):
            return False
        for v in node.inputs:
            w = (<Var?>v).owner
            if w is not None and w not in members:
                before.append(w)
        return not (before and idx.reaches(before, members, self.lo, p, False))


def grow_groups(Index idx) -> tuple:
    """``(groups, group_of)``: the groups of at least two fusable nodes (not counting views),
    grown from each consumer (latest first) towards its producers, and each member's group."""
    cdef dict group_of = {}
    cdef list groups = []
    cdef list frontier
    cdef Group g
    cdef Apply seed, m, p
    cdef Py_ssize_t i, real
    for i in range(len(idx.order) - 1, -1, -1):
        seed = <Apply?>idx.order[i]
        if seed in group_of or is_view(seed):
            continue
        shape = (<Var?>_out0(seed)).shape
        if not fusable(seed, shape):
            continue
        g = Group(seed, idx)
        frontier = [seed]
        while frontier:
            m = <Apply?>frontier.pop()
            for v in m.inputs:
                w = (<Var?>v).owner
                if w is None or w in g.members or w in group_of:
                    continue
                p = <Apply?>w
                if not fusable(p, shape) and not (recomputable(p, shape)
                                                  and g.only_read_inside(p)):
                    continue
                if not g.can_add(p):
                    continue
                g.add(p)
                frontier.append(p)
        real = 0
        for m in g.members:
            if not is_view(m):
                real += 1
        if real >= 2:
            groups.append(g)
            for m in g.members:
                group_of[m] = g
    return groups, group_of


cdef inline bint _small_const(Var v):
    return v.owner is None and v.const and v.data is not None and v.data.size == 1


cdef list _inputs(list members, set inside):
    """Values the members read from outside ``inside``, in first-read order."""
    cdef dict seen = {}
    cdef list out = []
    for m in members:
        for v in (<Apply?>m).inputs:
            if v in seen:
                continue
            seen[v] = None
            w = (<Var?>v).owner
            if w is None or w not in inside:
                out.append(v)
    return out


cdef tuple _broadcast(list vs):
    """The shape ``vs`` broadcast to (None where two sizes other than 1 differ)."""
    cdef Py_ssize_t nd = 0, i, n
    cdef set sizes
    cdef list out = []
    if not vs:
        return ()
    for v in vs:
        n = len((<Var?>v).shape)
        if n > nd:
            nd = n
    for i in range(nd, 0, -1):  # axis -i
        sizes = set()
        for v in vs:
            s = (<Var?>v).shape
            n = len(s)
            if i <= n:
                sizes.add(s[n - i])
        sizes.discard(1)
        out.append(sizes.pop() if len(sizes) == 1 else (1 if not sizes else None))
    return tuple(out)


def contract(Group g, Index idx):
    """Replace the group's nodes by one `Composite` node, keeping the output variables (None:
    the group cannot be expressed as one composite, and is left as it is)."""
    cdef dict pos = idx.pos
    cdef list members = sorted(g.members, key=pos.__getitem__)
    cdef set inside = g.members
    cdef list inputs, real, views, steps, outs
    cdef dict ref
    cdef Py_ssize_t n_in, j
    cdef Apply m, node, last
    cdef Var o
    shape = g.shape
    inputs = _inputs(members, inside)
    if _broadcast(inputs) != shape:
        # only a view gave the group its rank or size (``reshape(x, (1, n))``): keep the
        # views as nodes, their outputs as inputs; not possible if a view reads a member
        views = [x for x in members
                 if is_view(<Apply?>x) and (<Var?>(<Apply?>x).inputs[0]).shape != shape]
        for x in views:
            if (<Var?>(<Apply?>x).inputs[0]).owner in inside:
                return None
        members = [x for x in members if x not in views]
        inside = set(members)
        inputs = _inputs(members, inside)
    real = [v for v in inputs if not _small_const(<Var?>v)]
    if not real or _broadcast(real) != shape:
        real = inputs  # the constants give the shape: keep them as inputs
    ref = {}
    for j in range(len(real)):
        ref[real[j]] = j
    steps = []
    n_in = len(real)
    for v in inputs:
        if v not in ref:
            steps.append(("const", (), (<Var?>v).dtype, (<Var?>v).data.item()))
            ref[v] = n_in + len(steps) - 1
    outs = []
    for x in members:
        m = <Apply?>x
        o = <Var?>m.outputs[0]
        op = m.op
        if isinstance(op, Elemwise):
            steps.append((op.fn.name, tuple([ref[v] for v in m.inputs]), o.dtype, None))
            ref[o] = n_in + len(steps) - 1
        elif isinstance(op, Cast):
            steps.append(("cast", (ref[m.inputs[0]],), o.dtype, None))
            ref[o] = n_in + len(steps) - 1
        else:  # a view: the composite broadcasts its inputs anyway
            ref[o] = ref[m.inputs[0]]
        if g.ext.get(o):
            outs.append(o)
    comp = Composite(tuple([(<Var?>v).dtype for v in real]), tuple(steps),
                     tuple([ref[x] for x in outs]))
    last = <Apply?>members[len(members) - 1]
    node = Apply(comp, real, outs)
    node._code, node._lasti, node._site = last._code, last._lasti, last._site
    for j in range(len(outs)):
        o = <Var?>outs[j]
        o.owner = node
        o.index = j
    return node
