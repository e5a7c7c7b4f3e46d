"""Small matchers shared by the rewrites: constants, elementwise ops by name, shapes."""

from __future__ import annotations

import math

import numpy as np

from ..array.ops.elemwise import Cast, Elemwise
from ..graph.basic import Op, Var
from .db import build

E = Elemwise  # E("log") is the interned op, so ``node.op is E("log")`` is a match


def const_data(v: Var) -> np.ndarray | None:
    """The value of a baked constant (or a folded one), else None."""
    if v.owner is None and v.const and v.data is not None:
        return v.data
    return None


def is_const(v: Var, value: float, signed_zero: bool = False) -> bool:
    """``v`` is a constant whose every element equals ``value`` (and, with ``signed_zero``,
    has the sign bit of ``value``: -0.0 is not 0.0)."""
    d = const_data(v)
    if d is None or d.size == 0:
        return False
    if d.ndim == 0 and d.dtype.kind != "c":
        x = d.item()
        if x != value:
            return False
        return not signed_zero or x != 0 or math.copysign(1.0, x) == math.copysign(1.0, value)
    with np.errstate(all="ignore"):
        if not np.all(d == value):
            return False
    if signed_zero and d.dtype.kind in "fc":
        want = np.signbit(value)
        parts = (d.real, d.imag) if d.dtype.kind == "c" else (d,)
        return all(bool(np.all(np.signbit(p) == want)) for p in parts)
    return True


def broadcasts_into(small: tuple, big: tuple) -> bool:
    """Broadcasting ``small`` against ``big`` gives ``big`` for any run-time sizes."""
    if len(small) > len(big):
        return False
    for s, b in zip(reversed(small), reversed(big)):
        if s != 1 and (s is None or s != b):
            return False
    return True


def op_of(v: Var) -> Op | None:
    return None if v.owner is None else v.owner.op


def arg(v: Var, op: Op) -> Var | None:
    """The single input of ``v``'s node if that node is ``op``, else None."""
    o = v.owner
    if o is not None and o.op is op:
        return o.inputs[0]
    return None


def binary_with_const(node, value: float, signed_zero: bool = False,
                      commutative: bool = True) -> Var | None:
    """For a binary node ``f(x, c)`` (or ``f(c, x)`` when ``commutative``) where ``c`` is the
    constant ``value`` broadcasting into ``x``'s shape: ``x``; else None."""
    a, b = node.inputs
    out = node.outputs[0]
    if is_const(b, value, signed_zero) and broadcasts_into(b.shape, a.shape) and \
            a.dtype == out.dtype:
        return a
    if commutative and is_const(a, value, signed_zero) and broadcasts_into(a.shape, b.shape) \
            and b.dtype == out.dtype:
        return b
    return None


def ew(name: str, *inputs: Var, site=None) -> Var:
    """New elementwise node ``name(*inputs)`` (operands already of the compute dtype)."""
    return build(E(name), *inputs, site=site)[0]


def const_like(value, v: Var) -> Var:
    """A 0-d constant ``value`` of ``v``'s dtype."""
    data = np.asarray(value, dtype=v.dtype)
    data.flags.writeable = False
    return Var(data.dtype, (), None, 0, data, True)


def cast_to(v: Var, dtype: np.dtype, site=None) -> Var:
    return v if v.dtype == dtype else build(Cast(dtype), v, site=site)[0]
