"""Stabilize: rewrite numerically fragile forms into ones that keep their precision.

These change results on purpose (to the more accurate value) and need no new ops:

* ``log(1+x) -> log1p(x)``, ``log(1-x) -> log1p(-x)``, ``exp(x)-1 -> expm1(x)``;
* ``log1p(exp(x)) -> logaddexp(0, x)`` (softplus, finite for large ``x``), and
  ``log1p(-exp(x))`` -> log1mexp (``log(-expm1(x))`` near 0);
* ``log(sigmoid(x)) -> -logaddexp(0, -x)``, ``log(1 - sigmoid(x)) -> -logaddexp(0, x)`` and
  ``1 - sigmoid(x) -> sigmoid(-x)``, sigmoid being ``1/(1+exp(-x))`` as users write it;
* ``log(sum(exp(x)))`` -> the max-shifted logsumexp ``log(sum(exp(x - m))) + m`` with ``m``
  the max where finite (0 elsewhere), unless ``x`` is already shifted by its max;
* ``log(exp(z) / sum(exp(z), keepdims)) -> z - log(sum(exp(z)))`` (log-softmax; the sum then
  goes through logsumexp), which also makes softmax cross-entropy finite;
* ``sqrt(x*x) -> abs(x)`` for real ``x`` (exact where ``x*x`` neither overflows nor underflows,
  right where it does); ``log(exp(x)) -> x`` (exact, where ``exp`` overflows).
"""

from __future__ import annotations

from ..array.ops.reduce import Reduce
from ..array.ops.shape import BroadcastTo, Reshape
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import E, arg, binary_with_const, broadcasts_into, const_like, ew, is_const

PHASE = "stabilize"
TAGS = ("stability",)


def _float(v: Var) -> bool:
    return v.dtype.kind == "f"


def _sigmoid_exponent(v: Var) -> Var | None:
    """``t`` when ``v`` is ``1/(1+exp(t))`` (or ``reciprocal(1+exp(t))``): the sigmoid of
    ``-t``; else None."""
    o = v.owner
    if o is None or not _float(v):
        return None
    if o.op is E("divide") and is_const(o.inputs[0], 1) and \
            broadcasts_into(o.inputs[0].shape, o.inputs[1].shape):
        den = o.inputs[1]
    elif o.op is E("reciprocal"):
        den = o.inputs[0]
    else:
        return None
    if den.owner is None or den.owner.op is not E("add"):
        return None
    e = binary_with_const(den.owner, 1)
    t = None if e is None else arg(e, E("exp"))
    if t is None or t.shape != v.shape:
        return None
    return t


def _neg(t: Var, site) -> Var:
    x = arg(t, E("negative"))
    return x if x is not None else ew("negative", t, site=site)


def _softplus(x: Var, site) -> Var:
    """``log(1 + exp(x))`` computed stably, as ``logaddexp(0, x)``."""
    return ew("logaddexp", const_like(0, x), x, site=site)


@register_rewrite("log_sigmoid", PHASE, TAGS, op_classes=[E("log")])
def log_sigmoid(node, g):
    """``log(1/(1+exp(t))) -> -softplus(t)``: ``log(sigmoid(x)) -> -softplus(-x)``."""
    t = _sigmoid_exponent(node.inputs[0])
    if t is None:
        return None
    return [ew("negative", _softplus(t, node.site), site=node.site)]


def _one_minus_sigmoid_exponent(v: Var) -> Var | None:
    """``t`` when ``v`` is ``1 - 1/(1+exp(t))``, else None."""
    d = v.owner
    if d is None or d.op is not E("subtract"):
        return None
    one, sig = d.inputs
    if not (is_const(one, 1) and broadcasts_into(one.shape, sig.shape)):
        return None
    return _sigmoid_exponent(sig)


@register_rewrite("log_one_minus_sigmoid", PHASE, TAGS, op_classes=[E("log")])
def log_one_minus_sigmoid(node, g):
    """``log(1 - sigmoid(x)) -> -softplus(x)``."""
    t = _one_minus_sigmoid_exponent(node.inputs[0])
    if t is None:
        return None
    return [ew("negative", _softplus(_neg(t, node.site), node.site), site=node.site)]


@register_rewrite("one_minus_sigmoid", PHASE, TAGS, op_classes=[E("subtract")])
def one_minus_sigmoid(node, g):
    """``1 - sigmoid(x) -> sigmoid(-x)``, i.e. ``1 - 1/(1+exp(t)) -> 1/(1+exp(-t))``: no
    cancellation for large ``x``, and a positive form whose gradient simplifies."""
    t = _one_minus_sigmoid_exponent(node.outputs[0])
    if t is None:
        return None
    s = node.site
    one = const_like(1, t)
    return [ew("divide", one, ew("add", one, ew("exp", _neg(t, s), site=s), site=s), site=s)]


@register_rewrite("log1p", PHASE, TAGS, op_classes=[E("log")])
def log1p(node, g):
    """``log(1 + x) -> log1p(x)``; ``log(1 - x) -> log1p(-x)``."""
    a = node.inputs[0].owner
    if a is None or not _float(node.outputs[0]):
        return None
    if a.op is E("add"):
        x = binary_with_const(a, 1)
        if x is not None:
            return [ew("log1p", x, site=node.site)]
    elif a.op is E("subtract"):
        one, x = a.inputs
        if is_const(one, 1) and broadcasts_into(one.shape, x.shape):
            return [ew("log1p", ew("negative", x, site=node.site), site=node.site)]
    return None


@register_rewrite("expm1", PHASE, TAGS, op_classes=[E("subtract"), E("add")],
                  needs=[E("exp")])
def expm1(node, g):
    """``exp(x) - 1 -> expm1(x)`` (also ``exp(x) + (-1)``)."""
    if not _float(node.outputs[0]):
        return None
    if node.op is E("subtract"):
        e = binary_with_const(node, 1, commutative=False)
    else:
        e = binary_with_const(node, -1)
    x = None if e is None else arg(e, E("exp"))
    return None if x is None else [ew("expm1", x, site=node.site)]


@register_rewrite("softplus", PHASE, TAGS, op_classes=[E("log1p")])
def softplus(node, g):
    """``log1p(exp(x)) -> logaddexp(0, x)`` (no overflow for large ``x``)."""
    x = arg(node.inputs[0], E("exp"))
    return None if x is None or not _float(x) else [_softplus(x, node.site)]


_LN2 = 0.6931471805599453


@register_rewrite("log1mexp", PHASE, TAGS, op_classes=[E("log1p")])
def log1mexp(node, g):
    """``log1p(-exp(x))`` (from ``log(1 - exp(x))``) -> ``log(-expm1(x))`` where ``x > -ln 2``
    (``exp(x)`` near 1 cancels) and ``log1p(-exp(x))`` elsewhere (Maechler's log1mexp)."""
    x = arg(node.inputs[0], E("negative"))
    x = None if x is None else arg(x, E("exp"))
    if x is None or not _float(x):
        return None
    if x.owner is not None and x.owner.op is E("minimum") and is_const(x.owner.inputs[1], -_LN2):
        return None  # our own second branch
    s = node.site
    c = const_like(-_LN2, x)
    near = ew("log", ew("negative", ew("expm1", x, site=s), site=s), site=s)
    far = ew("log1p", ew("negative", ew("exp", ew("minimum", x, c, site=s), site=s), site=s),
             site=s)
    return [ew("where", ew("greater", x, c, site=s), near, far, site=s)]


@register_rewrite("log_exp", PHASE, TAGS, op_classes=[E("log")])
def log_exp(node, g):
    """``log(exp(x)) -> x`` for real ``x`` (exact, where ``exp`` overflows), also through
    reshapes and broadcasts between them (a sum over a length-1 axis, as in
    ``log(sum(exp(x), axis=1))`` for one column, is a reshape by then)."""
    views = []
    v = node.inputs[0]
    while v.owner is not None and type(v.owner.op) in (BroadcastTo, Reshape):
        views.append(v.owner.op)
        v = v.owner.inputs[0]
    x = arg(v, E("exp"))
    if x is None or not _float(x):
        return None
    for op in reversed(views):
        x = build(op, x, site=node.site)[0]
    return [x]


@register_rewrite("sqrt_square", PHASE, TAGS, op_classes=[E("sqrt")])
def sqrt_square(node, g):
    """``sqrt(x*x) -> abs(x)`` and ``sqrt(square(x)) -> abs(x)`` for real ``x``."""
    o = node.inputs[0].owner
    if o is None or not _float(node.outputs[0]):
        return None
    if o.op is E("square") or (o.op is E("multiply") and o.inputs[0] is o.inputs[1]):
        return [ew("abs", o.inputs[0], site=node.site)]
    return None


# -- logsumexp and log-softmax ----------------------------------------------------------
def _is_max_of(m: Var, x: Var, axes: tuple) -> bool:
    """``m`` is ``max(x, axes, keepdims)``, or that max with non-finite values zeroed, possibly
    broadcast: ``x - m`` is already shifted."""
    while m.owner is not None and type(m.owner.op) in (BroadcastTo, Reshape):
        m = m.owner.inputs[0]
    o = m.owner
    if o is not None and o.op is E("where") and arg(o.inputs[0], E("isfinite")) is o.inputs[1]:
        m = o.inputs[1]
        o = m.owner
    return (o is not None and type(o.op) is Reduce and o.op.kind == "max" and
            o.op.axes == axes and o.inputs[0] is x)


@register_rewrite("logsumexp", PHASE, TAGS, op_classes=[E("log")])
def logsumexp(node, g):
    """``log(sum(exp(x), axes))`` -> ``log(sum(exp(x - m), axes)) + m``, ``m`` the max over
    ``axes`` where finite (else 0): no overflow, and no ``-inf`` where all terms underflow."""
    s = node.inputs[0].owner
    if s is None or type(s.op) is not Reduce or s.op.kind != "sum":
        return None
    e = s.inputs[0]
    x = arg(e, E("exp"))
    if x is None or not _float(x) or s.op.dtype != x.dtype:
        return None
    axes = s.op.axes
    if any(x.shape[a] is None or x.shape[a] == 0 for a in axes):
        return None
    sub = x.owner
    if sub is not None and sub.op is E("subtract") and _is_max_of(sub.inputs[1], sub.inputs[0],
                                                                  axes):
        return None  # already shifted
    out = node.outputs[0]
    if None in out.shape:
        return None
    site = node.site
    m = build(Reduce("max", axes, True, x.dtype), x, site=site)[0]
    ms = ew("where", ew("isfinite", m, site=site), m, const_like(0, m), site=site)
    shifted = build(Reduce("sum", axes, s.op.keepdims, x.dtype),
                    ew("exp", ew("subtract", x, ms, site=site), site=site), site=site)[0]
    m_out = ms if ms.shape == out.shape else build(Reshape(out.shape), ms, site=site)[0]
    return [ew("add", ew("log", shifted, site=site), m_out, site=site)]


@register_rewrite("log_softmax", PHASE, TAGS, op_classes=[E("log")])
def log_softmax(node, g):
    """``log(exp(z) / sum(exp(z), axes, keepdims=True)) -> z - log(sum(exp(z), ...))``."""
    d = node.inputs[0].owner
    if d is None or d.op is not E("divide"):
        return None
    e, s = d.inputs
    z = arg(e, E("exp"))
    so = s.owner
    if z is None or so is None or type(so.op) is not Reduce or so.op.kind != "sum" or \
            not so.op.keepdims or so.inputs[0] is not e:
        return None
    if z.shape != node.outputs[0].shape or not _float(z):
        return None
    return [ew("subtract", z, ew("log", s, site=node.site), site=node.site)]



# -- softmax (and the gradient of logsumexp) ------------------------------------------------
def _shift(x: Var, axes: tuple, site) -> Var:
    """``max(x, axes, keepdims)`` where finite, else 0: built as `logsumexp` builds it, so the
    two merge and the forward and backward passes share one max and one ``exp(x - m)``."""
    m = build(Reduce("max", axes, True, x.dtype), x, site=site)[0]
    return ew("where", ew("isfinite", m, site=site), m, const_like(0, m), site=site)


def _over_sum_of(p: Var, e: Var, depth: int = 4):
    """A path from ``p`` through views and products to a factor ``divide(c, sum(e, axes))``:
    ``([(node, input position), ...] from ``p`` down, c, the sum node)``; else None. Where
    views of the sum are the denominator (``c / reshape(sum(e))``), the path goes on through
    the quotient and them to the sum, and ``c`` is None."""
    o = p.owner
    if o is None or depth == 0:
        return None
    if o.op is E("divide"):
        views, s = [], o.inputs[1].owner
        while s is not None and type(s.op) in (BroadcastTo, Reshape) and len(views) < 2:
            views.append((s, 0))
            s = s.inputs[0].owner
        if s is None or type(s.op) is not Reduce or s.op.kind != "sum" or s.inputs[0] is not e:
            return None
        return ([], o.inputs[0], s) if not views else ([(o, 1)] + views, None, s)
    if type(o.op) in (BroadcastTo, Reshape):
        positions = (0,)
    elif o.op is E("multiply"):
        positions = (0, 1)
    else:
        return None
    for i in positions:
        found = _over_sum_of(o.inputs[i], e, depth - 1)
        if found is not None:
            return [(o, i)] + found[0], found[1], found[2]
    return None


def _strip_ones(shape: tuple) -> tuple:
    """``shape`` without its leading 1s (what right-aligned broadcasting ignores)."""
    k = 0
    while k < len(shape) and shape[k] == 1:
        k += 1
    return shape[k:]


def _lines_up(s, x: Var, chain: list) -> bool:
    """Whether sum node ``s`` reaches the product lined up with ``x``'s rows, so that each
    element is divided by the sum of its own row. The sum is lined up when it keeps its dims
    or reduces the leading axes (NumPy broadcasting aligns the rest on the right); a reshape
    right above an other sum lines it up when it puts the reduced axes back as 1s. Going up
    ``chain`` (from the sum to the product), broadcasts and products keep a lined-up value
    lined up, and a reshape does only when it changes no more than leading 1s; a product
    that keeps the value's shape (``g / sum * (1/n)`` of a mean) keeps its layout. (A
    non-keepdims sum over axis 1 of a square ``x``, or a keepdims ``(n, 1)`` sum reshaped to
    ``(1, n)``, divides row i by row j's sum: not a softmax, and not shifted.)"""
    axes = s.op.axes
    keep = tuple(1 if ax in axes else d for ax, d in enumerate(x.shape))
    lined = s.op.keepdims or tuple(sorted(axes)) == tuple(range(len(axes)))
    raw = True  # the sum's layout: no node of the chain has moved its elements yet
    for node, i in reversed(chain):
        if type(node.op) is not Reshape and node.outputs[0].shape == node.inputs[i].shape:
            continue  # a product by a scalar or a factor of its shape moves nothing
        if type(node.op) is Reshape:
            out = _strip_ones(node.outputs[0].shape)
            if lined:
                lined = _strip_ones(node.inputs[i].shape) == out
            else:
                lined = raw and out == _strip_ones(keep)
        elif not lined:
            return False
        raw = False
    return lined


def _can_shift(s, x: Var, chain: list) -> bool:
    """Whether `softmax_shift` may shift ``exp(x)`` over sum node ``s``, reached by ``chain``
    (`_over_sum_of`): a sum of ``exp(x)`` in its dtype over non-empty axes, lined up with
    ``x``'s rows, ``x`` not already shifted by its max."""
    axes = s.op.axes
    if s.op.dtype != x.dtype or any(x.shape[ax] == 0 for ax in axes):
        return False
    if not _lines_up(s, x, chain):
        return False
    sub = x.owner
    return not (sub is not None and sub.op is E("subtract") and
                _is_max_of(sub.inputs[1], sub.inputs[0], axes))


def _shifted_sum(s, x: Var, ms: Var, site) -> tuple[Var, Var]:
    """``(exp(x - ms), sum(exp(x - ms)))`` with the axes and keepdims of sum node ``s``."""
    ex = ew("exp", ew("subtract", x, ms, site=site), site=site)
    return ex, build(Reduce("sum", s.op.axes, s.op.keepdims, x.dtype), ex, site=site)[0]


@register_rewrite("softmax_shift", PHASE, TAGS, op_classes=[E("multiply"), E("divide")],
                  needs=[E("exp")])
def softmax_shift(node, g):
    """``exp(x) * (c / sum(exp(x), axes))`` (the gradient of ``log(sum(exp(x)))``; the quotient
    may sit under views and further products) and
    ``exp(x) / sum(exp(x), axes, keepdims)`` (softmax) -> the same with ``x - m``, ``m`` the
    max over ``axes`` where finite: equal in exact arithmetic, finite where ``exp`` overflows,
    and sharing ``exp(x - m)`` with the shifted logsumexp of the forward pass."""
    a, b = node.inputs
    out = node.outputs[0]
    if not _float(out):
        return None
    site = node.site
    if node.op is E("divide"):
        pairs = [(a, b)]
    else:
        pairs = [(a, b), (b, a)]
    for e, p in pairs:
        x = arg(e, E("exp"))
        if x is None or e.shape != out.shape or x.dtype != out.dtype or None in x.shape:
            continue
        if node.op is E("divide"):
            chain, c, s = [], None, p.owner
            while s is not None and type(s.op) in (BroadcastTo, Reshape) and len(chain) < 2:
                chain.append((s, 0))
                s = s.inputs[0].owner
            if s is None or type(s.op) is not Reduce or s.op.kind != "sum" or \
                    s.inputs[0] is not e:
                continue
        else:
            found = _over_sum_of(p, e)
            if found is None:
                continue
            chain, c, s = found
        if not _can_shift(s, x, chain):
            continue
        ms = _shift(x, s.op.axes, site)
        ex, tot = _shifted_sum(s, x, ms, site)
        q = tot if c is None else ew("divide", c, tot, site=site)
        for n, i in reversed(chain):  # the path rebuilt over the shifted sum
            ins = list(n.inputs)
            ins[i] = q
            q = build(n.op, *ins, site=site)[0]
        return [ew("divide" if node.op is E("divide") else "multiply", ex, q, site=site)]
    return None


def _each_term_over_sum_of(p: Var, e: Var, x: Var, depth: int = 3) -> bool:
    """Whether each term of ``p`` (a sum or difference, nested up to ``depth``) has a factor
    ``c / sum(e)`` that `softmax_shift` can shift (``e`` is ``exp(x)``)."""
    o = p.owner
    if o is not None and depth and (o.op is E("add") or o.op is E("subtract")):
        return all(_each_term_over_sum_of(t, e, x, depth - 1) for t in o.inputs)
    found = _over_sum_of(p, e)
    return found is not None and _can_shift(found[2], x, found[0])


@register_rewrite("distribute_softmax_terms", PHASE, TAGS, op_classes=[E("multiply")],
                  needs=[E("exp")])
def distribute_softmax_terms(node, g):
    """``exp(x) * (a + b) -> exp(x) * a + exp(x) * b`` (also ``-``) where each of ``a`` and
    ``b`` has a factor ``c / sum(exp(x))``: a softmax's gradient adds its cotangents through
    the numerator and through the sum before the product with ``exp(x)``. `softmax_shift` then
    shifts each term (were one left unshifted, ``exp(x)`` would overflow in it)."""
    out = node.outputs[0]
    if not _float(out):
        return None
    for e, p in (node.inputs, node.inputs[::-1]):
        x = arg(e, E("exp"))
        o = p.owner
        if x is None or e.shape != out.shape or x.dtype != out.dtype or None in x.shape or \
                o is None or (o.op is not E("add") and o.op is not E("subtract")):
            continue
        if all(_each_term_over_sum_of(t, e, x) for t in o.inputs):
            site = node.site
            a, b = (ew("multiply", e, t, site=site) for t in o.inputs)
            return [ew(o.op.fn.name, a, b, site=site)]
    return None
