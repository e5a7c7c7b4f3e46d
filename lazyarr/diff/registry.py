"""Where derivative rules are registered, per op class.

A vjp rule: ``rule(op, inputs, outputs, cotangents) -> list`` of one cotangent per input;
a jvp rule: ``rule(op, inputs, outputs, tangents) -> list`` of one tangent per output.
``inputs``/``outputs`` are Arrays (lazy; built on the op's node), and ``cotangents``/``tangents``
hold an Array or ``None`` (zero / not connected) per output/input. A rule returns ``None`` for a
zero or non-differentiable entry. Rules are written with the lazyarr namespace, so derivatives are
ordinary graphs: optimized, fused, and differentiable again.
"""

from __future__ import annotations

from collections.abc import Callable

_VJP: dict[type, Callable] = {}
_JVP: dict[type, Callable] = {}


def register_vjp(op_class: type) -> Callable[[Callable], Callable]:
    """Decorator: the reverse-mode rule of ``op_class``."""
    def deco(fn: Callable) -> Callable:
        _VJP[op_class] = fn
        return fn
    return deco


def register_jvp(op_class: type) -> Callable[[Callable], Callable]:
    """Decorator: the forward-mode rule of ``op_class``."""
    def deco(fn: Callable) -> Callable:
        _JVP[op_class] = fn
        return fn
    return deco


def vjp_rule(op_class: type) -> Callable | None:
    for cls in op_class.__mro__:
        if cls in _VJP:
            return _VJP[cls]
    return None


def jvp_rule(op_class: type) -> Callable | None:
    for cls in op_class.__mro__:
        if cls in _JVP:
            return _JVP[cls]
    return None
