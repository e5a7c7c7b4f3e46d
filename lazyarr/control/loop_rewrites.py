"""Loop rewrites over a `FunctionGraph` (Theano's scan optimizations, on `Scan` nodes).

Each rewrite edits ``fg`` in place and returns how many times it fired:

* `unroll_length_one`: a scan of static length 1 becomes its body, inlined;
* `hoist_invariants`: body computation that reads only loop constants moves before the loop
  (user bodies are hoisted at trace time; bodies built by differentiation are not);
* `sequence_matmul`: a per-step ``x_t @ W`` with ``x_t`` a sequence slice and ``W`` a loop
  constant becomes one ``X @ W`` before the loop, read back as a sequence;
* `reuse_forward_values`: a backward scan that recomputes per-step values of the forward
  scan it walks back over with a matrix product reads them stacked by the forward scan;
* `constant_matvec`: a per-step ``v @ W`` with ``W`` constant becomes ``Wᵀ @ v``, ``Wᵀ`` a
  view made before the loop (no transpose in every step);
* `merge_scans`: two independent scans of the same length and direction become one; carries
  with the same initial value and the same update merge (so a forward pass repeated by a
  gradient is computed once);
* `pushout_accumulators`: a carry that only sums a per-step term (``acc = acc + x_t``, as the
  gradients of loop constants do) becomes a stacked output summed after the loop; an outer
  product term ``u_t v_tᵀ`` becomes one matrix product ``Uᵀ V`` after the loop (a sum
  starting from zeros is that alone, so ``W - lr * Uᵀ V`` can become one ``Gemm``), where the
  stacked terms fit `PUSHOUT_MAX_BYTES`;
* `keep_last`: a stacked output read only at its last step keeps only that step;
* `prune`: outputs nobody reads, carries nothing needs and inputs nothing reads are dropped;
* `drop_trajectory`: a while loop whose trajectory nobody reads (no gradient) stops recording.

`optimize_loops` runs them all to a fixed point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..array.coerce import wrap
from ..array.functions.linalg_basic import matrix_transpose
from ..array.functions.manipulation import reshape
from ..array.functions.statistics import sum as xsum
from ..array.ops.creation import Alloc
from ..array.ops.elemwise import Elemwise
from ..array.ops.index import FULL_SLICE, GetItem, fixed_spec
from ..array.ops.linalg import MatMul
from ..array.ops.shape import Reshape, Transpose
from ..diff.engine import deep_graphs
from ..graph._walk import cut
from ..graph.basic import Apply, Var, apply
from ..graph.clone import clone
from ..graph.fgraph import FunctionGraph
from ..graph.fold import fold
from ..graph.inner import InnerGraph
from ..rewrites.db import register_pass
from .ops import Scan, While
from .trace import close, needed_every_run

# ---- helpers ---------------------------------------------------------------------------------


def inline(g: InnerGraph, args: Sequence[Var]) -> list[Var]:
    """The outputs of inner graph ``g`` computed on outer variables ``args``."""
    return clone(g.outputs, dict(zip(g.inputs, args)))


def _fresh(v: Var, name: str | None = None) -> Var:
    return Var.input(v.dtype, v.shape, name or v.name)


def _scans(fg: FunctionGraph) -> list[Apply]:
    return [n for n in fg.toposort() if isinstance(n.op, Scan)]


class _Parts:
    """A scan node's inputs and body split by role."""

    def __init__(self, node: Apply):
        op: Scan = node.op
        nc, nx = op.n_carry, op.n_xs
        self.op, self.node = op, node
        self.n = node.inputs[0]
        self.carry = list(node.inputs[1:1 + nc])
        self.xs = list(node.inputs[1 + nc:1 + nc + nx])
        self.consts = list(node.inputs[1 + nc + nx:])
        b = op.body
        self.b_carry = b.inputs[:nc]
        self.b_xs = b.inputs[nc:nc + nx]
        self.b_consts = b.inputs[nc + nx:]
        self.new_carry = b.outputs[:nc]
        self.ys = b.outputs[nc:]


def _build(node: Apply, n: Var, carry, xs, consts, b_carry, b_xs, b_consts, new_carry, ys,
           ys_last) -> list[Var]:
    """Apply a new scan (same direction and length as ``node``); returns its outputs."""
    op: Scan = node.op
    body = InnerGraph(list(b_carry) + list(b_xs) + list(b_consts), list(new_carry) + list(ys))
    new_op = Scan(body, len(carry), len(xs), len(consts), op.reverse, op.length, tuple(ys_last))
    return apply(new_op, n, *carry, *xs, *consts)


def _rebuild(fg: FunctionGraph, p: _Parts, body_outs: Sequence[Var], xs=None, b_xs=None,
             consts=None, b_consts=None) -> None:
    """Replace scan ``p.node`` by a scan like it (same carries, stacking) whose body returns
    ``body_outs`` (new carries then ys), with the sequences and constants given (default: its
    own, with their body inputs)."""
    nc = len(p.carry)
    outs = _build(p.node, p.n, p.carry, p.xs if xs is None else xs,
                  p.consts if consts is None else consts, p.b_carry,
                  p.b_xs if b_xs is None else b_xs, p.b_consts if b_consts is None else b_consts,
                  body_outs[:nc], body_outs[nc:], p.op.ys_last)
    _replace_all(fg, p.node.outputs, outs)


def _deps(outs: Sequence[Var], ins: Sequence[Var]) -> list[int]:
    """Per output, a bitset of the ``ins`` it depends on."""
    bit = {v: 1 << k for k, v in enumerate(ins)}
    memo = fold(outs, lambda v: bit.get(v, 0), _union)
    return [memo[o] for o in outs]


def _union(masks: list[int]) -> int:
    m = 0
    for x in masks:
        m |= x
    return m


def _static(n: Var) -> int | None:
    if n.owner is None and n.data is not None and n.data.shape == ():
        return int(n.data)
    return None


def _replace_all(fg: FunctionGraph, olds: Sequence[Var], news: Sequence[Var | None]) -> None:
    """Readers of each of ``olds`` read its new variable (``None``: keep it), in one walk."""
    fg.replace_all([(o, n) for o, n in zip(olds, news) if n is not None])


# ---- rewrites --------------------------------------------------------------------------------


def _share_duplicate_ys(fg: FunctionGraph, node: Apply) -> bool:
    """Readers of a stacked output that repeats an earlier one (the same body value, stacked
    the same way) read the earlier one instead; `prune` then drops the repeat."""
    p = _Parts(node)
    nc = len(p.carry)
    if len(p.ys) < 2:
        return False
    refs = cut(p.ys)[2]  # equal refs: the same value after common sub-expressions merge
    first: dict = {}
    repeats = []
    for k, (ref, last) in enumerate(zip(refs, p.op.ys_last)):
        j = first.setdefault((ref, last), k)
        if j != k:
            repeats.append((node.outputs[nc + k], node.outputs[nc + j]))
    fg.replace_all(repeats)
    return bool(repeats)


def prune(fg: FunctionGraph) -> int:
    """Drop scan outputs nobody reads (or that repeat another), carries no kept output needs,
    unread inputs."""
    fired = 0
    clients = None  # computed again only after the graph changed
    for node in _scans(fg):
        if _share_duplicate_ys(fg, node) or clients is None:
            clients = fg.clients()
        p = _Parts(node)
        nc = len(p.carry)
        read = [bool(clients.get(o)) for o in node.outputs]
        body_ins = p.b_carry + p.b_xs + p.b_consts
        deps = _deps(p.new_carry + p.ys, body_ins)
        live_y = read[nc:]
        live_c = read[:nc]
        changed = True
        while changed:
            changed = False
            need = 0
            for k in range(nc):
                if live_c[k]:
                    need |= deps[k]
            for k, lv in enumerate(live_y):
                if lv:
                    need |= deps[nc + k]
            for k in range(nc):
                if not live_c[k] and need >> k & 1:
                    live_c[k] = changed = True
        need = 0
        for k in range(nc):
            if live_c[k]:
                need |= deps[k]
        for k, lv in enumerate(live_y):
            if lv:
                need |= deps[nc + k]
        nx = len(p.xs)
        keep_x = [bool(need >> (nc + k) & 1) for k in range(nx)]
        keep_k = [bool(need >> (nc + nx + k) & 1) for k in range(len(p.consts))]
        if all(live_c) and all(live_y) and all(keep_x) and all(keep_k):
            continue
        if not any(live_c) and not any(live_y):
            continue  # unreachable: toposort found the node through a reader

        def sel(items, mask):
            return [v for v, m in zip(items, mask) if m]

        outs = _build(node, p.n, sel(p.carry, live_c), sel(p.xs, keep_x),
                      sel(p.consts, keep_k), sel(p.b_carry, live_c), sel(p.b_xs, keep_x),
                      sel(p.b_consts, keep_k), sel(p.new_carry, live_c), sel(p.ys, live_y),
                      sel(p.op.ys_last, live_y))
        it = iter(outs)
        news = [next(it) if m else None for m in live_c + live_y]
        _replace_all(fg, node.outputs, news)
        clients = None
        fired += 1
    return fired


def drop_trajectory(fg: FunctionGraph) -> int:
    """A while loop whose recorded trajectory and step count nobody reads stops recording."""
    fired = 0
    clients = None
    for node in fg.toposort():
        op = node.op
        if not isinstance(op, While) or not op.record:
            continue
        clients = clients if clients is not None else fg.clients()
        if any(clients.get(o) for o in node.outputs[op.n_carry:]):
            continue
        new_op = While(op.cond_g, op.body_g, op.n_carry, op.n_ce, op.n_be, False)
        outs = apply(new_op, *node.inputs)
        _replace_all(fg, node.outputs[:op.n_carry], outs)
        fired += 1
    return fired


def _fixed(reader: Apply) -> tuple | None:
    """The spec of ``reader`` (a `GetItem`) with its constant integers fixed, or None where
    an index is given at run time."""
    spec = reader.op.spec
    if len(reader.inputs) > 1:
        fixed = fixed_spec(spec, reader.inputs[1:])
        if fixed is None or fixed[1]:
            return None
        spec = fixed[0]
    return spec


def _is_last(spec: tuple | None, length: int | None) -> bool:
    if not spec or spec[0][0] != "i":
        return False
    if any(e != FULL_SLICE for e in spec[1:]):
        return False
    return spec[0][1] == -1 or (length is not None and spec[0][1] == length - 1)


def keep_last(fg: FunctionGraph) -> int:
    """A stacked output whose only readers take its last step keeps only that step (not in a
    reverse scan: its last row is the step run first)."""
    fired = 0
    clients = None  # computed again only after the graph changed
    for node in _scans(fg):
        if node.op.reverse:
            continue
        if clients is None:
            clients = fg.clients()
        p = _Parts(node)
        nc = len(p.carry)
        length = p.op.length
        flags = list(p.op.ys_last)
        readers: dict[int, list[Apply]] = {}
        for k, y in enumerate(node.outputs[nc:]):
            cl = clients.get(y, [])
            if flags[k] or not cl:
                continue
            if all(isinstance(r, Apply) and isinstance(r.op, GetItem)
                   and _is_last(_fixed(r), length) for r, _ in cl):
                flags[k] = True
                readers[k] = [r for r, _ in cl]
        if not readers:
            continue
        outs = _build(node, p.n, p.carry, p.xs, p.consts, p.b_carry, p.b_xs, p.b_consts,
                      p.new_carry, p.ys, flags)
        pairs = [(r.outputs[0], outs[nc + k]) for k, rs in readers.items() for r in rs]
        pairs += [(o, n) for k, (o, n) in enumerate(zip(node.outputs, outs))
                  if k - nc not in readers]
        fg.replace_all(pairs)
        clients = None
        fired += 1
    return fired


def unroll_length_one(fg: FunctionGraph) -> int:
    """A scan of static length 1 becomes its body applied once."""
    fired = 0
    for node in _scans(fg):
        p = _Parts(node)
        if _static(p.n) != 1 or p.op.length != 1:
            continue
        if any(None in y.shape for y in p.ys):
            continue
        slices = []
        for x, bx in zip(p.xs, p.b_xs):
            spec = (("i", 0),) + (FULL_SLICE,) * (len(x.shape) - 1)
            slices.append(apply(GetItem(spec, tuple(bx.shape)), x)[0])
        outs = inline(p.op.body, p.carry + slices + p.consts)
        nc = len(p.carry)
        news = outs[:nc]
        for y, last in zip(outs[nc:], p.op.ys_last):
            news.append(y if last else apply(Reshape((1,) + tuple(y.shape)), y)[0])
        _replace_all(fg, node.outputs, news)
        fired += 1
    return fired


def hoist_invariants(fg: FunctionGraph) -> int:
    """Move body computation that depends only on loop constants before the loop."""
    fired = 0
    for node in _scans(fg):
        p = _Parts(node)
        variant = p.b_carry + p.b_xs
        n = p.op.length
        new_outs, extras, lifted = close(variant, p.new_carry + p.ys,
                                         hoist="steps" if n is not None and n >= 1 else "safe")
        computed = [e for e in extras if e.owner is not None]
        if not computed:
            continue
        outer_extras = clone(extras, dict(zip(p.b_consts, p.consts)))
        _rebuild(fg, p, new_outs, consts=outer_extras, b_consts=lifted)
        fired += 1
    return fired


def sequence_matmul(fg: FunctionGraph) -> int:
    """Per-step ``x_t @ W`` (``x_t`` a sequence slice, ``W`` constant, at most 2-D) becomes a
    sequence ``X @ W`` computed once before the loop."""
    fired = 0
    for node in _scans(fg):
        p = _Parts(node)
        xs_pos = {v: k for k, v in enumerate(p.b_xs)}
        const_pos = {v: k for k, v in enumerate(p.b_consts)}
        body_fg = FunctionGraph(p.op.body.inputs, p.op.body.outputs)
        found = []
        for m in body_fg.toposort():
            if not isinstance(m.op, MatMul):
                continue
            a, w = m.inputs
            if a not in xs_pos or len(w.shape) > 2 or len(a.shape) < 1:
                continue
            if w in const_pos:
                w_out = p.consts[const_pos[w]]
            elif w.owner is None and w.data is not None:
                w_out = w
            else:
                continue
            found.append((m, p.xs[xs_pos[a]], w_out))
        if not found:
            continue
        mapping = {}
        new_xs, new_bxs = list(p.xs), list(p.b_xs)
        for m, x_out, w_out in found:
            xw = apply(MatMul(), x_out, w_out)[0]
            s = _fresh(m.outputs[0], "xW_t")
            new_xs.append(xw)
            new_bxs.append(s)
            mapping[m.outputs[0]] = s
        _rebuild(fg, p, clone(p.new_carry + p.ys, mapping), xs=new_xs, b_xs=new_bxs)
        fired += 1
    return fired


def _never_realizing(rewrite: Callable) -> Callable:
    """``rewrite`` run with the pending-depth bound lifted (`deep_graphs`): it builds nodes
    through front-end functions (`wrap`, sums, ``@``) on symbolic values, and wrapping a
    value deeper than the bound would realize its chain (a ConcretizationError in the
    gradient of a 320-layer stacked RNN); a rewrite never realizes."""
    @functools.wraps(rewrite)
    def run(fg: FunctionGraph, *args, **kwargs):
        with deep_graphs():
            return rewrite(fg, *args, **kwargs)
    return run


@_never_realizing
def constant_matvec(fg: FunctionGraph) -> int:
    """Per-step ``v @ W`` (``v`` a vector, ``W`` a loop-constant matrix) becomes ``Wᵀ @ v``
    with ``Wᵀ`` a view made once before the loop: BLAS reads it as stored, and the step runs
    no transpose of its own (the BLAS rewrite would put ``Transpose(W)`` into every step)."""
    fired = 0
    transposed: dict = {}  # one Wᵀ per W, shared by the scans (so they can merge)
    for node in _scans(fg):
        p = _Parts(node)
        const_pos = {v: k for k, v in enumerate(p.b_consts)}
        body_fg = FunctionGraph(p.op.body.inputs, p.op.body.outputs)
        found = [m for m in body_fg.toposort() if isinstance(m.op, MatMul)
                 and len(m.inputs[0].shape) == 1 and len(m.inputs[1].shape) == 2
                 and m.inputs[1] in const_pos and m.inputs[1].dtype.kind in "fc"]
        if not found:
            continue
        consts, b_consts = list(p.consts), list(p.b_consts)
        mapping: dict = {}
        made: dict = {}
        for m in found:
            v, w = m.inputs
            wt = made.get(w)
            if wt is None:
                w_out = p.consts[const_pos[w]]
                if w_out not in transposed:
                    transposed[w_out] = matrix_transpose(wrap(w_out))._v
                consts.append(transposed[w_out])
                wt = made[w] = _fresh(consts[-1], "Wt")
                b_consts.append(wt)
            mapping[m.outputs[0]] = apply(MatMul(), wt, v)[0]
        _rebuild(fg, p, clone(p.new_carry + p.ys, mapping), consts=consts, b_consts=b_consts)
        fired += 1
    return fired


def _accumulated(p: _Parts, clients: dict) -> dict[int, Var]:
    """Carries ``k`` updated only as ``carry_k + term`` (``term`` not reading the carry, of its
    dtype and shape, the carry read nowhere else): ``{k: term}``."""
    add = Elemwise("add")
    found = {}
    for k, (c_in, c_out) in enumerate(zip(p.b_carry, p.new_carry)):
        node = c_out.owner
        if node is None or node.op is not add:
            continue
        a, b = node.inputs
        term = b if a is c_in else (a if b is c_in else None)
        if term is None or term is c_in or term.dtype != c_in.dtype or term.shape != c_in.shape:
            continue
        if [c for c in clients.get(c_in, []) if c[0] is not node] or \
                clients.get(c_out) != [("output", k)]:
            continue
        found[k] = term
    return found


def _outer_factors(term: Var) -> tuple[Var, Var] | None:
    """``(u, v)`` when ``term`` is the matrix product of a column (m, 1) and a row (1, n)."""
    node = term.owner
    if node is None or not isinstance(node.op, MatMul):
        return None
    u, v = node.inputs
    if len(u.shape) == 2 and len(v.shape) == 2 and u.shape[1] == 1 and v.shape[0] == 1:
        return u, v
    return None


def _vector(v: Var) -> Var:
    """``v`` with the reshapes and transposes that only turned a vector into a row or column
    peeled off (they keep its elements' order)."""
    if None in v.shape:
        return v
    size = math.prod(v.shape)
    while v.owner is not None and isinstance(v.owner.op, (Reshape, Transpose)):
        x = v.owner.inputs[0]
        if None in x.shape or math.prod(x.shape) != size or sum(d != 1 for d in x.shape) > 1:
            break
        v = x
    return v


def _zeros(v: Var) -> bool:
    """``v`` is all ``+0``: constant zeros, or an `Alloc` of a ``+0`` constant."""
    if v.owner is not None and isinstance(v.owner.op, Alloc):
        v = v.owner.inputs[0]
    d = v.data if v.owner is None else None
    return d is not None and d.size > 0 and _plus_zero(np.asarray(d))


def _plus_zero(d: np.ndarray) -> bool:
    """Every value of ``d`` is ``+0`` (both parts of a complex value)."""
    if d.dtype.kind == "c":
        return _plus_zero(d.real) and _plus_zero(d.imag)
    if d.dtype.kind == "f":
        return not np.any(d) and not np.any(np.signbit(d))
    return not np.any(d)


#: most bytes the per-step values a pushed-out accumulator stacks may take (``n`` steps of its
#: term, or of an outer product's two vectors): past it the loop keeps its running sum (a
#: counter ``c + 1`` over 10**8 steps would stack 800 MB)
PUSHOUT_MAX_BYTES = 64 << 20


def _stack_fits(n: int, term: Var) -> bool:
    """Stacking what pushing out ``term``'s sum needs over ``n`` steps stays within
    `PUSHOUT_MAX_BYTES`."""
    parts = _outer_factors(term) or (term,)
    if any(None in v.shape for v in parts):
        return True  # a run-time size: the loop stacks such values anyway
    size = sum(math.prod(v.shape) * v.dtype.itemsize for v in parts)
    return n * size <= PUSHOUT_MAX_BYTES


@_never_realizing
def pushout_accumulators(fg: FunctionGraph) -> int:
    """Sum per-step terms after the loop instead of carrying the running sum."""
    fired = 0
    for node in _scans(fg):
        p = _Parts(node)
        n = p.op.length
        if not n:  # a run-time length, or no steps: the carries are their starts, -0.0 kept
            continue
        clients = FunctionGraph(p.op.body.inputs, p.op.body.outputs).clients()
        acc = {k: term for k, term in _accumulated(p, clients).items()
               if _stack_fits(n, term)}
        if not acc:
            continue
        keep = [k for k in range(len(p.carry)) if k not in acc]
        extra: list[Var] = []
        how: dict[int, tuple] = {}
        seq_of = dict(zip(p.b_xs, p.xs))
        for k, term in acc.items():
            f = _outer_factors(term)
            if f is None:
                how[k] = ("sum", len(extra))
                extra.append(term)
                continue
            srcs = []
            for factor in f:  # a sequence slice is read from the sequence, not restacked
                vec = _vector(factor)
                if vec in seq_of:
                    srcs.append(("seq", seq_of[vec]))
                else:
                    srcs.append(("ys", len(extra)))
                    extra.append(vec)
            how[k] = ("outer", srcs)
        outs = _build(node, p.n, [p.carry[k] for k in keep], p.xs, p.consts,
                      [p.b_carry[k] for k in keep], p.b_xs, p.b_consts,
                      [p.new_carry[k] for k in keep], list(p.ys) + extra,
                      tuple(p.op.ys_last) + (False,) * len(extra))
        nk, ny = len(keep), len(p.ys)
        stacked = [wrap(v) for v in outs[nk + ny:]]
        finals: dict[int, Var] = {}
        for k, (kind, where_) in how.items():
            init = wrap(p.carry[k])
            if kind == "sum":
                total = xsum(stacked[where_], axis=0, dtype=p.carry[k].dtype)  # the loop's dtype
            else:
                m, q = p.b_carry[k].shape
                u, v = (wrap(src) if what == "seq" else stacked[src] for what, src in where_)
                total = matrix_transpose(reshape(u, (n, m))) @ reshape(v, (n, q))
            tv = total._v
            same = tv.dtype == p.carry[k].dtype and tv.shape == p.carry[k].shape
            finals[k] = tv if same and _zeros(p.carry[k]) else (init + total)._v
        it = iter(outs[:nk])
        news = [finals[k] if k in finals else next(it) for k in range(len(p.carry))]
        _replace_all(fg, node.outputs, news + outs[nk:nk + ny])
        fired += 1
    return fired


def _length_key(p: _Parts) -> tuple:
    """Equal for two scans exactly when `_same_length` holds for them."""
    n = _static(p.n)
    return ("static", n) if n is not None else ("var", p.n)


def _same_length(a: _Parts, b: _Parts) -> bool:
    return _length_key(a) == _length_key(b)


def _scans_and_upstream(fg: FunctionGraph) -> tuple[list[Apply], list[int]]:
    """The scans in topological order, and per scan a bitset of the scans (by position) its
    inputs depend on: one sweep over the graph."""
    scans: list[Apply] = []
    upstream: list[int] = []
    mask: dict[Var, int] = {}  # per variable, the scans it depends on
    for node in fg.toposort():
        m = _union([mask.get(v, 0) for v in node.inputs])
        if isinstance(node.op, Scan):
            upstream.append(m)
            m |= 1 << len(scans)
            scans.append(node)
        for o in node.outputs:
            mask[o] = m
    return scans, upstream


def merge_scans(fg: FunctionGraph) -> int:
    """Merge independent scans of the same length and direction into one: in topological
    order, each scan joins the first earlier group of its kind that it does not depend on
    (through any scan, merged ones included). One sweep of the graph picks the groups (the
    dependencies between scans are kept up to date as groups grow); each group is then
    built at once, as merging its scans in turn would build it."""
    with fg.tracked():
        scans, upstream = _scans_and_upstream(fg)
        groups: list[list[int]] = []  # the scans (by position) of each group, in order
        members: list[int] = []  # per group, a bitset of its scans
        kinds: dict = {}  # (direction, length) -> the groups of that kind
        for j, node in enumerate(scans):
            alike = kinds.setdefault((node.op.reverse, _length_key(_Parts(node))), [])
            g = next((g for g in alike if not upstream[j] & members[g]), None)
            if g is None:
                alike.append(len(groups))
                groups.append([j])
                members.append(1 << j)
                continue
            # what depends on either side now depends on both and on all they depend on
            joined = members[g] | 1 << j
            deps = joined | _union([upstream[k] for k in groups[g]]) | upstream[j]
            groups[g].append(j)
            members[g] = joined
            for k, up in enumerate(upstream):
                if up & joined:
                    upstream[k] = up | deps
        fired = 0
        for group in groups:
            if len(group) > 1:
                _merge(fg, [_Parts(scans[k]) for k in group])
                fired += len(group) - 1
        return fired


def _merge(fg: FunctionGraph, parts: list[_Parts]) -> None:
    """Replace ``parts`` (independent scans of one length and direction) by one scan: as
    merging the first with the second, the result with the third, and so on, would."""
    # outer inputs, shared where the same variable feeds several scans
    xs, b_xs, consts, b_consts = [], [], [], []
    xs_in: dict = {}
    k_in: dict = {}
    for p in parts:
        for outer, inner in zip(p.xs, p.b_xs):
            if outer not in xs_in:
                xs.append(outer)
                xs_in[outer] = _fresh(inner)
                b_xs.append(xs_in[outer])
        for outer, inner in zip(p.consts, p.b_consts):
            if outer not in k_in:
                consts.append(outer)
                k_in[outer] = _fresh(inner)
                b_consts.append(k_in[outer])
    carry, b_carry, new_carry, ys, ys_last = [], [], [], [], []
    news: list[list[Var]] = []  # per scan, the positions of its outputs in the merged one
    for p in parts:
        own = [_fresh(v) for v in p.b_carry]
        # carries that start from the same value as an earlier one: assume they are the same
        # state, keep the assumption only where both updates come out identical
        # (co-induction)
        cand = {}
        for j, init in enumerate(p.carry):
            for k, ia in enumerate(carry):
                if ia is init and b_carry[k].dtype == p.b_carry[j].dtype:
                    cand[j] = k
                    break
        while True:
            cb = [b_carry[cand[j]] if j in cand else own[j] for j in range(len(p.carry))]
            out = inline(p.op.body, cb + [xs_in[x] for x in p.xs] + [k_in[c] for c in p.consts])
            if not cand:
                break
            refs = cut([new_carry[k] for k in cand.values()] + [out[j] for j in cand])[2]
            bad = [j for i, j in enumerate(cand) if refs[i] != refs[len(cand) + i]]
            if not bad:
                break
            for j in bad:
                del cand[j]
        pos = []
        for j in range(len(p.carry)):
            if j in cand:
                pos.append(("c", cand[j]))
            else:
                pos.append(("c", len(carry)))
                carry.append(p.carry[j])
                b_carry.append(own[j])
                new_carry.append(out[j])
        for y in out[len(p.carry):]:
            pos.append(("y", len(ys)))
            ys.append(y)
        ys_last += p.op.ys_last
        news.append(pos)
    first = parts[0]
    outs = _build(first.node, first.n, carry, xs, consts, b_carry, b_xs, b_consts, new_carry,
                  ys, ys_last)
    nc = len(carry)
    _replace_all(fg, [o for p in parts for o in p.node.outputs],
                 [outs[k if kind == "c" else nc + k] for pos in news for kind, k in pos])


def _forward_values(b: _Parts, f: _Parts) -> dict:
    """Body inputs of ``b`` whose per-step value ``f``'s body also has: ``{b input: f body
    var}`` (a stacked output of ``f``, a sequence or a constant both read)."""
    nc = len(f.carry)
    known: dict = {}
    f_out = {o: k for k, o in enumerate(f.node.outputs)}
    f_xs = dict(zip(f.xs, f.b_xs))
    f_consts = dict(zip(f.consts, f.b_consts))
    for outer, inner in zip(b.xs, b.b_xs):
        k = f_out.get(outer, -1)
        if k >= nc and not f.op.ys_last[k - nc]:
            known[inner] = f.ys[k - nc]
        elif outer in f_xs:
            known[inner] = f_xs[outer]
    for outer, inner in zip(b.consts, b.b_consts):
        if outer in f_consts:
            known[inner] = f_consts[outer]
    return known


def reuse_forward_values(fg: FunctionGraph) -> int:
    """A scan ``b`` stepping back over the steps of a scan ``f`` (BPTT's backward scan) that
    recomputes per-step values of ``f`` with a matrix product (``h_(t-1) @ W`` to get at the
    activation's input) reads them stacked by ``f`` instead (JAX's residuals)."""
    fired = 0
    with fg.tracked():
        scans = _scans(fg)
        current = scans  # the scans of the graph as it is now (a rebuilt one in its place)
        for bn in scans:
            read = set(bn.inputs)
            for fn_ in current:
                if fn_ is bn or fn_.op.reverse == bn.op.reverse:
                    continue
                if not any(o in read for o in fn_.outputs):
                    continue
                f, b = _Parts(fn_), _Parts(bn)
                if _same_length(f, b) and (new := _reuse(fg, f, b)) is not None:
                    now = {fn_: new[0], bn: new[1]}
                    current = [now.get(n, n) for n in current]
                    fired += 1
                    break
    return fired


def _reuse(fg: FunctionGraph, f: _Parts, b: _Parts) -> tuple[Apply, Apply] | None:
    """Make ``b`` read what it recomputes of ``f`` from ``f``; returns the two new scans
    (``None``: nothing to reuse)."""
    known = _forward_values(b, f)
    varying = {v for v in known if v not in b.b_consts}
    if not varying:
        return None
    body = FunctionGraph(b.op.body.inputs, b.op.body.outputs)
    region: dict = {}  # var of b's body -> True when computable from f's per-step values
    costly = False
    for m in body.toposort():
        ok = all(v in known or (v.owner is None and v.data is not None) or region.get(v)
                 for v in m.inputs)
        reads_step = any(v in varying or region.get(v) for v in m.inputs)
        for o in m.outputs:
            region[o] = ok and reads_step
        if ok and reads_step and not isinstance(m.op, (Elemwise, Reshape, Transpose)):
            costly = True
    if not costly:
        return None
    clients = body.clients()
    outs = set(b.op.body.outputs)
    frontier = [v for v, r in region.items() if r and (v in outs or any(
        c[0] == "output" or not region.get(c[0].outputs[0]) for c in clients.get(v, [])))]
    views = (Reshape, Transpose)  # a view stays in b (no copy), its input goes across
    todo, frontier = frontier, []
    while todo:
        v = todo.pop()
        if v.owner is not None and isinstance(v.owner.op, views):
            todo += [x for x in v.owner.inputs if region.get(x)]
        elif v not in frontier:
            frontier.append(v)
    # stack no value b computes only under a cond branch (f would compute it every step: an
    # inverse that only an untaken branch reads may raise)
    always = needed_every_run(b.op.body.outputs)
    frontier = [v for v in frontier if v in always]
    # stack no value bigger than one step's sequence or carry values (an outer product per
    # step would cost T times its size in memory)
    step_size = max((math.prod(v.shape) for v in b.b_xs + b.b_carry if None not in v.shape),
                    default=0)
    if not frontier or any(None in v.shape or math.prod(v.shape) > step_size
                           for v in frontier):
        return None
    in_f = clone(frontier, known)
    nc_f, ny_f = len(f.carry), len(f.ys)
    f_outs = _build(f.node, f.n, f.carry, f.xs, f.consts, f.b_carry, f.b_xs, f.b_consts,
                    f.new_carry, list(f.ys) + in_f,
                    tuple(f.op.ys_last) + (False,) * len(in_f))
    stacked = f_outs[nc_f + ny_f:]
    holders = [_fresh(v, "fwd_t") for v in frontier]
    b_outs = clone(b.new_carry + b.ys, dict(zip(frontier, holders)))
    nc_b = len(b.carry)
    new_b = _build(b.node, b.n, b.carry, list(b.xs) + stacked, b.consts, b.b_carry,
                   list(b.b_xs) + holders, b.b_consts, b_outs[:nc_b], b_outs[nc_b:],
                   b.op.ys_last)
    _replace_all(fg, f.node.outputs, f_outs[:nc_f + ny_f])
    _replace_all(fg, b.node.outputs, new_b)
    return f_outs[0].owner, new_b[0].owner


#: the rewrites in the order `optimize_loops` tries them
LOOP_REWRITES = (unroll_length_one, hoist_invariants, reuse_forward_values, sequence_matmul,
                 constant_matvec, merge_scans, pushout_accumulators, keep_last, prune,
                 drop_trajectory)


@_never_realizing
def optimize_loops(fg: FunctionGraph, max_rounds: int = 8) -> dict[str, int]:
    """Run every loop rewrite until none fires; returns how often each fired. The graph's
    reader lists are kept meanwhile (`FunctionGraph.tracked`): a firing replaces in what it
    touches, not in a walk of the whole graph."""
    counts = {f.__name__: 0 for f in LOOP_REWRITES}
    with fg.tracked():
        for _ in range(max_rounds):
            total = 0
            for f in LOOP_REWRITES:
                k = f(fg)
                counts[f.__name__] += k
                total += k
            if not total:
                break
    return counts


@register_pass("loop_rewrites", "canonicalize", 10.0, tags=("loops",), needs=(Scan, While))
def _loop_pass(fg: FunctionGraph, report) -> None:
    """The loop rewrites as one pass of the rewrite database (after canonicalization's node
    rewrites, before fusion), each firing recorded in the report."""
    if not any(isinstance(n.op, (Scan, While)) for n in fg.toposort()):
        return
    for name, k in optimize_loops(fg).items():
        for _ in range(k):
            report.record(name, "Scan")
