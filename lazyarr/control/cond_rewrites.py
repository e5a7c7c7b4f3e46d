"""The cond rewrite: work that only one branch of a `Cond` reads moves into that branch.

A value a branch closes over is an input of the `Cond` node, and the lazy VM computes a node's
inputs only for the branch it takes. Inside a branch there is no such laziness: its program
receives every input of the branch at once. So with nested conds, a value computed outside
that only an untaken inner branch reads was computed anyway (``inv`` of a singular matrix
raised where the taken path never reads it). `sink_into_branches` moves the node of such a
value into the branch that reads it; compiling that branch then runs the same rewrite on its
own graph, which moves the node on into the inner branch. A node moves only when the branch
is its only reader: no work is added to any path.

A value that several conds on the same predicate read in the same branch (reverse mode: the
forward cond, its backward cond, and the vjps of values only that branch reads, applied under
a cond on the same predicate) has no single reader to move into. `merge_conds` first makes
such conds one (each branch computes both conds' branches, the second on the first's
outputs), as Theano merges ``ifelse`` nodes of one condition; then the value moves in.
"""

from __future__ import annotations

from ..graph.basic import Apply, Var, apply
from ..graph.clone import clone
from ..graph.fgraph import FunctionGraph
from ..graph.inner import InnerGraph
from ..rewrites.db import register_pass
from .ops import Cond
from .trace import needed_every_run


def _baked(v: Var) -> bool:
    """``v`` is a constant small enough that programs bake it in (see `graph._walk`): a branch
    captures it by value instead of taking it as an input."""
    return v.owner is None and v.const and v.data is not None and v.data.size <= 16


def _exclusive(node: Apply, positions: range, order: list, clients: dict) -> list[Apply]:
    """The nodes (in topological ``order``) whose outputs are read only at ``positions`` of
    cond ``node`` or by other such nodes: what the branch alone needs."""
    moved: set = set()
    for ap in reversed(order):  # every reader is decided before the node it reads
        if ap is node:
            continue
        readers = [(r, pos) for o in ap.outputs for r, pos in clients.get(o, ())]
        if readers and all(r in moved if r is not node else pos in positions
                           for r, pos in readers):
            moved.add(ap)
    return [ap for ap in order if ap in moved]


def _sink(fg: FunctionGraph, node: Apply, taken: bool, moved: list[Apply]) -> None:
    """Replace cond ``node`` by one whose branch ``taken`` computes the nodes ``moved``."""
    op: Cond = node.op
    g = op.true_g if taken else op.false_g
    positions = op.branch_inputs(taken)
    outer = list(node.inputs[1:1 + op.n_ops]) + [node.inputs[i] for i in positions]
    produced = {o for ap in moved for o in ap.outputs}
    inner_of: dict[Var, Var] = {}
    for o, i in zip(outer, g.inputs):
        inner_of.setdefault(o, i)
    own = list(zip(outer[op.n_ops:], g.inputs[op.n_ops:]))
    extras = [(o, i) for o, i in own if o not in produced]
    read = [(o, i) for o, i in own if o in produced]  # every position: a value read twice too
    replace: dict[Var, Var] = {}
    for ap in moved:  # the moved nodes' other inputs: the branch's own, small constants, or
        for x in ap.inputs:  # new extras
            if x in produced or x in replace:
                continue
            if x in inner_of or _baked(x):
                replace[x] = inner_of.get(x, x)
            else:
                replace[x] = inner_of[x] = Var(x.dtype, x.shape, name=x.name)
                extras.append((x, replace[x]))
    values = clone([o for o, _ in read], replace)
    body = clone(g.outputs, {i: v for (_, i), v in zip(read, values)})
    new_g = InnerGraph(list(g.inputs[:op.n_ops]) + [i for _, i in extras], body)
    n_new = len(extras)
    if taken:
        new_op = Cond(new_g, op.false_g, op.n_ops, n_new, op.n_fe)
        rest = [o for o, _ in extras] + list(node.inputs[1 + op.n_ops + op.n_te:])
    else:
        new_op = Cond(op.true_g, new_g, op.n_ops, op.n_te, n_new)
        rest = list(node.inputs[1 + op.n_ops:1 + op.n_ops + op.n_te]) + [o for o, _ in extras]
    fg.replace_all(zip(node.outputs, apply(new_op, *node.inputs[:1 + op.n_ops], *rest)))


def sink_into_branches(fg: FunctionGraph) -> int:
    """Move into a cond's branch every node that only that branch reads (directly or through
    other such nodes); returns the nodes moved. One sweep moves, per cond and branch, all
    its nodes at once; a sweep judges with the readers found before it (a node another
    cond's move reads now stays: the next sweep sees it)."""
    total = 0
    while True:
        order = fg.toposort()
        clients = fg.clients()
        moves = 0
        for node in order:
            if not isinstance(node.op, Cond):
                continue
            for taken in (True, False):
                moved = _exclusive(node, node.op.branch_inputs(taken), order, clients)
                if moved:
                    _sink(fg, node, taken, moved)
                    moves += len(moved)
                    break  # ``node`` is replaced: its other branch waits for the next sweep
        if not moves:
            return total
        total += moves


def _branch_parts(node: Apply, taken: bool) -> tuple[InnerGraph, list[Var]]:
    """The graph of branch ``taken`` of cond ``node`` and the outer variables its inputs
    take."""
    op: Cond = node.op
    g = op.true_g if taken else op.false_g
    outer = list(node.inputs[1:1 + op.n_ops]) + [node.inputs[i] for i in op.branch_inputs(taken)]
    return g, outer


def _reaches(starts: list[Var], targets: set) -> bool:
    """Whether a variable of ``targets`` is among ``starts`` or above them."""
    seen: set = set()
    stack = list(starts)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        if v in targets:
            return True
        seen.add(v)
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return False


def _mergeable(first: Apply, second: Apply) -> bool:
    """Whether cond ``second`` reads ``first``'s outputs, if at all, only directly (else the
    merged node would read a value computed from its own outputs)."""
    outs = set(first.outputs)
    return not _reaches([v for v in second.inputs[1:] if v not in outs], outs)


def _merge(fg: FunctionGraph, first: Apply, second: Apply) -> None:
    """Replace conds ``first`` and ``second`` (on one predicate, ``second`` after) by one
    whose branches compute both, ``second``'s on ``first``'s outputs; every outer value is
    an extra input of the branches that read it."""
    produced = {o: k for k, o in enumerate(first.outputs)}
    graphs, extras = [], []
    for taken in (True, False):
        g1, outer1 = _branch_parts(first, taken)
        g2, outer2 = _branch_parts(second, taken)
        inner_of: dict[Var, Var] = {}
        for v in outer1 + [v for v in outer2 if v not in produced]:
            if v not in inner_of:
                inner_of[v] = Var.input(v.dtype, v.shape, v.name)
        outs1 = clone(g1.outputs, {i: inner_of[v] for i, v in zip(g1.inputs, outer1)})
        args2 = [outs1[produced[v]] if v in produced else inner_of[v] for v in outer2]
        outs2 = clone(g2.outputs, dict(zip(g2.inputs, args2)))
        graphs.append(InnerGraph(list(inner_of.values()), outs1 + outs2))
        extras.append(list(inner_of))
    op = Cond(graphs[0], graphs[1], 0, len(extras[0]), len(extras[1]))
    new = apply(op, first.inputs[0], *extras[0], *extras[1])
    fg.replace_all(zip(list(first.outputs) + list(second.outputs), new))


def merge_conds(fg: FunctionGraph) -> int:
    """Merge conds on the same predicate variable that every run computes (merging one that
    runs only in some branch of another would run it always), where neither reads the
    other's outputs through other nodes; returns the merges made."""
    total = 0
    while True:
        always = needed_every_run(fg.outputs, operands=True)
        groups: dict[Var, list[Apply]] = {}
        for node in fg.toposort():
            if isinstance(node.op, Cond) and any(o in always for o in node.outputs):
                groups.setdefault(node.inputs[0], []).append(node)
        pair = next(((a, b) for nodes in groups.values() for i, a in enumerate(nodes)
                     for b in nodes[i + 1:] if _mergeable(a, b)), None)
        if pair is None:
            return total
        _merge(fg, *pair)
        total += 1


@register_pass("sink_into_branches", "canonicalize", 10.5, tags=("cond",), needs=(Cond,))
def _cond_pass(fg: FunctionGraph, report) -> None:
    """`sink_into_branches` as a pass (after the loop rewrites, which hoist a loop's invariant
    work out of its body first), each move recorded in the report; conds on one predicate
    are merged (`merge_conds`) and what only the merged branch reads moves in."""
    while True:
        for _ in range(sink_into_branches(fg)):
            report.record("sink_into_branches", "Cond")
        merged = merge_conds(fg)
        for _ in range(merged):
            report.record("merge_conds", "Cond")
        if not merged:
            return
