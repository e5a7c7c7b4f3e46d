"""Derivative rules of the control-flow ops, registered with ``lazyarr.diff``.

* `Cond`: a `cond` over the branches' vjps (jvps): only the taken branch's derivative runs.
  The cotangents of values only one branch reads are `Gated` by that branch (a `CondGate`),
  and, for a value that an inner ``cond`` of the branch reads in one of its branches only, by
  that inner branch within it (the inner predicate computed from the outer values): the
  engine applies the vjps that read values computed only under a branch (``inv(M)`` that
  only the branch reads) under ``cond``s on the same predicates, so that the backward, as the
  forward, computes them only when the branches run.
* `Scan`, reverse mode: backpropagation through time. The forward scan is re-applied with the
  carries it steps from stacked as extra outputs (the loop rewrite ``merge_scans`` folds it into
  the original scan, so the forward pass runs once); then a scan in the opposite direction
  walks the stacked carries and sequences, its body the vjp of the forward body, carrying the
  carries' cotangents and accumulating the loop constants' cotangents.
* `Scan`, forward mode: one scan stepping the carries and their tangents together (merged with
  the original scan by the same rewrite), so ``Lop(y, w, Rop(y, w, v))`` runs two loops.
* `While`, reverse mode: a reverse scan over the recorded trajectory (its length is the step
  count, known only at run time); forward mode: a while loop over carries and tangents.

``fori_loop`` is a scan and needs no rule of its own. Bodies are differentiated by the engine
(`lazyarr.diff.engine.Tape`) on a copy of the inner graph applied to the traced arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..array.coerce import Array, as_var, wrap
from ..array.functions.searching import take
from ..diff.engine import Gated, Tape, connected_inputs
from ..diff.registry import register_jvp, register_vjp
from ..diff.util import is_differentiable
from ..diff.xp import xp
from ..graph.basic import Var, apply
from ..graph.clone import clone
from ..graph.inner import InnerGraph
from . import api
from .loop_rewrites import inline
from .ops import Cond, Scan, While
from .trace import needed_every_run


def _diff(a) -> bool:
    return is_differentiable(as_var(a).dtype)


def _wanted(n: int) -> tuple[bool, ...]:
    """Per input of the node a vjp rule differentiates: whether the sweep wants its cotangent
    (`engine.connected_inputs`; all of them outside a sweep)."""
    conn = connected_inputs()
    return (True,) * n if conn is None else conn


def _zeros(a) -> Array:
    v = as_var(a)
    return xp.zeros(v.shape, dtype=v.dtype)


def _or_zeros(g, like) -> Array:
    return _zeros(like) if g is None else g


def _vjp(g: InnerGraph, args: Sequence[Array], cts: Sequence, keep_gates: bool = False) -> list:
    """Cotangents of ``g``'s inputs (None: zero) for ``g`` applied to ``args`` (`Gated` where
    they have a gate, with ``keep_gates``)."""
    vs = [as_var(a) for a in args]
    return Tape(inline(g, vs), vs, stop=True).backward(list(cts), keep_gates)


def _jvp(g: InnerGraph, args: Sequence[Array], tangents: Sequence) -> tuple[list, list]:
    """``(outputs, their tangents)`` of ``g`` applied to ``args`` with input ``tangents``."""
    vs = [as_var(a) for a in args]
    outs = inline(g, vs)
    return [wrap(o) for o in outs], Tape(outs, vs, stop=True).forward(list(tangents))


# ---- cond ------------------------------------------------------------------------------------


def _split_cond(op: Cond, inputs: list) -> tuple[Array, list, list, list]:
    n = op.n_ops
    return (inputs[0], inputs[1:1 + n], inputs[1 + n:1 + n + op.n_te],
            inputs[1 + n + op.n_te:])


def _branch(op: Cond, ops_: list, te: list, fe: list, taken: bool) -> tuple:
    """The inner graph of one branch and the positions, in ``ops_ + te + fe``, of its inputs
    (the shared operands, then that branch's own)."""
    g = op.true_g if taken else op.false_g
    first = len(ops_) + (0 if taken else len(te))
    own = len(te) if taken else len(fe)
    return g, list(range(len(ops_))) + list(range(first, first + own))


@register_vjp(Cond)
def _cond_vjp(op: Cond, inputs, outputs, cts):
    pred, ops_, te, fe = _split_cond(op, inputs)
    live = [k for k, c in enumerate(cts) if c is not None]
    if not live:
        return [None] * len(inputs)
    rest = ops_ + te + fe
    want = [k for k, a in enumerate(rest) if _diff(a)]
    if not want:
        return [None] * len(inputs)
    inner: dict = {}  # (branch, position) -> the gate of its cotangent inside that branch
    outer_preds: dict = {}

    def branch(taken: bool):
        g, mine = _branch(op, ops_, te, fe, taken)

        def fn(shared, cvals):
            # a branch's own captured values by closure: the backward cond computes them only
            # when that branch is taken, as the forward one does (zeros for the others' are
            # built from their types alone)
            args = list(shared) + list(te) + list(fe)
            full = [None] * len(outputs)
            for k, c in zip(live, cvals):
                full[k] = c
            sub = [args[i] for i in mine]
            gs = _vjp(g, sub, full, keep_gates=True)
            outside = {as_var(a): as_var(rest[i]) for i, a in zip(mine, sub)}
            traced = {as_var(a) for a in list(shared) + list(cvals)}
            got = {}
            for i, r in zip(mine, gs):
                if isinstance(r, Gated):
                    if i >= len(ops_):  # an operand's cotangent stays ungated
                        inner[taken, i] = r.gate.outside(outside, traced, outer_preds)
                    r = r.ct
                got[i] = r
            return [_or_zeros(got.get(i), rest[i]) for i in want]
        return fn

    res = api.cond(pred, branch(True), branch(False), ops_, [cts[k] for k in live])
    gates = {True: CondGate(((pred, True),)), False: CondGate(((pred, False),))}
    out = [None] * len(inputs)
    for i, r in zip(want, res):
        own = i >= len(ops_)  # a branch's own value: its cotangent is zero under the other
        taken = i < len(ops_) + len(te)
        out[1 + i] = Gated(r, gates[taken].then(inner.get((taken, i)))) if own else r
    return out


class CondGate:
    """The path of nested ``cond`` branches ``conds`` (``((pred, taken), ...)``, outermost
    first; ``pred`` an Array whose value is ``taken`` on the path): the gate of cotangents
    that are zero unless every branch of the path runs (see `Gated`). A predicate is a value
    of the graph being differentiated, computed wherever the branches around it run."""

    __slots__ = ("conds",)

    def __init__(self, conds: tuple) -> None:
        self.conds = tuple(conds)

    def _key(self) -> tuple:
        return tuple((id(p._v), t) for p, t in self.conds)

    def __eq__(self, other) -> bool:
        return isinstance(other, CondGate) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def then(self, inner: CondGate | None) -> CondGate:
        """The path of ``inner`` within this one's last branch."""
        return self if inner is None else CondGate(self.conds + inner.conds)

    def join(self, other: CondGate) -> CondGate | None:
        """The gate of a sum of cotangents under this gate and ``other``: their common
        outer branches (None: none)."""
        n = 0
        for (p, t), (q, u) in zip(self.conds, other.conds):
            if p._v is not q._v or t != u:
                break
            n += 1
        if n == len(self.conds):
            return self
        return CondGate(self.conds[:n]) if n else None

    def outside(self, outside: dict, traced: set, memo: dict) -> CondGate | None:
        """This gate, found inside a traced ``cond`` branch, in the variables of the graph
        around it: each predicate computed from the branch's inputs ``outside`` maps (inner
        Var -> outer Var) is computed from the outer ones (``memo``: inner Var -> outer
        Array). The path stops before a predicate that reads another variable of the trace
        (in ``traced``): a shorter path still gates the cotangent."""
        conds = []
        for p, taken in self.conds:
            v = as_var(p)
            if v not in memo:
                memo[v] = _computed_outside(v, outside, traced)
            if memo[v] is None:
                break
            conds.append((memo[v], taken))
        return CondGate(conds) if conds else None

    def pull(self, ap, call, cts: list, outputs, memo: dict) -> list:
        """``call(cts)``, a vjp rule of node ``ap`` applied to cotangents under this gate; if
        it reads a value the forward pass of ``outputs`` computes only under some branch, it
        is applied under nested ``cond``s on the path's predicates instead (zeros where the
        path is not taken), which read that value only when the whole path runs."""
        res = call(cts)
        flat = [r.ct if isinstance(r, Gated) else r for r in res]
        if not _reads_deferred(flat, cts, outputs, memo):
            return res
        return self._under(ap, call, cts, res, flat)

    def _under(self, ap, call, cts: list, res: list, flat: list) -> list:
        """``call(cts)`` (``res``, Arrays ``flat``) built again under this path's ``cond``s."""
        want = [i for i, r in enumerate(flat) if r is not None]
        likes = [as_var(flat[i]) for i in want]
        if not want or any(None in v.shape for v in likes):
            return res  # the zeros of the branch not run need static shapes
        live = [k for k, c in enumerate(cts) if c is not None]
        # captured by every level's functions (defaults: tracing lifts what a function closes
        # over whole, so the node's values and the inner predicates are computed outside each
        # branch, and only when it runs)
        keep = (tuple(wrap(v) for v in list(ap.inputs) + list(ap.outputs)),
                tuple(p for p, _ in self.conds))

        def run(cvals, keep=keep):
            full = [None] * len(cts)
            for k, c in zip(live, cvals):
                full[k] = c
            res = call(full)
            return [res[i].ct if isinstance(res[i], Gated) else res[i] for i in want]

        def zeros(cvals):
            return [xp.zeros(v.shape, dtype=v.dtype) for v in likes]

        def level(n: int, cvals, keep=keep):
            if n == len(self.conds):
                return run(cvals)
            pred, taken = self.conds[n]

            def inside(cv, keep=keep):
                return level(n + 1, cv)
            return api.cond(pred, inside if taken else zeros, zeros if taken else inside, cvals)

        outs = level(0, [cts[k] for k in live])
        full = [None] * len(flat)
        for i, o in zip(want, outs):  # a gate of the rule's own stays, within this one
            full[i] = Gated(o, res[i].gate) if isinstance(res[i], Gated) else o
        return full


def _computed_outside(v: Var, outside: dict, traced: set) -> Array | None:
    """``v``, a variable of a trace computed from the variables ``outside`` maps, computed
    from what they map to instead (None: it reads another variable of the trace, in
    ``traced``)."""
    stack, seen = [v], set()
    while stack:
        u = stack.pop()
        if u in seen or u in outside:
            continue
        seen.add(u)
        if u in traced:
            return None
        if u.owner is not None:
            stack.extend(u.owner.inputs)
    return wrap(clone([v], outside)[0])


def _reads_deferred(results: list, cts: list, outputs, memo: dict) -> bool:
    """Whether computing ``results`` (Arrays or None, built from cotangents ``cts``) reads a
    value that the forward graph of ``outputs`` (Vars) computes only under a ``cond`` branch
    (a leaf computes nothing). ``memo`` keeps that graph's values so (those it always
    computes, and the others)."""
    if "always" not in memo:
        memo["always"] = always = needed_every_run(outputs)
        memo["deferred"] = {v for v in _reachable(outputs)
                            if v.owner is not None and v not in always}
    always, deferred = memo["always"], memo["deferred"]
    seen = {as_var(c) for c in cts if c is not None}
    stack = [as_var(r) for r in results if r is not None]
    while stack:
        v = stack.pop()
        if v in seen or v in always:
            continue
        if v in deferred:
            return True
        seen.add(v)
        node = v.owner
        if node is not None:
            stack.extend(node.inputs)  # a cond's branches too: one on another predicate
    return False                           # runs them outside the gate's path


def _reachable(outputs) -> set:
    """The variables ``outputs`` depend on (themselves included)."""
    found: set = set()
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v not in found:
            found.add(v)
            if v.owner is not None:
                stack.extend(v.owner.inputs)
    return found


@register_jvp(Cond)
def _cond_jvp(op: Cond, inputs, outputs, tangents):
    pred, ops_, te, fe = _split_cond(op, inputs)
    n_ops = len(ops_)
    live = [k for k, t in enumerate(tangents[1:]) if t is not None]
    if not live:
        return [None] * len(outputs)
    shared_live = [k for k in live if k < n_ops]

    def branch(taken: bool):
        g, mine = _branch(op, ops_, te, fe, taken)

        def fn(shared, tvals):
            # a branch's own captured values and their tangents by closure: computed only when
            # that branch is taken (see `_cond_vjp`)
            args = list(shared) + list(te) + list(fe)
            tan = dict(zip(shared_live, tvals))
            tan.update((i, tangents[1 + i]) for i in mine if i >= n_ops and i in live)
            outs, touts = _jvp(g, [args[i] for i in mine], [tan.get(i) for i in mine])
            return [_or_zeros(t, o) for t, o in zip(touts, outs)]
        return fn

    return list(api.cond(pred, branch(True), branch(False), ops_,
                         [tangents[1 + k] for k in shared_live]))


# ---- scan ------------------------------------------------------------------------------------


def _split_scan(op: Scan, inputs: list) -> tuple[Array, list, list, list]:
    nc, nx = op.n_carry, op.n_xs
    return inputs[0], inputs[1:1 + nc], inputs[1 + nc:1 + nc + nx], inputs[1 + nc + nx:]


def _length(op: Scan, n: Array):
    return op.length if op.length is not None else n


def _stacked_carries(op: Scan, inputs) -> list[Array]:
    """The carry values each step started from, stacked: the forward scan again, with the
    carries as extra per-step outputs (folded into the original by ``merge_scans``)."""
    b = op.body
    nc = op.n_carry
    aug = InnerGraph(b.inputs, list(b.outputs) + list(b.inputs[:nc]))
    aug_op = Scan(aug, nc, op.n_xs, op.n_consts, op.reverse, op.length,
                  tuple(op.ys_last) + (False,) * nc)
    outs = apply(aug_op, *[as_var(a) for a in inputs])
    return [wrap(o) for o in outs[len(outs) - nc:]]


@register_vjp(Scan)
def _scan_vjp(op: Scan, inputs, outputs, cts):
    if any(op.ys_last):
        raise NotImplementedError("vjp of a scan whose outputs keep only the last step "
                                  "(differentiate before the loop rewrites run)")
    n, carry, xs, consts = _split_scan(op, inputs)
    nc = op.n_carry
    if all(c is None for c in cts):
        return [None] * len(inputs)
    # every differentiable carry (derivatives flow back through it even from a constant
    # initial value); only the sequences and constants the sweep wants
    want = _wanted(len(inputs))
    dc = tuple(k for k in range(nc) if _diff(carry[k]))
    dx = tuple(k for k in range(len(xs)) if _diff(xs[k]) and want[1 + nc + k])
    dk = tuple(k for k in range(len(consts)) if _diff(consts[k])
               and want[1 + nc + len(xs) + k])
    dy = tuple(k for k, c in enumerate(cts[nc:]) if c is not None)
    if not (dc or dx or dk):
        return [None] * len(inputs)
    xs = _trim(op, xs)
    node, holders = _backward_scan(op, dc, dx, dk, dy, [as_var(x).shape for x in xs])
    actual = ([_or_zeros(cts[k], carry[k]) for k in dc] + _stacked_carries(op, inputs) + xs
              + [cts[nc + k] for k in dy] + list(consts) + [n])
    mapping = {h: as_var(a) for h, a in zip(holders, actual)}
    res = [wrap(v) for v in apply(node.op, *clone(node.inputs, mapping))]
    out = [None] * len(inputs)
    for k, g in zip(dc, res):
        out[1 + k] = g
    for k, g in zip(dk, res[len(dc):]):
        out[1 + nc + len(xs) + k] = g
    for k, g in zip(dx, res[len(dc) + len(dk):]):
        out[1 + nc + k] = _pad(g, inputs[1 + nc + k], n)
    return out


_backward_cache: dict = {}


def _backward_scan(op: Scan, dc, dx, dk, dy, x_shapes) -> tuple:
    """The backward scan of ``op`` built once on placeholder inputs: ``(its node, the
    placeholders)``, placeholders in the order ct inits, stacked carries, xs, ys cotangents,
    consts, length. Tracing and differentiating the body is the costly part of the rule;
    eager code calls the rule again on every step."""
    key = (op, dc, dx, dk, dy, tuple(x_shapes))
    hit = _backward_cache.get(key)
    if hit is not None:
        return hit
    b = op.body
    nc, nx = op.n_carry, op.n_xs
    c_in, x_in, k_in = b.inputs[:nc], b.inputs[nc:nc + nx], b.inputs[nc + nx:]
    n_len = op.length if op.length is not None else 0

    def holder(v: Var, lead: tuple = ()) -> Var:
        return Var.input(v.dtype, lead + tuple(v.shape))

    seq = (op.length,)
    h_init = [holder(c_in[k]) for k in dc]
    h_stacked = [holder(v, seq) for v in c_in]
    h_xs = [Var.input(v.dtype, sh) for v, sh in zip(x_in, x_shapes)]
    h_cty = [holder(b.outputs[nc + k], seq) for k in dy]
    h_k = [holder(v) for v in k_in]
    h_n = Var.input(np.int64, ())
    consts = [wrap(v) for v in h_k]

    def back(state, seq_t):
        ct_c, acc = state
        c_t, x_t, cty_t = seq_t
        out_ct = [None] * len(b.outputs)
        for k, c in zip(dc, ct_c):
            out_ct[k] = c
        for k, c in zip(dy, cty_t):
            out_ct[nc + k] = c
        gs = _vjp(b, list(c_t) + list(x_t) + consts, out_ct)
        new_ct = [_or_zeros(gs[k], c_t[k]) for k in dc]
        new_acc = [a if gs[nc + nx + k] is None else a + gs[nc + nx + k]
                   for a, k in zip(acc, dk)]
        gx = [_or_zeros(gs[nc + k], x_t[k]) for k in dx]
        return (new_ct, new_acc), gx

    init = ([wrap(v) for v in h_init], [_zeros(consts[k]) for k in dk])
    xs_t = ([wrap(v) for v in h_stacked], [wrap(v) for v in h_xs], [wrap(v) for v in h_cty])
    length = n_len if op.length is not None else wrap(h_n)
    (ct_c, ct_k), gx = api.scan(back, init, xs_t, length=length, reverse=not op.reverse)
    node = as_var((list(ct_c) + list(ct_k) + list(gx))[0]).owner
    if len(_backward_cache) >= 256:
        _backward_cache.clear()
    hit = _backward_cache[key] = (node, h_init + h_stacked + h_xs + h_cty + h_k + [h_n])
    return hit


def _trim(op: Scan, xs: Sequence[Array]) -> list[Array]:
    """Sequences cut to the loop's static length (a sequence may be longer than the loop)."""
    n = op.length
    return [x if n is None or as_var(x).shape[0] in (None, n) else x[:n] for x in xs]


def _pad(g: Array, x: Array, length: Array) -> Array:
    """Zero cotangent rows for the part of a sequence longer than the loop (``length``: its
    lazy step count, where ``g``'s rows are known only at run time)."""
    n, m = as_var(g).shape[0], as_var(x).shape[0]
    if n == m:
        return g
    rest = tuple(as_var(x).shape[1:])
    if n is None and m is not None:
        # m rows taken from g's rows and one zero row after them (the last): row i < length
        # is g's (a negative length, which runs no step, takes none)
        gz = xp.concat([g, xp.zeros((1,) + rest, dtype=g.dtype)])
        rows = xp.arange(m)
        return take(gz, xp.where(rows < length, rows, -1), axis=0)
    if n is None or m is None:  # both known only at run time: the loop walks the whole of x
        return g
    return xp.concat([g, xp.zeros((m - n,) + rest, dtype=g.dtype)])


@register_jvp(Scan)
def _scan_jvp(op: Scan, inputs, outputs, tangents):
    n, carry, xs, consts = _split_scan(op, inputs)
    nc, nx = op.n_carry, op.n_xs
    t_carry = tangents[1:1 + nc]
    t_xs = tangents[1 + nc:1 + nc + nx]
    t_k = tangents[1 + nc + nx:]
    if all(t is None for t in tangents[1:]):
        return [None] * len(outputs)
    dc = [k for k in range(nc) if _diff(carry[k])]
    tx = [k for k in range(nx) if t_xs[k] is not None]

    def step(state, seq):
        c, tc = state
        x, txs = seq
        tan = [None] * len(op.body.inputs)
        for k, t in zip(dc, tc):
            tan[k] = t
        for k, t in zip(tx, txs):
            tan[nc + k] = t
        for k, t in enumerate(t_k):
            tan[nc + nx + k] = t
        outs, touts = _jvp(op.body, list(c) + list(x) + list(consts), tan)
        new_tc = [_or_zeros(touts[k], outs[k]) for k in dc]
        ty = [_or_zeros(t, o) for t, o in zip(touts[nc:], outs[nc:])]
        return (outs[:nc], new_tc), ty

    init = (list(carry), [_or_zeros(t_carry[k], carry[k]) for k in dc])
    (_, tc), ty = api.scan(step, init, (_trim(op, xs), _trim(op, [t_xs[k] for k in tx])),
                           length=_length(op, n), reverse=op.reverse)
    res = [None] * len(outputs)
    for k, t in zip(dc, tc):
        res[k] = t
    for k, t in enumerate(ty):
        res[nc + k] = t
    return res


# ---- while -----------------------------------------------------------------------------------


def _body_tangents(nc: int, be: list, dc: list, tc: list, t_be: list) -> list:
    """Tangents of a while body's inputs: the differentiated carries' ``tc`` (at ``dc``), then
    its extras' ``t_be``; None elsewhere."""
    tan = [None] * (nc + len(be))
    for k, t in zip(dc, tc):
        tan[k] = t
    for k, t in enumerate(t_be):
        tan[nc + k] = t
    return tan


def _recorded_while_jvp(op: While, outputs, be, dc, t_c, t_be) -> list:
    """Tangents of a recording loop's outputs, its trajectory included: a scan over the
    recorded carries (the step count is known), each step's tangent the body's jvp of the last
    one; the stacked tangents each step started from are the trajectory's."""
    nc = op.n_carry
    traj = outputs[nc:2 * nc]

    def step(tc, c_t):
        outs, touts = _jvp(op.body_g, list(c_t) + list(be), _body_tangents(nc, be, dc, tc, t_be))
        return [_or_zeros(touts[k], outs[k]) for k in dc], list(tc)

    init = [_or_zeros(t_c[k], outputs[k]) for k in dc]
    tc, t_traj = api.scan(step, init, list(traj), length=outputs[2 * nc])
    res = [None] * len(outputs)
    for j, k in enumerate(dc):
        res[k] = tc[j]
        res[nc + k] = t_traj[j]
    return res


def _split_while(op: While, inputs: list) -> tuple[list, list, list]:
    nc = op.n_carry
    return inputs[:nc], inputs[nc:nc + op.n_ce], inputs[nc + op.n_ce:]


@register_vjp(While)
def _while_vjp(op: While, inputs, outputs, cts):
    if not op.record:
        raise NotImplementedError("vjp of a while loop that did not record its trajectory")
    carry, ce, be = _split_while(op, inputs)
    nc = op.n_carry
    # cotangents of the final carries, and of the recorded trajectory (a second derivative
    # reads it: the first one's backward loop walks it)
    ct_traj = list(cts[nc:2 * nc])
    if all(c is None for c in list(cts[:nc]) + ct_traj):
        return [None] * len(inputs)
    traj = outputs[nc:2 * nc]
    steps = outputs[2 * nc]
    want = _wanted(len(inputs))
    dc = [k for k in range(nc) if _diff(carry[k])]
    dk = [k for k in range(len(be)) if _diff(be[k]) and want[nc + op.n_ce + k]]
    dt = [k for k in dc if ct_traj[k] is not None]

    def back(state, seq):
        ct_c, acc = state
        c_t, g_t = seq
        out_ct = [None] * nc
        for k, c in zip(dc, ct_c):
            out_ct[k] = c
        gs = _vjp(op.body_g, list(c_t) + list(be), out_ct)
        new_ct = [_or_zeros(gs[k], carry[k]) for k in dc]
        for j, k in enumerate(dt):  # the carry this step started from was also recorded
            i = dc.index(k)
            new_ct[i] = new_ct[i] + g_t[j]
        new_acc = [a if gs[nc + k] is None else a + gs[nc + k] for a, k in zip(acc, dk)]
        return (new_ct, new_acc), None

    init = ([_or_zeros(cts[k], carry[k]) for k in dc], [_zeros(be[k]) for k in dk])
    (ct_c, ct_k), _ = api.scan(back, init, (list(traj), [ct_traj[k] for k in dt]),
                               length=steps, reverse=True)
    out = [None] * len(inputs)
    for k, g in zip(dc, ct_c):
        out[k] = g
    for k, g in zip(dk, ct_k):
        out[nc + op.n_ce + k] = g
    return out


@register_jvp(While)
def _while_jvp(op: While, inputs, outputs, tangents):
    carry, ce, be = _split_while(op, inputs)
    nc = op.n_carry
    t_c, t_be = tangents[:nc], tangents[nc + op.n_ce:]
    if all(t is None for t in list(t_c) + list(t_be)):
        return [None] * len(outputs)
    dc = [k for k in range(nc) if _diff(carry[k])]
    if op.record:
        return _recorded_while_jvp(op, outputs, be, dc, t_c, t_be)

    def cond_fn(state):
        c, _ = state
        return wrap(inline(op.cond_g, [as_var(a) for a in list(c) + list(ce)])[0])

    def body_fn(state):
        c, tc = state
        outs, touts = _jvp(op.body_g, list(c) + list(be), _body_tangents(nc, be, dc, tc, t_be))
        return outs, [_or_zeros(touts[k], outs[k]) for k in dc]

    _, tc = api.while_loop(cond_fn, body_fn,
                           (list(carry), [_or_zeros(t_c[k], carry[k]) for k in dc]))
    res = [None] * len(outputs)
    for k, t in zip(dc, tc):
        res[k] = t
    return res
