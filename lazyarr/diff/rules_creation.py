"""Derivative rules of the creation ops: ``Alloc`` fills with its 0-d input (the adjoint sums);
``Arange`` and ``Eye`` have no inputs and ``Linspace`` only its constant endpoints (Python
scalars, not differentiable), so nothing to differentiate."""

from __future__ import annotations

from ..array.ops.creation import Alloc, Arange, Eye, Linspace
from .registry import register_jvp, register_vjp
from .util import apply_op
from .xp import xp


@register_vjp(Alloc)
def _alloc_vjp(op, inputs, outputs, cts):
    return [xp.sum(cts[0])]


@register_jvp(Alloc)
def _alloc_jvp(op, inputs, outputs, tangents):
    return [apply_op(op, tangents[0])]


def _no_inputs_vjp(op, inputs, outputs, cts):
    return [None] * len(inputs)  # no array inputs (linspace's are its constant endpoints)


def _no_inputs_jvp(op, inputs, outputs, tangents):
    return [None]


for _cls in (Arange, Linspace, Eye):
    register_vjp(_cls)(_no_inputs_vjp)
    register_jvp(_cls)(_no_inputs_jvp)
