"""Stabilize products of exponentials: ``g / (e/s) * e / s -> g``.

A product or quotient is expanded into signed factors through ``multiply``, ``divide``,
``reciprocal`` and ``negative``; factors that are positive by construction -- ``exp(.)``, sums
and broadcasts of those -- and appear both above and below the line cancel. Mathematically
they are never 0 or inf, so cancelling only removes what underflow or overflow would have
made of them: ``0 * inf = NaN``. This is what makes the gradient of ``log(softmax(x))`` (and of
softmax cross-entropy) finite for far-apart logits, where the softmax underflows to 0.
``(a + b) * p`` with ``p`` positive is distributed when ``a`` or ``b`` divides by ``p``, so the
cancellation can happen. Other factors never cancel (``x / x`` is NaN at 0: fast-math only).
"""

from __future__ import annotations

from ..array.ops.reduce import Reduce
from ..array.ops.shape import BroadcastTo, Reshape
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import E, broadcasts_into, const_like, ew, is_const

PHASE = "stabilize"
MAX_FACTORS = 12
MAX_DEPTH = 6


def positive(v: Var) -> bool:
    """``v`` is > 0 and finite in exact arithmetic: ``exp(.)``, a sum, a reshape or a
    broadcast of such values, or a product/quotient of them."""
    for _ in range(MAX_DEPTH):
        o = v.owner
        if o is None or v.dtype.kind != "f":
            return False
        op = o.op
        if op is E("exp"):
            return True
        if op is E("multiply") or op is E("divide"):
            return positive(o.inputs[0]) and positive(o.inputs[1])
        if type(op) in (BroadcastTo, Reshape) or (type(op) is Reduce and op.kind == "sum"):
            v = o.inputs[0]
            continue
        return False
    return False


def expand(v: Var, depth: int = 0) -> tuple[int, list[tuple[Var, int]]] | None:
    """``(sign, [(factor, +1 or -1), ...])`` with ``v = sign * prod(factor ** power)``; None
    past the size limits."""
    o = v.owner
    if o is not None and depth < MAX_DEPTH:
        op = o.op
        if op is E("multiply") or op is E("divide"):
            a = expand(o.inputs[0], depth + 1)
            b = expand(o.inputs[1], depth + 1)
            if a is None or b is None:
                return None
            s = 1 if op is E("multiply") else -1
            fs = a[1] + [(f, p * s) for f, p in b[1]]
            return (a[0] * b[0], fs) if len(fs) <= MAX_FACTORS else None
        if op is E("reciprocal"):
            a = expand(o.inputs[0], depth + 1)
            return None if a is None else (a[0], [(f, -p) for f, p in a[1]])
        if op is E("negative"):
            a = expand(o.inputs[0], depth + 1)
            return None if a is None else (-a[0], a[1])
    if is_const(v, 1) and not v.shape:
        return 1, []
    return 1, [(v, 1)]


def _cancel(factors: list[tuple[Var, int]]) -> list[tuple[Var, int]] | None:
    """``factors`` with positive ones cancelled in pairs; None if nothing cancels."""
    net: dict[Var, int] = {}
    count: dict[Var, int] = {}
    for f, p in factors:
        net[f] = net.get(f, 0) + p
        count[f] = count.get(f, 0) + 1
    pos = {f for f in net if count[f] > abs(net[f]) and positive(f)}
    if not pos:
        return None
    out: list[tuple[Var, int]] = []
    for f, n in net.items():
        if f in pos:
            out += [(f, 1 if n > 0 else -1)] * abs(n)
        else:
            out += [(g, q) for g, q in factors if g is f]
    return out


def _rebuild(sign: int, factors: list[tuple[Var, int]], like: Var, site) -> Var | None:
    num = [f for f, p in factors if p > 0]
    den = [f for f, p in factors if p < 0]
    v = num[0] if num else const_like(1, like)
    for f in num[1:]:
        v = ew("multiply", v, f, site=site)
    for f in den:
        v = ew("divide", v, f, site=site)
    if sign < 0:
        v = ew("negative", v, site=site)
    if v.shape != like.shape:
        if None in like.shape or not broadcasts_into(v.shape, like.shape):
            return None
        v = build(BroadcastTo(like.shape), v, site=site)[0]
    return v


@register_rewrite("cancel_exp_factors", PHASE, tags=("stability",),
                  op_classes=[E("multiply"), E("divide")])
def cancel_exp_factors(node, g):
    """``p * (q / p) -> q`` for factors ``p`` positive by construction (exp and sums of it)."""
    out = node.outputs[0]
    if out.dtype.kind != "f":
        return None
    ex = expand(out)
    if ex is None:
        return None
    kept = _cancel(ex[1])
    if kept is None:
        return None
    new = _rebuild(ex[0], kept, out, node.site)
    return None if new is None else [new]


def _divides_by(v: Var, p: Var) -> bool:
    ex = expand(v)
    return ex is not None and any(f is p and q < 0 for f, q in ex[1])


@register_rewrite("distribute_exp_factor", PHASE, tags=("stability",),
                  op_classes=[E("multiply")])
def distribute_exp_factor(node, g):
    """``(a + b) * p -> a*p + b*p`` (also ``-``) when ``p`` is positive by construction and
    ``a`` or ``b`` divides by it (so that `cancel_exp_factors` can then cancel ``p``)."""
    out = node.outputs[0]
    if out.dtype.kind != "f":
        return None
    for s, p in (node.inputs, node.inputs[::-1]):
        o = s.owner
        if o is None or (o.op is not E("add") and o.op is not E("subtract")) or \
                not positive(p):
            continue
        a, b = o.inputs
        if not (_divides_by(a, p) or _divides_by(b, p)):
            continue
        site = node.site
        r = ew(o.op.fn.name, ew("multiply", a, p, site=site), ew("multiply", b, p, site=site),
               site=site)
        if r.shape == out.shape:
            return [r]
    return None
