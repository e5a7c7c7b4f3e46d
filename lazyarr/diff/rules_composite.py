"""Derivative rules of the fused ops (``array/ops/composite.py``, ``array/ops/rowprog.py``),
derived from their steps: the composite is expanded back into `Elemwise`/`Cast` nodes over the
same inputs, a row program into its member nodes, and the engine differentiates that small
graph (so each step uses its own rule)."""

from __future__ import annotations

from ..array.coerce import Array, as_var, build, build_many, cast, const, wrap
from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.elemwise import Elemwise, broadcast_shapes
from ..array.ops.rowprog import RowProgram
from .engine import Tape
from .registry import register_jvp, register_vjp
from .util import apply_op
from .xp import xp


def expand(comp: Composite, inputs: list[Array]) -> list[Array]:
    """The outputs of ``comp`` on ``inputs`` as ordinary elementwise nodes."""
    vals = [as_var(x) for x in inputs]
    shape = broadcast_shapes(*[v.shape for v in vals]) if vals else ()
    for name, args, dt, value in comp.steps:
        if name == "const":
            vals.append(const(value, dt))
        elif name == "cast":
            vals.append(cast(vals[args[0]], dt))
        else:
            vals.append(as_var(build(Elemwise(name), *[vals[a] for a in args])))
    outs = []
    for r in comp.out_refs:
        v = vals[r]
        outs.append(wrap(v) if v.shape == shape else xp.broadcast_to(wrap(v), shape))
    return outs


def _expanded_vjp(outs: list[Array], inputs, cts):
    tape = Tape([as_var(o) for o in outs], [as_var(x) for x in inputs], stop=True)
    return tape.backward(cts)


def _expanded_jvp(outs: list[Array], inputs, tangents):
    tape = Tape([as_var(o) for o in outs], [as_var(x) for x in inputs], stop=True)
    return tape.forward(tangents)


def _fused(op: FusedReduce, inputs):
    return [apply_op(op.reduce, expand(op.composite, inputs)[0])]


def _members(op: RowProgram, inputs) -> list[Array]:
    """The outputs of row program ``op`` on ``inputs``, as its member nodes."""
    vals = list(inputs)
    for mop, refs, _types in op.members:
        vals.extend(build_many(mop, *[as_var(vals[k]) for k in refs]))
    return [vals[r] for r in op.out_refs]


def _register_expanded(cls, outputs_of) -> None:
    """Register ``cls``'s vjp and jvp as those of the small graph ``outputs_of(op, inputs)``
    builds over the node's inputs."""

    @register_vjp(cls)
    def _vjp(op, inputs, outputs, cts):
        return _expanded_vjp(outputs_of(op, inputs), inputs, cts)

    @register_jvp(cls)
    def _jvp(op, inputs, outputs, tangents):
        return _expanded_jvp(outputs_of(op, inputs), inputs, tangents)


_register_expanded(Composite, expand)
_register_expanded(FusedReduce, _fused)
_register_expanded(RowProgram, _members)
