"""Tracing a Python function into an `InnerGraph`, with pytrees and captured outer values.

A body is called once on Arrays over fresh symbolic inputs. Whatever the outputs reach that is
not one of those inputs (an outer array the body closes over, a NumPy array, a symbolic input of
an enclosing trace) becomes an explicit extra input of the node: the returned ``extras`` are the
outer variables to feed there, in order. With ``hoist="safe"`` (loops) every sub-graph that
does not depend on the body's inputs and cannot raise is lifted whole, so loop-invariant work
runs once, before the loop (work that may raise stays in the body: a loop of no step runs
none of it); ``"steps"`` (a loop known to run a step) lifts such work too where every step
computes it anyway (not only under a ``cond``); ``hoist=True`` (compile) lifts raising work
too; with ``hoist=False`` (``cond`` branches) only leaves are lifted and computation stays
inside the branch, so an untaken branch computes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..array import coerce
from ..array._front import drop_unheld, live_count
from ..array.ops.creation import Alloc
from ..diff.engine import deep_graphs
from ..graph._walk import release_cut
from ..graph.basic import Var, may_raise_at
from ..graph.clone import copy_apply
from ..graph.fgraph import SMALL_CONST
from ..graph.fold import fold
from ..graph.inner import InnerGraph
from ..graph.pytree import flatten, struct_str, unflatten  # noqa: F401  (re-exported)
from ..graph.toposort import toposort


def to_vars(leaves: Sequence) -> list[Var]:
    """Graph variables for pytree leaves (Arrays, NumPy arrays, Python scalars)."""
    return [coerce.as_var(x) for x in leaves]


# ---- tracing ---------------------------------------------------------------------------------


class Traced:
    """The result of tracing: the closed inner graph, the outer variables fed to its extra
    inputs, and the output structure."""

    __slots__ = ("graph", "extras", "out_struct", "n_args")

    def __init__(self, graph: InnerGraph, extras: list[Var], out_struct: Any, n_args: int):
        self.graph = graph
        self.extras = extras
        self.out_struct = out_struct
        self.n_args = n_args

    @property
    def out_types(self) -> list[tuple[np.dtype, tuple]]:
        return [(v.dtype, v.shape) for v in self.graph.outputs]


def symbolic(dtype: np.dtype, shape: tuple, name: str | None = None):
    """An Array over a fresh symbolic input."""
    return coerce.wrap(Var.input(dtype, shape, name))


def trace(fn: Callable, arg_types: Sequence[tuple[np.dtype, tuple]], arg_struct: Any,
          hoist: bool | str, what: str) -> Traced:
    """Call ``fn`` on symbolic Arrays of ``arg_types`` (arranged as ``arg_struct``, whose top is
    the tuple of positional arguments) and close the result into an `InnerGraph`. The
    pending-depth bound is lifted while ``fn`` runs: realizing a long chain of its body would
    need the value of a symbolic input."""
    ins = [Var.input(dt, sh, f"{what}_in{i}") for i, (dt, sh) in enumerate(arg_types)]
    mark = live_count()
    with deep_graphs():
        args = unflatten(arg_struct, [coerce.wrap(v) for v in ins])
        out = fn(*args)
    out_leaves, out_struct = flatten(out)
    try:
        outs = to_vars(out_leaves)
    except TypeError as exc:
        raise TypeError(f"{what} must return arrays (or pytrees of arrays): {exc}") from None
    new_outs, extras, lifted = close(ins, outs, hoist, closure_vars(fn),
                                     keep_fills=what in RUNS_ONCE)
    traced = Traced(InnerGraph(ins + lifted, new_outs), extras, out_struct, len(ins))
    # the body's own graph is garbage now (the inner graph is a copy): freed at once, not by
    # a collection, so that an outer buffer it reads (a weight the body closes over) is dead
    # when a step's update could take it over. What is still held (the extras fed to the
    # node, outer arrays) stays, with all it reaches (`release_cut` counts references).
    nodes = toposort(outs)
    del args, out, out_leaves, outs
    drop_unheld(mark)
    release_cut(nodes)
    return traced


#: traced functions whose graph runs once per call (not per loop step): a fill of a constant
#: (``zeros``) stays in their graph, so that rewrites see the zeros (an accumulator that starts
#: at zero, a scatter into zeros) instead of an input
RUNS_ONCE = ("compile",)


def _fill(v: Var) -> bool:
    """``v`` is an `Alloc` of a small constant (``zeros``, ``full``)."""
    o = v.owner
    return o is not None and isinstance(o.op, Alloc) and _small_const(o.inputs[0])


def _small_const(v: Var) -> bool:
    return v.owner is None and v.const and v.data is not None and v.data.size <= SMALL_CONST


def depends_and_raises(outs: Sequence[Var], ins: set) -> dict:
    """For every variable reachable from ``outs``: ``(does it depend on one of ins, may
    computing it raise for some values)`` (an op whose `Op.raises_on_values` is not False on
    the way, or a size known only at run time, which kernels check), in one walk."""
    return fold(outs, lambda v: (v in ins, False), _combine, with_node=True)


def _combine(values: list, node) -> tuple[bool, bool]:
    dep = raises = False
    for d, r in values:
        dep = dep or d
        raises = raises or r
    return dep, raises or may_raise_at(node)


def needed_every_run(outs: Sequence[Var], operands: bool = False) -> set:
    """The variables computing ``outs`` always computes: those reached from them without
    passing through a lazy op's inputs other than its first (a ``cond`` asks for its
    predicate, then only for the taken branch's inputs). ``operands``: a ``cond``'s operands
    count too (both branches take them: the cond computes them whichever runs)."""
    needed: set = set()
    stack = list(outs)
    while stack:
        v = stack.pop()
        if v in needed:
            continue
        needed.add(v)
        node = v.owner
        if node is not None:
            op = node.op
            if not op.lazy:
                stack.extend(node.inputs)
            else:  # a cond's operands follow its predicate (`Cond.n_ops`)
                stack.extend(node.inputs[:1 + (getattr(op, "n_ops", 0) if operands else 0)])
    return needed


def closure_vars(fn: Callable) -> set:
    """The variables of the arrays ``fn`` closes over (closure cells and default arguments,
    through tuples, lists and dicts): values that exist outside the traced function."""
    found: set = set()
    todo = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
            if _cell_full(c)]
    todo += list(getattr(fn, "__defaults__", None) or ())
    depth = 0
    while todo and depth < 10_000:
        depth += 1
        x = todo.pop()
        if isinstance(x, (tuple, list)):
            todo.extend(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
        elif isinstance(getattr(x, "_v", None), Var):
            found.add(x._v)
    return found


def _cell_full(cell) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # a cell not yet assigned
        return False
    return True


def close(ins: Sequence[Var], outs: Sequence[Var], hoist: bool | str,
          outer: set = frozenset(),
          keep_fills: bool = False) -> tuple[list[Var], list[Var], list[Var]]:
    """Clone the graph from ``ins`` to ``outs``, replacing what must come from outside by new
    symbolic inputs. Returns ``(new outputs, outer variables, their symbolic stand-ins)``.

    ``hoist``: True lifts every sub-graph that does not depend on ``ins``; ``"safe"`` only
    those that cannot raise (`depends_and_raises`): a loop that may run no step, or a
    ``cond`` branch not taken inside it, must not fail on work lifted out of it (``inv`` of a
    singular matrix), so such work stays where it is read; ``"steps"`` (a loop known to run a
    step)
    also lifts work that may raise where every step computes it anyway (not only under a
    lazy op: a ``cond``'s branch, `needed_every_run`). ``outer``: variables known to exist
    outside the traced function (its closure): lifted whole even without ``hoist`` (computed
    once outside, and differentiable as themselves). ``keep_fills``: fills of constants stay
    in the graph instead of being lifted."""
    flags = depends_and_raises(outs, set(ins))
    safe_only = hoist in ("safe", "steps")
    always = needed_every_run(outs) if hoist == "steps" else set()
    memo: dict = {v: v for v in ins}
    extras: list[Var] = []
    lifted: list[Var] = []

    def lift(v: Var) -> Var:
        s = Var.input(v.dtype, v.shape, f"outer{len(extras)}")
        extras.append(v)
        lifted.append(s)
        memo[v] = s
        return s

    stack = list(outs)
    while stack:
        v = stack[-1]
        if v in memo:
            stack.pop()
            continue
        node = v.owner
        if node is None:
            stack.pop()
            memo[v] = v if _small_const(v) else lift(v)
            continue
        dep, raises = flags[v]
        liftable = not (safe_only and raises) or hoist == "steps" and v in always
        if ((v in outer or hoist and liftable) and not dep
                and not (keep_fills and _fill(v))):
            stack.pop()
            lift(v)
            continue
        todo = [i for i in node.inputs if i not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        copy_apply(node, [memo[i] for i in node.inputs], memo)
    return [memo[v] for v in outs], extras, lifted


def count_nodes(graph: InnerGraph) -> int:
    """Number of applies in an inner graph (tests and rewrites count them)."""
    return len(graph.fgraph().toposort())
