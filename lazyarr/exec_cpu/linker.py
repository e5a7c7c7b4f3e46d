"""Linking a `FunctionGraph` into a runnable program.

Programs run on the Cython VM: elementwise nodes through generated C kernels, matrix products
and `Gemm`/`Gemv` through BLAS, the rest through their NumPy ``perform``; each value kept only
until its last reader has run. A graph with lazy ops (``cond``) becomes a `LazyProgram`: the
nodes that a lazy node's inputs alone need are deferred and run only if it asks for them.

Memory: a node whose output does not escape keeps its buffer and reuses it on the next call; an
elementwise node writes in place into an input that dies there when that input is a buffer an
earlier native node (or an update: `SetItem`, `AddAt`) of this program made (never a caller's
array or a constant), or, when ``fg.donate`` matches the output with a donated input
(``lazyarr.compile``), into that input at its last reader; so does an update, into its input 0.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..array.ops.index import UpdateAt
from ..array.ops.reduce import Reduce
from ..graph.basic import may_raise_at
from ..graph.fgraph import FunctionGraph
from ..rewrites.dot_update import DotUpdate
from . import dot_update, native
from ._vm import (
    DotUpdateThunk,
    ElemThunk,
    GemmThunk,
    LazyProgram,
    LazyThunk,
    LinearProgram,
    MatMulThunk,
    ReduceThunk,
    RowThunk,
    Thunk,
    ViewThunk,
    blas_gemm_threaded,
    row_min,
    row_par,
)
from .gather import gather_thunk, slice_thunk
from .reference_vm import ReferenceProgram


def link(fg: FunctionGraph, reference: bool = False, native_kernels: bool = True,
         defer: list | None = None):
    """A program ``(args: list[np.ndarray]) -> list[np.ndarray]`` computing ``fg``.

    ``reference=True`` gives the reference VM; ``native_kernels=False`` the linear VM with NumPy
    implementations only. With a list ``defer``, no compiler runs: a node whose kernel is not
    built yet runs its NumPy implementation, and what is missing is appended to ``defer``
    (kernel templates, and `dot_update.SOURCE` for the row kernels; `tiering` builds them)."""
    order = fg.toposort()
    if reference:
        return ReferenceProgram(fg)
    has_lazy = any(node.op.lazy for node in order)
    if getattr(fg, "donate", None) and not has_lazy:
        order = _donation_order(fg, order)
    main = _needed(fg.outputs) if has_lazy else set(order)
    index: dict = {}
    init: list = []
    for v in fg.inputs:
        index[v] = len(init)
        init.append(None)
    for node in order:
        for v in node.inputs:
            if v not in index:  # a constant baked into the program
                if v.data is None:
                    raise ValueError(f"{v} is neither an input nor a constant")
                index[v] = len(init)
                init.append(_as_array(v.data))
        for v in node.outputs:
            index[v] = len(init)
            init.append(None)
    for v in fg.outputs:  # an output may be an input or a constant itself
        if v not in index:
            index[v] = len(init)
            init.append(v.data)
    keep = {index[v] for v in fg.outputs} | {index[v] for v in fg.inputs}
    # values read by lazy or deferred nodes live until the call ends (when they are read
    # depends on the data)
    keep |= {index[v] for node in order if node.op.lazy or node not in main
             for v in node.inputs}
    last_use: dict[int, int] = {}
    for t, node in enumerate(order):
        for v in node.inputs:
            last_use[index[v]] = t
    frees: list[list[int]] = [[] for _ in order]
    for slot, t in last_use.items():
        if slot not in keep and init[slot] is None:
            frees[t].append(slot)
    escape = {index[v] for v in fg.outputs}
    # a buffer may be reused only if no reader can hold a view of it past the call (a lazy
    # node may hand back an input: cond with an identity branch)
    viewed = {index[v] for node in order if node.op.view or node.op.lazy for v in node.inputs}

    donor = _donors(fg, order, index, escape)
    if donor and getattr(fg, "donate_intact", False) and _written_before_a_raise(order, donor):
        # `_donation_order` could not run every op that may raise before the first write
        # into a dead buffer: a failing run would leave the caller's leaves overwritten
        donor, fg.donate, fg.donate_alias = {}, {}, {}

    # the few-rows kernels use OpenMP threads only where no product runs on OpenBLAS's
    few_par = not any(_on_blas_threads(node) for node in order)
    if native_kernels and any(_wants_row_kernels(node, few_par) for node in order):
        dot_update.install(defer)  # compiled on first need: ~0.7 s of compiler on a cold cache
    kernels = [(native.elementwise_kernel(node) or native.reduce_kernel(node)
                or native.row_kernel(node))
               if native_kernels and not node.op.lazy else None for node in order]
    built = (native.build_kernels([k for k in kernels if k is not None], defer)
             if native_kernels else [])
    built_iter = iter(built)
    fresh: set[int] = set()  # slots holding buffers made by native nodes of this program
    # buffers no thunk keeps for its next run, which updates pass along: -1 for a copy made
    # this call, else the donated output slot whose buffer it is
    owned: dict[int, int] = {}
    # a returned Gemm/Gemv result may still accumulate into its dead accumulator c when c's
    # producer hands c out each call instead of keeping it
    handoff = _gemm_handoffs(order, index, frees, kernels, escape, viewed, native_kernels)
    thunks = []
    for t, node in enumerate(order):
        ins = tuple(index[v] for v in node.inputs)
        outs = tuple(index[v] for v in node.outputs)
        free = tuple(frees[t])
        k = kernels[t]
        b = next(built_iter) if k is not None else None
        reuse = tuple(s not in escape and s not in viewed and s not in handoff for s in outs)
        if node.op.lazy:
            thunks.append(LazyThunk(node.op.perform_lazy, ins, outs, free, node,
                                    _deferred(node, order, main)))
        elif b is not None and isinstance(k, native.RowKernel):
            vs = (*node.inputs, *node.outputs)
            thunks.append(RowThunk(
                node.op.perform, ins, outs, free, node, b[1], tuple(v.dtype.num for v in vs),
                tuple(v.shape for v in vs), reuse, k.rows, k.cols, k.n_tmp, b[0]))
            fresh.update(outs)
        elif b is not None and isinstance(k, native.ReduceKernel):
            red = node.op.reduce if hasattr(node.op, "reduce") else node.op
            thunks.append(ReduceThunk(
                node.op.perform, ins, outs, free, node, b[1],
                tuple(v.dtype.num for v in node.inputs), node.outputs[0].dtype.num,
                tuple(red.axes), bool(red.keepdims), reuse[0], b[0], _column_sum(node),
                red.kind in ("max", "min")))
            fresh.update(outs)
        elif b is not None:
            lib, fc, fs = b
            inplace = []
            taken: set[int] = set()
            for o, ov in zip(outs, node.outputs):
                cand = -1
                # writing in place makes the output share the input's kept buffer, so the
                # output must be as private as a reused buffer: not returned, not viewed
                if o in donor:  # write into the donated input it is matched with
                    cand = _donated_operand(donor[o], t, ins, node.inputs, ov)
                elif o not in escape and o not in viewed and o not in handoff:
                    for i, (s, iv) in enumerate(zip(ins, node.inputs)):
                        if (s in fresh and s in free and s not in taken and s not in viewed
                                and iv.dtype == ov.dtype and iv.shape == ov.shape
                                and None not in iv.shape):
                            cand = i
                            taken.add(s)
                            break
                inplace.append(cand)
            thunks.append(ElemThunk(
                node.op.perform, ins, outs, free, node, fc, fs,
                tuple(v.dtype.num for v in node.inputs), tuple(v.dtype.num for v in node.outputs),
                k.scalar_in, reuse, tuple(inplace), lib))
            fresh.update(outs)
        elif native_kernels and native.is_blas_matmul(node):
            thunks.append(MatMulThunk(node.op.perform, ins, outs, free, node,
                                      node.outputs[0].dtype.num, reuse[0]))
            thunks[-1].few_par = few_par
            fresh.update(outs)
        elif native_kernels and native.is_blas_gemm(node):
            c, cv, ov = ins[0], node.inputs[0], node.outputs[0]
            # beta accumulates into c's own buffer when c dies here and nothing else sees it
            inplace = (c in fresh and c in free and c not in viewed and c not in ins[1:]
                       and (outs[0] not in escape or c in handoff) and outs[0] not in viewed
                       and cv.shape == ov.shape
                       and None not in cv.shape) or (
                           outs[0] in donor and c not in ins[1:]
                           and _donated_operand(donor[outs[0]], t, ins, node.inputs, ov,
                                                True) == 0)
            thunks.append(GemmThunk(node.op.perform, ins, outs, free, node,
                                    ov.dtype.num, len(ov.shape) == 1, reuse[0], inplace))
            thunks[-1].few_par = few_par
            fresh.update(outs)
        elif native_kernels and isinstance(node.op, DotUpdate):
            w, wv, ov = ins[0], node.inputs[0], node.outputs[1]
            # the update goes into W's buffer on the same terms as a Gemm's into its c
            inplace = (w in fresh and w in free and w not in viewed and w not in ins[1:]
                       and outs[1] not in escape and outs[1] not in viewed
                       and None not in wv.shape) or (
                           outs[1] in donor and w not in ins[1:]
                           and _donated_operand(donor[outs[1]], t, ins, node.inputs, ov,
                                                True) == 0)
            thunks.append(DotUpdateThunk(node.op.perform, ins, outs, free, node, reuse[0],
                                         reuse[1], inplace))
            fresh.update(outs)
        elif native_kernels and native.view_dims(node) is not None:
            perm, dims = native.view_dims(node)
            thunks.append(ViewThunk(node.op.perform, ins, outs, free, node, perm, dims))
        elif native_kernels and (sl := slice_thunk(node, ins, outs, free)) is not None:
            thunks.append(sl)
        elif native_kernels and (g := _gather(node, t, ins, outs, free, reuse[0], donor,
                                              fresh, escape, viewed, handoff,
                                              owned)) is not None:
            thunks.append(g)
            fresh.update(outs)
        else:
            fn = node.op.perform
            into = getattr(node.op, "perform_into", None)  # writes into its input 0
            if into is not None:  # perform returns a new buffer, perform_into input 0's
                if _writes_into(node, t, ins, outs, free, donor, fresh, escape, viewed,
                                handoff, owned):
                    fn = into
                else:
                    owned[outs[0]] = -1
                fresh.update(outs)
            thunks.append(Thunk(fn, ins, outs, free, node))
    out_idx = tuple(index[v] for v in fg.outputs)
    if has_lazy:
        main_pos = tuple(t for t, node in enumerate(order) if node in main)
        return LazyProgram(thunks, init, main_pos, out_idx, len(fg.inputs))
    return LinearProgram(thunks, init, out_idx, len(fg.inputs))


def _on_blas_threads(node) -> bool:
    """``node`` is a matrix product that OpenBLAS runs on its own threads: not one for the
    `few_rows` or row kernels, of at least `blas_gemm_threaded` multiply-adds (OpenBLAS runs
    smaller ones on the calling thread), or of sizes known only at run time."""
    dims = native.product_dims(node)
    if dims is None:
        return False
    if None in dims:
        return True
    m, k, n = dims
    return (m > 1 and k > 1 and not native.few_product(node, dims)
            and m * k * n >= blas_gemm_threaded())


def _wants_row_kernels(node, few_par: bool = True) -> bool:
    """``node`` may run one of `dot_update`'s OpenMP kernels: a `DotUpdate`, a float32 `Gemm`
    of one row or a reduction of one over at least `row_min` elements, or a float32 matrix
    product (`Gemm` or `MatMul`) for the `few_rows` kernels (with ``few_par`` False, only one
    too small to split between threads). A size known only at run time counts."""
    if isinstance(node.op, DotUpdate):
        return True
    dims = native.product_dims(node)
    if dims is None or node.outputs[0].dtype != np.float32:
        return False
    if None in dims:
        return True
    m, k, n = dims
    if native.few_product(node, dims) and (few_par or m * k * n < row_par()):
        return True
    return native.is_blas_gemm(node) and (
        (m == 1 and k * n >= row_min()) or (k == 1 and m * n >= row_min()))


def _column_sum(node) -> int:
    """1 (sum) or 2 (mean) for a plain float32/float64 `Reduce` over leading axes that keeps
    its input's dtype (``x.sum(0)``: `ReduceThunk` sums rows into per-column accumulators
    where the input is C-contiguous), else 0."""
    op = node.op
    if type(op) is not Reduce or op.kind not in ("sum", "mean"):
        return 0
    x = node.inputs[0]
    if x.dtype not in (np.float32, np.float64) or op.dtype != x.dtype:
        return 0
    if op.axes != tuple(range(len(op.axes))) or len(op.axes) >= len(x.shape):
        return 0
    return 1 if op.kind == "sum" else 2


def _as_array(data):
    """A NumPy scalar constant as a 0-d array: native thunks read arrays, and the storage list
    is copied from the initial one every call (a conversion there would repeat per call)."""
    return np.asarray(data) if isinstance(data, np.generic) else data


def _gemm_handoffs(order: list, index: dict, frees: list, kernels: list, escape: set,
                   viewed: set, native_kernels: bool) -> set:
    """Accumulator slots of returned `Gemm`/`Gemv` results that die there and are made by a
    native elementwise or reduction node: that node gives up keeping the buffer, so the BLAS
    call can accumulate into it and return it (no copy of c, no second buffer)."""
    if not native_kernels:
        return set()
    made_by = {index[v]: t for t, node in enumerate(order) for v in node.outputs}
    out = set()
    for t, node in enumerate(order):
        if not native.is_blas_gemm(node):
            continue
        c = index[node.inputs[0]]
        o = index[node.outputs[0]]
        p = made_by.get(c)
        if (o in escape and o not in viewed and p is not None and kernels[p] is not None
                and c in frees[t] and c not in viewed and c not in escape
                and c not in {index[v] for v in node.inputs[1:]}
                and node.inputs[0].shape == node.outputs[0].shape
                and None not in node.inputs[0].shape):
            out.add(c)
    return out


def _donation_order(fg: FunctionGraph, order: list) -> list:
    """``order`` rescheduled so that each donated input's other readers (and readers of its
    views) run before the node computing the output matched with it: that node is then the
    input's last reader and may write into it. With ``fg.donate_intact`` (an eager cut: its
    pending arrays still read the dead buffers if the run fails) every op that may raise
    (`may_raise_at`) runs before it too, so that a failing run has written no dead buffer; a
    donation whose extra order closes a cycle (a raising op needs the new value) is then
    dropped from ``fg.donate``. Larger buffers are served first: two updates whose products
    read each other's old weights (``U - lr D W^T`` and ``W - lr U^T D``, each one `Gemm`
    accumulating into its weight) cannot both be in place, and the program order used to
    pick one. Ready nodes go in ``order``'s order."""
    inputs = fg.inputs
    views: dict = {}  # variable -> donated input position whose array it reads
    donated = set(fg.donate.values())
    for i in donated:
        views[inputs[i]] = i
    for a, i in getattr(fg, "donate_alias", {}).items():
        if i in donated:
            views[inputs[a]] = i
    readers: dict[int, list] = {}
    for node in order:
        for v in node.inputs:
            i = views.get(v)
            if i is not None:
                readers.setdefault(i, []).append(node)
                if node.op.view:
                    for o in node.outputs:
                        views[o] = i
    raising = ([node for node in order if may_raise_at(node)]
               if getattr(fg, "donate_intact", False) else [])
    pos = {node: t for t, node in enumerate(order)}
    after: dict = {}  # node -> nodes that must run before it
    best = order
    dropped = set()
    by_size = sorted(((_nbytes(inputs[i]), j, i) for j, i in fg.donate.items()), reverse=True)
    for _size, j, i in by_size:
        writer = fg.outputs[j].owner
        if writer not in pos:
            continue
        extra = [r for r in (*readers.get(i, ()), *raising) if r is not writer]
        if not extra:
            continue
        trial = {k: list(v) for k, v in after.items()}
        trial.setdefault(writer, []).extend(extra)
        got = _schedule(order, pos, trial)
        if got is not None:
            after, best = trial, got
        elif raising:
            dropped.add(j)
    if dropped:
        fg.donate = {j: i for j, i in fg.donate.items() if j not in dropped}
        kept = set(fg.donate.values())
        fg.donate_alias = {a: i for a, i in getattr(fg, "donate_alias", {}).items()
                           if i in kept}
    return best


def _nbytes(v) -> int:
    """Bytes of ``v``'s value (0 where a size is known only at run time)."""
    n = v.dtype.itemsize
    for d in v.shape:
        if d is None:
            return 0
        n *= d
    return n


def _written_before_a_raise(order: list, donor: dict) -> bool:
    """Whether a dead buffer may be written (at its last reader: `_donated_operand`) before an
    op that may raise, or by one that may write before it fails. An update (`AddAt`,
    `SetItem`) checks its indices before it writes (its thunk, and NumPy's ``add.at`` and
    assignment): it may be the first writer."""
    first = min((d[1] for d in donor.values() if d[1] >= 0), default=len(order))
    return any(may_raise_at(order[t]) and not (t == first and isinstance(order[t].op, UpdateAt))
               for t in range(first, len(order)))


def _schedule(order: list, pos: dict, after: dict) -> list | None:
    """A topological order of ``order``'s nodes with the extra edges ``after`` (node -> nodes
    that must run before it), taking ready nodes by their place in ``order``; None where the
    extra edges close a cycle."""
    waits = dict.fromkeys(order, 0)
    then: dict = {node: [] for node in order}
    for node in order:
        for pred in {v.owner for v in node.inputs if v.owner is not None}:
            if pred in waits:
                waits[node] += 1
                then[pred].append(node)
    for node, preds in after.items():
        for pred in set(preds):
            waits[node] += 1
            then[pred].append(node)
    ready = [pos[node] for node, n in waits.items() if n == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        node = order[heapq.heappop(ready)]
        out.append(node)
        for nxt in then[node]:
            waits[nxt] -= 1
            if waits[nxt] == 0:
                heapq.heappush(ready, pos[nxt])
    return out if len(out) == len(order) else None


def _donors(fg: FunctionGraph, order: list, index: dict, escape: set) -> dict:
    """``fg.donate`` maps output positions to the input positions whose buffers they may take
    (``lazyarr.compile``'s donated arguments; dead leaves of an eager cut); ``fg.donate_alias``
    maps further input positions to a donated one when they hold the same array. Returns
    ``{output slot: (slots holding the donated array, position of the last node reading it or
    a view of it, those slots and the views')}`` for the donated inputs no output aliases."""
    donate = getattr(fg, "donate", None)
    if not donate:
        return {}
    same = {i: i for i in donate.values()}  # slot -> the donated input slot: the same array
    same.update((a, i) for a, i in getattr(fg, "donate_alias", {}).items() if i in same)
    alias = dict(same)  # ... or a view of it
    last: dict[int, int] = {}
    for t, node in enumerate(order):
        for v in node.inputs:
            r = alias.get(index[v])
            if r is not None:
                last[r] = t
                if node.op.view or node.op.lazy:
                    for o in node.outputs:
                        alias[index[o]] = r
    escaped = {alias[s] for s in escape if s in alias}
    out = {}
    for j, i in donate.items():
        o = index[fg.outputs[j]]
        if i not in escaped and o not in out and o >= len(fg.inputs):
            out[o] = (frozenset(s for s, r in same.items() if r == i), last.get(i, -1),
                      frozenset(s for s, r in alias.items() if r == i))
    return out


def _donated_operand(donor: tuple, t: int, ins: tuple, in_vars, ov,
                     exclusive: bool = False) -> int:
    """Position of the donated array among a node's operands if the node (at ``t``) may write
    its output there: it is the array's last reader, the types agree, and no other operand
    reads a view of it (``exclusive``: nor the array itself, for BLAS and scatters); else -1."""
    same, last, members = donor
    if last > t:
        return -1
    cand = -1
    for i, (s, iv) in enumerate(zip(ins, in_vars)):
        if (s in same and iv.dtype == ov.dtype and iv.shape == ov.shape
                and None not in iv.shape):
            cand = i
            break
    if cand < 0:
        return -1
    for i, s in enumerate(ins):
        if i != cand and s in members and (exclusive or s not in same):
            return -1
    return cand


def _always_read(node) -> range | list:
    """Input positions a node reads whatever happens: all of them, except for a lazy node,
    whose inputs are asked for on demand (a `Cond` always reads its predicate and operands)."""
    op = node.op
    if not op.lazy:
        return range(len(node.inputs))
    if hasattr(op, "branch_inputs"):
        either = {*op.branch_inputs(True), *op.branch_inputs(False)}
        return [i for i in range(len(node.inputs)) if i not in either]
    return []


def _needed(targets) -> set:
    """The nodes computing ``targets`` whatever the lazy nodes among them decide."""
    seen: set = set()
    stack = [v.owner for v in targets if v.owner is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for i in _always_read(node):
            owner = node.inputs[i].owner
            if owner is not None and owner not in seen:
                stack.append(owner)
    return seen


def _deferred(node, order: list, main: set) -> tuple:
    """Per input of lazy ``node``: positions (in ``order``) of the nodes outside ``main`` that
    computing it needs, in order."""
    always = set(_always_read(node))
    subs = []
    for i, v in enumerate(node.inputs):
        need = set() if i in always or v.owner is None else _needed([v]) - main
        subs.append(tuple(t for t, n in enumerate(order) if n in need))
    return tuple(subs)


def _writes_into(node, t, ins, outs, free, donor, fresh, escape, viewed, handoff,
                 owned) -> bool:
    """Whether ``node`` (an `AddAt` or `SetItem`) may write into its input 0 ``x`` (and notes
    in ``owned`` what its output's buffer then is). No other operand may be ``x``, and ``x``
    must be one of:

    * the donated array matched with the output, last read here (no operand a view of it);
    * a donated array last read here, where the output is neither returned nor viewed (a chain
      of updates carries the buffer on to the matched output, or it dies);
    * a dead buffer this program made that nothing views. Where a thunk keeps that buffer for
      its next run, the output must be as private: not returned, not viewed; a copy made this
      call may go on anywhere, a donated buffer only to its matched output."""
    if not ins or ins[0] in ins[1:]:
        return False
    x, o, ov = ins[0], outs[0], node.outputs[0]
    if o in donor and _donated_operand(donor[o], t, ins, node.inputs, ov, True) == 0:
        owned[o] = o
        return True
    private = o not in escape and o not in viewed and o not in handoff
    if private:
        for key, d in donor.items():
            if x in d[0] and _donated_operand(d, t, ins, node.inputs, ov, True) == 0:
                owned[o] = key
                return True
    if (x in fresh and x in free and x not in viewed and node.inputs[0].shape == ov.shape
            and None not in ov.shape and (private or owned.get(x, -2) in (-1, o))):
        if x in owned:
            owned[o] = owned[x]
        return True
    return False


def _gather(node, t, ins, outs, free, reuse, donor, fresh, escape, viewed, handoff, owned):
    """The native gather/scatter thunk of ``node`` (`gather.py`) or None; an `AddAt` writes
    into its input 0 where `_writes_into` allows."""
    into = hasattr(node.op, "perform_into") and _writes_into(
        node, t, ins, outs, free, donor, fresh, escape, viewed, handoff, owned)
    return gather_thunk(node, ins, outs, free, reuse, into)
