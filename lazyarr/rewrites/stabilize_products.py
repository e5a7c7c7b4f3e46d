"""Stabilize products of exponentials: ``g / (e/s) * e / s -> g``.

A product or quotient is expanded into signed factors through ``multiply``, ``divide``,
``reciprocal`` and ``negative``; factors that are positive by construction -- ``exp(.)``, sums
and broadcasts of those -- and appear both above and below the line cancel. Mathematically
they are never 0 or inf, so cancelling only removes what underflow or overflow would have
made of them: ``0 * inf = NaN``. This is what makes the gradient of ``log(softmax(x))`` (and of
softmax cross-entropy) finite for far-apart logits, where the softmax underflows to 0.
``(a + b) * p`` with ``p`` positive is distributed when ``a`` or ``b`` divides by ``p``, so the
cancellation can happen; ``exp(y) / (1 + exp(y))`` among the factors becomes the sigmoid
``1 / (1 + exp(-y))`` (the gradient of ``log(sigmoid(x))``). Other factors never cancel
(``x / x`` is NaN at 0: fast-math only). What is left is computed in its written order, and
a NaN under a cancelled ``exp`` stays NaN (``exp(±inf)`` cancels: the limit).
"""

from __future__ import annotations

import numpy as np

from ..array.ops.reduce import Reduce
from ..array.ops.shape import BroadcastTo, Reshape
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import E, arg, broadcasts_into, const_data, const_like, ew, is_const

PHASE = "stabilize"
MAX_FACTORS = 12
MAX_DEPTH = 6


def positive(v: Var, depth: int = 0) -> bool:
    """``v`` is > 0 and finite in exact arithmetic: ``exp(.)``, a positive constant, sums,
    products, quotients, reductions by sum, reshapes and broadcasts of such values."""
    if v.dtype.kind != "f" or depth > MAX_DEPTH:
        return False
    o = v.owner
    if o is None:
        d = const_data(v)
        return d is not None and d.size > 0 and bool(np.all((d > 0) & np.isfinite(d)))
    op = o.op
    if op is E("exp"):
        return True
    if op is E("multiply") or op is E("divide") or op is E("add"):
        return positive(o.inputs[0], depth + 1) and positive(o.inputs[1], depth + 1)
    if type(op) is Reduce and op.kind == "sum":
        # a sum over an empty axis is exactly 0
        x = o.inputs[0]
        axes = range(len(x.shape)) if op.axes is None else op.axes
        if any(x.shape[ax] in (0, None) for ax in axes):
            return False
        return positive(x, depth + 1)
    if type(op) in (BroadcastTo, Reshape):
        return positive(o.inputs[0], depth + 1)
    return False


def _involves_exp(v: Var, depth: int = 0) -> bool:
    """``v`` is computed from an ``exp``: a plain constant (``x * 3 / 3``) rounds, so it
    cancels under fast-math only."""
    o = v.owner
    if o is None or depth > MAX_DEPTH:
        return False
    return o.op is E("exp") or any(_involves_exp(i, depth + 1) for i in o.inputs)


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


_NEG = E("negative")


def _key(v: Var, depth: int = 0):
    """Structural identity of a factor: equal sub-graphs built apart compare equal (double
    negations skipped)."""
    o = v.owner
    while o is not None and o.op is _NEG:
        inner = o.inputs[0].owner
        if inner is None or inner.op is not _NEG:
            break
        v = inner.inputs[0]
        o = v.owner
    if o is None or depth > 4:
        return v
    return (o.op, v.index, tuple([_key(i, depth + 1) for i in o.inputs]))


def _cancel(factors: list[tuple[Var, int]]) -> tuple[list[tuple[Var, int]], list[Var]] | None:
    """``factors`` with positive ones cancelled in pairs, the others in their order (a
    reordered product can overflow where the written one does not), and one of each
    cancelled factor; None if nothing cancels."""
    if all(p > 0 for _, p in factors) or all(p < 0 for _, p in factors):
        return None
    keys = [_key(f) for f, _ in factors]
    ups: dict = {}
    downs: dict = {}
    first: dict = {}
    for k, (f, p) in zip(keys, factors):
        count = ups if p > 0 else downs
        count[k] = count.get(k, 0) + 1
        first.setdefault(k, f)
    drop = {k: min(ups[k], downs[k]) for k in ups
            if k in downs and positive(first[k]) and _involves_exp(first[k])}
    if not drop:
        return None
    left = {k: [n, n] for k, n in drop.items()}  # still to drop above and below the line
    out: list[tuple[Var, int]] = []
    for k, (f, p) in zip(keys, factors):
        budget = left.get(k)
        side = 0 if p > 0 else 1
        if budget is not None and budget[side] > 0:
            budget[side] -= 1
            continue
        out.append((f, p))
    return out, [first[k] for k in drop]


def _one_plus_exp(h: Var) -> tuple[Var, Var] | None:
    """``(one, y)`` when ``h`` is ``1 + exp(y)`` (either order), else None."""
    o = h.owner
    if o is None or o.op is not E("add"):
        return None
    a, b = o.inputs
    one, e = (a, b) if is_const(a, 1) else (b, a)
    y = arg(e, E("exp"))
    if y is None or not is_const(one, 1) or one.shape:
        return None
    return one, y


def _opposite(a: Var, b: Var) -> bool:
    return arg(a, E("negative")) is b or arg(b, E("negative")) is a


def _sigmoid_pairs(factors: list[tuple[Var, int]], site) -> list[tuple[Var, int]] | None:
    """Inside ``factors``: ``exp(y) / (1 + exp(y))`` -> ``1 / (1 + exp(-y))`` (the sigmoid of
    ``y``: 1 where both overflow, 0 where they underflow) and ``exp(-y) * (1 + exp(y))`` ->
    ``1 + exp(-y)``; None if there is no such pair."""
    out = list(factors)
    changed = False
    for i, (f, p) in enumerate(out):
        y = arg(f, E("exp")) if p > 0 else None
        if y is None:
            continue
        for j, (h, q) in enumerate(out):
            m = _one_plus_exp(h) if j != i else None
            if m is None:
                continue
            one, z = m
            if q < 0 and z is y:
                neg = ew("negative", y, site=site)
                out[i] = (ew("add", one, ew("exp", neg, site=site), site=site), -1)
            elif q > 0 and _opposite(y, z):
                out[i] = (ew("add", one, f, site=site), 1)
            else:
                continue
            out[j] = (one, 1)
            changed = True
            break
    return out if changed else None


def _rebuild(sign: int, factors: list[tuple[Var, int]], cancelled: list[Var], like: Var,
             site) -> Var | None:
    """``sign * prod(factor ** power)`` in the factors' order (starting from the first one
    above the line), NaN where a cancelled factor was NaN (``exp(nan)``: NumPy's NaN is kept;
    ``exp(-inf)`` is 0 and cancels, as ``exp`` of a very negative number does). The NaN is
    one more factor, ``where(isnan(w), nan, 1)``, so a later pass still sees a product to
    cancel in."""
    factors = list(factors)
    have = {_key(f) for f, _p in factors}
    for f in cancelled:
        y = arg(f, E("exp"))
        w = f if y is None else y
        nan = ew("where", ew("isnan", w, site=site), const_like(np.nan, like),
                 const_like(1, like), site=site)
        if _key(nan) not in have:
            have.add(_key(nan))
            factors.append((nan, 1))
    lead = next((i for i, (_f, p) in enumerate(factors) if p > 0), None)
    v = const_like(1, like) if lead is None else factors[lead][0]
    for i, (f, p) in enumerate(factors):
        if i != lead:
            v = ew("multiply" if p > 0 else "divide", v, f, site=site)
    if sign < 0:
        v = ew("negative", v, site=site)
    if v.shape != like.shape:
        if None in like.shape or not broadcasts_into(v.shape, like.shape):
            return None
        v = build(BroadcastTo(like.shape), v, site=site)[0]
    return v


@register_rewrite("cancel_exp_factors", PHASE, tags=("stability",),
                  op_classes=[E("multiply"), E("divide")], needs=[E("exp")])
def cancel_exp_factors(node, g):
    """``p * (q / p) -> q`` for factors ``p`` positive by construction (exp and sums of it)."""
    out = node.outputs[0]
    if out.dtype.kind != "f":
        return None
    ex = expand(out)
    if ex is None:
        return None
    cut = _cancel(ex[1])
    paired = _sigmoid_pairs(ex[1] if cut is None else cut[0], node.site)
    if paired is not None:
        paired = [(f, p) for f, p in paired if not (is_const(f, 1) and not f.shape)]
        again = _cancel(paired)
        cancelled = ([] if cut is None else cut[1]) + ([] if again is None else again[1])
        cut = (paired if again is None else again[0]), cancelled
    if cut is None:
        return None
    new = _rebuild(ex[0], cut[0], cut[1], out, node.site)
    return None if new is None else [new]


def _has_factor(v: Var, p: Var, power: int) -> bool:
    ex = expand(v)
    k = _key(p)
    return ex is not None and any(q == power and _key(f) == k for f, q in ex[1])


@register_rewrite("distribute_exp_factor", PHASE, tags=("stability",),
                  op_classes=[E("multiply"), E("divide")], needs=[E("exp")])
def distribute_exp_factor(node, g):
    """``(a + b) * p -> a*p + b*p`` when ``a`` or ``b`` divides by ``p``, and
    ``(a + b) / p -> a/p + b/p`` when one of them multiplies by ``p`` (also ``-``), ``p``
    positive by construction and computed from an ``exp``: `cancel_exp_factors` can then
    cancel ``p`` (it cancels no other factor, so the product is left as written)."""
    out = node.outputs[0]
    if out.dtype.kind != "f":
        return None
    mul = node.op is E("multiply")
    pairs = (node.inputs, node.inputs[::-1]) if mul else (node.inputs,)
    for s, p in pairs:
        o = s.owner
        if o is None or (o.op is not E("add") and o.op is not E("subtract")) or \
                not positive(p) or not _involves_exp(p):
            continue
        a, b = o.inputs
        power = -1 if mul else 1
        if not (_has_factor(a, p, power) or _has_factor(b, p, power)):
            continue
        site = node.site
        f = node.op.fn.name
        r = ew(o.op.fn.name, ew(f, a, p, site=site), ew(f, b, p, site=site), site=site)
        if r.shape == out.shape:
            return [r]
    return None
