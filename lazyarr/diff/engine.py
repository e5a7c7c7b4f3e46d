"""The differentiation engine: reverse (vjp) and forward (jvp) sweeps over a recorded tape.

A `Tape` is the list of applies between some input variables and some output variables, in
topological order, taken when the tape is made. Materializing a value later turns its variables
into leaves (``Var.realize_to`` drops their owner), but the recorded applies keep their inputs
and outputs, so the sweeps still find the path. Rules emit ordinary lazyarr graph ops, so the
derivatives are graphs again: optimized, fused and differentiable.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..array import _front
from ..array.coerce import Array, wrap
from ..graph import basic
from ..graph.basic import Apply, Var
from ..graph.userline import format_site
from . import _fastgrad
from .registry import jvp_rule, vjp_rule
from .util import is_differentiable, match

__all__ = ["Gated", "Tape", "deep_graphs", "topo_applies"]


#: ``with deep_graphs():`` while differentiating, long pending chains are not realized as they
#: are wrapped (see ``MAX_PENDING_DEPTH`` in ``array/materialize.py``): that would cut the graph
#: being differentiated. The bound applies again to the results once the block is left. It is
#: lifted in the calling thread only (`_front.lift_depth_bound`). C (`_fastgrad.DeepGraphs`):
#: eager ``value_and_grad`` enters it every step.
deep_graphs = _fastgrad.DeepGraphs
_fastgrad.bind_limits(_front.lift_depth_bound, _front.restore_depth_bound)


_rule_state = threading.local()


def connected_inputs() -> tuple[bool, ...] | None:
    """While a vjp rule runs in a reverse sweep: per input of the node it differentiates,
    whether that input is connected to what is differentiated (the sweep drops the others'
    cotangents, so a rule may skip them: a loop's accumulators for constants nothing is
    differentiated against cost work, and their partials, such as ``log(x) * x**y`` for the
    exponent of ``x ** y`` at ``x < 0``, can turn a higher order's zero into NaN); None
    elsewhere (every input may be wanted)."""
    return getattr(_rule_state, "connected", None)


def _call(rule, ap: Apply, arrays: dict[int, Array], cts: list,
          connected: tuple[bool, ...] | None = None) -> list:
    """``rule`` applied to node ``ap`` (Arrays for its variables made once per sweep, in
    ``arrays``), with `connected_inputs` answering ``connected``. Rules build their nodes
    without looking up the user's frame for each (a walk up the stack from deep inside the
    engine); `_stamp` gives them the site of the node they differentiate instead, so run-time
    errors still name a user line."""
    def arr(v: Var) -> Array:
        a = arrays.get(id(v))
        if a is None:
            a = arrays[id(v)] = wrap(v)
        return a

    tracking = basic.track_sites
    basic.track_sites = False
    outer = getattr(_rule_state, "connected", None)
    _rule_state.connected = connected
    try:
        res = rule(ap.op, [arr(v) for v in ap.inputs], [arr(o) for o in ap.outputs], cts)
    finally:
        basic.track_sites = tracking
        _rule_state.connected = outer
    if tracking:
        _stamp(res, ap.site)
    return res


def _at_site(site, build, *args) -> Array:
    """``build(*args)`` with its new nodes given ``site`` (as `_call` gives a rule's): the
    engine's own nodes for a node's (co)tangent, the reduction to an input's shape (a size
    checked when it runs) and the sum with earlier ones, name that node's line, not the
    transform's caller's."""
    tracking = basic.track_sites
    basic.track_sites = False
    try:
        res = build(*args)
    finally:
        basic.track_sites = tracking
    if tracking:
        _stamp((res,), site)
    return res


def _stamp(results, site) -> None:
    """Give ``site`` to the nodes just built for ``results`` (those without a site yet)."""
    if site is None:
        return
    stack = [r._v.owner for r in results if isinstance(r, Array)]
    while stack:
        ap = stack.pop()
        if ap is None or ap.site is not None:
            continue
        ap.site = site
        stack.extend(v.owner for v in ap.inputs)


def topo_applies(outputs: Sequence[Var], stop: Sequence[Var] = ()) -> list[Apply]:
    """The applies that ``outputs`` depend on, each once, inputs before consumers; the walk
    does not go above the variables in ``stop``."""
    order: list[Apply] = []
    seen: set[int] = set()
    stop_ids = {id(v) for v in stop}
    for out in outputs:
        if out.owner is None or id(out.owner) in seen or id(out) in stop_ids:
            continue
        stack = [(out.owner, False)]
        while stack:
            ap, done = stack.pop()
            if done:
                order.append(ap)
                continue
            if id(ap) in seen:
                continue
            seen.add(id(ap))
            stack.append((ap, True))
            for v in ap.inputs:
                o = v.owner
                if o is not None and id(o) not in seen and id(v) not in stop_ids:
                    stack.append((o, False))
    return order


class Gated:
    """A rule's cotangent ``ct`` that is zero unless some branch of a lazy op runs (a ``cond``'s
    cotangent of a value only one branch reads). ``gate`` names that branch (equal gates: the
    same one) and, as the vjp rules are linear in the cotangents, applies a rule under it:
    ``gate.pull(ap, call, cts, tape_outputs, memo)`` is ``call(cts)``, built so that the
    values only that branch computes are computed only when it runs (``memo``: one per sweep).
    Gates compose: ``gate.then(inner)`` is ``inner``'s branch within ``gate``'s (a rule pulled
    under ``gate`` that returns a cotangent gated by ``inner``), and ``a.join(b)`` the gate a
    sum of cotangents under ``a`` and ``b`` is under (None: none). The engine keeps joined
    gates on sums and pulls every node whose cotangents all have a gate through their join.
    Gates come from the graph's structure, never from cotangent values."""

    __slots__ = ("ct", "gate")

    def __init__(self, ct: Array, gate) -> None:
        self.ct, self.gate = ct, gate


def _join(a, b):
    return None if a is None or b is None else a.join(b)


def _common_gate(gates: dict, outputs: Sequence[Var], cts: list):
    """The gate all of ``outputs``' cotangents ``cts`` (None: zero) are under (None: some
    are not)."""
    gate = first = None
    for o, c in zip(outputs, cts):
        if c is not None:
            g = gates.get(id(o))
            gate = g if first is None else _join(gate, g)
            first = True
            if gate is None:
                return None
    return gate


def _no_rule(kind: str, ap: Apply) -> NotImplementedError:
    return NotImplementedError(f"no {kind} rule is registered for op {ap.op!r} (built at "
                               f"{format_site(ap.site)})")


class Tape:
    """The applies on the paths from ``inputs`` to ``outputs`` (Vars), in topological order.

    With ``stop=True`` the inputs are treated as independent leaves (the graph above them is
    not walked); by default an input that depends on another gets total derivatives.
    ``constants`` are treated as constants: no derivative flows through them (Theano's
    ``consider_constant``)."""

    def __init__(self, outputs: Sequence[Var], inputs: Sequence[Var], stop: bool = False,
                 constants: Sequence[Var] = ()):
        self.outputs = list(outputs)
        self.inputs = list(inputs)
        # structural paths decide what is connected; the sweeps follow only the paths that
        # carry derivatives (values of a floating or complex dtype)
        linked = {id(v) for v in inputs}
        connected = {id(v) for v in inputs if is_differentiable(v.dtype)}
        paths, nodes = [], []
        barrier = list(constants) + (self.inputs if stop else [])
        # a constant that is one output of a node reached through another stays unconnected
        fixed = {id(v) for v in constants}
        for ap in topo_applies(self.outputs, barrier):
            if any(id(v) in linked for v in ap.inputs):
                paths.append(ap)
                linked.update(id(o) for o in ap.outputs if id(o) not in fixed)
                if any(id(v) in connected for v in ap.inputs):
                    nodes.append(ap)
                    connected.update(id(o) for o in ap.outputs
                                     if is_differentiable(o.dtype) and id(o) not in fixed)
        self.nodes = nodes
        self._connected = connected
        needed = {id(o) for o in self.outputs}
        for ap in reversed(paths):
            if any(id(o) in needed for o in ap.outputs):
                needed.update(id(v) for v in ap.inputs)
        self._needed = needed

    def reaches(self, v: Var) -> bool:
        """Whether some output depends on input ``v``."""
        return id(v) in self._needed

    def backward(self, cotangents: Sequence[Array | None],
                 keep_gates: bool = False) -> list[Array | Gated | None]:
        """Cotangents of the inputs (None: zero or not connected) given one per output; with
        ``keep_gates``, one under a gate is returned `Gated` by it."""
        ct: dict[int, Array] = {}
        gates: dict[int, object] = {}  # per Var with a cotangent: its gate (None: ungated)

        def add(g: Array, v: Var, prev: Array | None) -> Array:
            g = match(g, v.dtype, v.shape, v)  # v: run-time sizes that broadcasting stretched
            return g if prev is None else prev + g

        def acc(v: Var, g: Array, gate=None, site=None) -> None:
            prev = ct.get(id(v))
            ct[id(v)] = add(g, v, prev) if site is None else _at_site(site, add, g, v, prev)
            if gate is not None or gates:
                gates[id(v)] = gate if prev is None else _join(gates.get(id(v)), gate)

        arrays: dict[int, Array] = {}
        memo: dict = {}
        with deep_graphs():
            for out, g in zip(self.outputs, cotangents):
                if g is not None and id(out) in self._connected and is_differentiable(out.dtype):
                    acc(out, g)
            for ap in reversed(self.nodes):
                gs = [ct.get(id(o)) if is_differentiable(o.dtype) else None
                      for o in ap.outputs]
                if all(g is None for g in gs):
                    continue
                rule = vjp_rule(type(ap.op))
                if rule is None:
                    raise _no_rule("vjp", ap)
                gate = _common_gate(gates, ap.outputs, gs) if gates else None
                conn = tuple(id(v) in self._connected for v in ap.inputs)
                if gate is None:
                    res = _call(rule, ap, arrays, gs, conn)
                else:
                    res = gate.pull(ap, lambda cts, rule=rule, ap=ap, conn=conn:
                                    _call(rule, ap, arrays, cts, conn), gs, self.outputs, memo)
                for v, g in zip(ap.inputs, res):
                    g_gate = gate
                    if isinstance(g, Gated):  # within the gate the node was pulled under
                        g, g_gate = g.ct, g.gate if gate is None else gate.then(g.gate)
                    if g is not None and id(v) in self._connected and is_differentiable(v.dtype):
                        acc(v, g, g_gate, ap.site)
            seen: set[int] = set()
            out = []
            for v in self.inputs:  # an input given twice gets its cotangent once
                g = None if id(v) in seen else ct.get(id(v))
                gate = gates.get(id(v)) if keep_gates and g is not None else None
                out.append(g if gate is None else Gated(g, gate))
                seen.add(id(v))
            return out

    def forward(self, tangents: Sequence[Array | None]) -> list[Array | None]:
        """Tangents of the outputs (None: zero) given one per input."""
        tan: dict[int, Array] = {}

        def add(v: Var, t: Array) -> Array:
            t = match(t, v.dtype, v.shape)
            prev = tan.get(id(v))
            return t if prev is None else prev + t

        def acc(v: Var, t: Array, site=None) -> None:
            tan[id(v)] = add(v, t) if site is None else _at_site(site, add, v, t)

        arrays: dict[int, Array] = {}
        with deep_graphs():
            seeds: dict[int, tuple[Var, Array]] = {}
            for v, t in zip(self.inputs, tangents):  # an input given twice has one tangent
                if t is not None and is_differentiable(v.dtype) and id(v) not in seeds:
                    seeds[id(v)] = (v, t)
            for v, t in seeds.values():
                if v.owner is None or not any(v in ap.outputs for ap in self.nodes):
                    acc(v, t)
            for ap in self.nodes:
                ts = [tan.get(id(v)) for v in ap.inputs]
                if any(t is not None for t in ts):
                    rule = jvp_rule(type(ap.op))
                    if rule is None:
                        raise _no_rule("jvp", ap)
                    res = _call(rule, ap, arrays, ts)
                    for o, t in zip(ap.outputs, res):
                        if t is not None and id(o) in self._connected:
                            acc(o, t, ap.site)
                for o in ap.outputs:  # an input that is also an intermediate: add its seed
                    if id(o) in seeds:
                        acc(o, seeds[id(o)][1])
            return [tan.get(id(o)) for o in self.outputs]
