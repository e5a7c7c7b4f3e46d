"""The cond rewrite: work that only one branch of a `Cond` reads moves into that branch.

A value a branch closes over is an input of the `Cond` node, and the lazy VM computes a node's
inputs only for the branch it takes. Inside a branch there is no such laziness: its program
receives every input of the branch at once. So with nested conds, a value computed outside
that only an untaken inner branch reads was computed anyway (``inv`` of a singular matrix
raised where the taken path never reads it). `sink_into_branches` moves the node of such a
value into the branch that reads it; compiling that branch then runs the same rewrite on its
own graph, which moves the node on into the inner branch. A node moves only when the branch
is its only reader: no work is added to any path.
"""

from __future__ import annotations

from ..graph.basic import Apply, Var, apply
from ..graph.clone import clone
from ..graph.fgraph import FunctionGraph
from ..graph.inner import InnerGraph
from ..rewrites.db import register_pass
from .ops import Cond


def _baked(v: Var) -> bool:
    """``v`` is a constant small enough that programs bake it in (see `graph._walk`): a branch
    captures it by value instead of taking it as an input."""
    return v.owner is None and v.const and v.data is not None and v.data.size <= 16


def _only_reader(node: Apply, positions: range, ap: Apply, clients: dict) -> bool:
    """Every output of ``ap`` is read only by ``node``, at ``positions``."""
    for o in ap.outputs:
        for reader, pos in clients.get(o, ()):
            if reader is not node or pos not in positions:
                return False
    return True


def _movable(node: Apply, taken: bool, clients: dict) -> Apply | None:
    """A node whose outputs only branch ``taken`` of cond ``node`` reads, or None."""
    positions = node.op.branch_inputs(taken)
    for i in positions:
        ap = node.inputs[i].owner
        if ap is not None and _only_reader(node, positions, ap, clients):
            return ap
    return None


def _sink(fg: FunctionGraph, node: Apply, taken: bool, ap: Apply) -> None:
    """Replace cond ``node`` by one whose branch ``taken`` computes ``ap`` itself."""
    op: Cond = node.op
    g = op.true_g if taken else op.false_g
    positions = op.branch_inputs(taken)
    outer = list(node.inputs[1:1 + op.n_ops]) + [node.inputs[i] for i in positions]
    inner_of: dict[Var, Var] = {}
    for o, i in zip(outer, g.inputs):
        inner_of.setdefault(o, i)
    extras = [(o, i) for o, i in zip(outer[op.n_ops:], g.inputs[op.n_ops:]) if o.owner is not ap]
    for x in ap.inputs:  # the moved node's inputs: the branch's own, small constants, or
        if x in inner_of:  # new extras
            continue
        if _baked(x):
            inner_of[x] = x
        else:
            inner_of[x] = Var(x.dtype, x.shape, name=x.name)
            extras.append((x, inner_of[x]))
    moved = clone(ap.outputs, {x: inner_of[x] for x in ap.inputs})
    body = clone(g.outputs, {inner_of[o]: m for o, m in zip(ap.outputs, moved)})
    new_g = InnerGraph(list(g.inputs[:op.n_ops]) + [i for _, i in extras], body)
    n_new = len(extras)
    if taken:
        new_op = Cond(new_g, op.false_g, op.n_ops, n_new, op.n_fe)
        rest = [o for o, _ in extras] + list(node.inputs[1 + op.n_ops + op.n_te:])
    else:
        new_op = Cond(op.true_g, new_g, op.n_ops, op.n_te, n_new)
        rest = list(node.inputs[1 + op.n_ops:1 + op.n_ops + op.n_te]) + [o for o, _ in extras]
    outs = apply(new_op, *node.inputs[:1 + op.n_ops], *rest)
    for old, new in zip(node.outputs, outs):
        fg.replace(old, new)


def sink_into_branches(fg: FunctionGraph) -> int:
    """Move into a cond's branch every node that only that branch reads; returns the moves."""
    moves = 0
    while True:
        clients = fg.clients()
        for node in fg.toposort():
            if not isinstance(node.op, Cond):
                continue
            found = next(((t, ap) for t in (True, False)
                          if (ap := _movable(node, t, clients)) is not None), None)
            if found is not None:
                _sink(fg, node, *found)
                moves += 1
                break
        else:
            return moves


@register_pass("sink_into_branches", "canonicalize", 10.5, tags=("cond",))
def _cond_pass(fg: FunctionGraph, report) -> None:
    """`sink_into_branches` as a pass (after the loop rewrites, which hoist a loop's invariant
    work out of its body first), each move recorded in the report."""
    for _ in range(sink_into_branches(fg)):
        report.record("sink_into_branches", "Cond")
