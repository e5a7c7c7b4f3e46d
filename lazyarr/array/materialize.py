"""Materialization: cut the pending graph, find or build its program, run it, write back.

Realizing variables computes only what they need (plus what their program shares), writes each
result into its variable (which becomes a leaf, so the graph above it is freed) and keeps the
prepared program in the trace cache under the cut's structural key. A loop of eager-looking code
rebuilds the same structure every step, so after the first step each realization costs one walk,
one hash, one lookup and the run.
"""

from __future__ import annotations

import numpy as np

from ..graph import pipeline
from ..graph._walk import cut_scalars
from ..graph.basic import Var, key_ops, may_raise_at
from ..graph.fgraph import SMALL_CONST, FunctionGraph
from ..graph.scalar_families import ScalarFamilies, family_key
from ..graph.userline import where
from ._donate import decode
from ._front import (  # noqa: F401 (release_dropped, unread_nodes: this module's API)
    Entry,
    TraceCache,
    bind_realize,
    held_pending,
    release_dropped,
    unread_nodes,
)
from ._front import realize as _realize

#: a pending chain deeper than this is realized as soon as it is built (bounds graph growth);
#: not in a thread inside `diff.engine.deep_graphs` (a transform or a trace)
MAX_PENDING_DEPTH = 128

#: pending variables user arrays were made on (appended by `coerce.wrap`; pruned here): a
#: realization also computes those of them whose graph meets its program (see `_sharing`)
live_pending: list[Var] = []


def prune_live() -> list[Var]:
    """Drop realized variables, those no user array holds any more and repeats; returns the
    rest (in order)."""
    live_pending[:] = held_pending(live_pending)
    return live_pending


class ConcretizationError(TypeError):
    """A concrete value was asked of an array that depends on a traced (symbolic) input."""


#: the trace cache (`_front.TraceCache`: an LRU of 2,048 `_front.Entry` by structural key)
trace_cache = TraceCache()


def _is_baked(leaf: Var) -> bool:
    d = leaf.data
    return leaf.const and d is not None and d.size <= SMALL_CONST


#: programs that differ only in 0-d constants' values (`graph.scalar_families`): the
#: constants seen changing become arguments of one program (kept as the family's payload, not
#: stored under each value's key: a schedule would flush the LRU)
scalar_families = ScalarFamilies()
trace_cache.families = scalar_families  # cleared with it


def _prepare(asked: list[Var], key: bytes, dead: bytes = b"") -> tuple[Entry, bool]:
    """The program of a trace-cache miss, and whether it was stored under ``key``: the full
    cut of ``asked`` (the same walk as the key's, with its steps) compiled and stored, or,
    where the constants of a family (`scalar_families`) keep changing, a program whose
    arguments include them, kept as the family's (not stored: each value would take an
    entry; the realization finds it for later values, `_front._family_entry`). ``dead``:
    the key's suffix naming the leaves whose buffers the outputs may take
    (`_donate.dead_leaves`)."""
    extras: list[Var] = []
    leaves, steps, out_refs, key2, scalars = cut_scalars(asked, extras)
    assert key2 + dead == key, "cut and cut_key disagree"
    fam, lift = None, frozenset()
    if scalars:
        fkey, values = family_key(key2, scalars)
        fam, _changed = scalar_families.lift(fkey + dead, values)
        if fam is not None:  # a program of its own (`known` found none to reuse)
            lift = frozenset(scalars[j][0] for j in fam.varying)
    positions = tuple(i for i, leaf in enumerate(leaves)
                      if i in lift or not _is_baked(leaf))
    for i in positions:
        if leaves[i].data is None:
            _raise_symbolic(leaves[i])
    if extras and any(node.op.lazy for node, _refs, _first in steps):
        # a lazy op (cond) may not need a live array below it: that array must not be
        # computed (an untaken branch can fail); the program returns only what was asked
        out_refs = out_refs[:len(asked)]
    fg = FunctionGraph.from_cut(leaves, steps, out_refs, lift)
    if dead and not _run_time_sizes(fg):
        # the linker runs every op that may raise before it writes a dead buffer, or takes
        # none (`exec_cpu.linker._donation_order`)
        fg.donate, fg.donate_alias = _donations(fg, [
            (positions.index(i), [positions.index(j) for j in others])
            for i, others in decode(dead)])
        fg.donate_intact = True
    with pipeline.provisional():  # no wait for the compiler (`exec_cpu.tiering`)
        program = pipeline.compile_fgraph(fg)
    donates = bool(getattr(fg, "donate", None))
    entry = Entry(program, positions, tuple(node.site for node, _refs, _first in steps),
                  key_ops(node for node, _refs, _first in steps), donates,
                  donates and any(may_raise_at(node) for node in fg.toposort()))
    pipeline.bind_owner(program, entry)
    if fam is not None:
        fam.payload = entry
        return entry, False
    trace_cache.put(key, entry)
    return entry, True


def _run_time_sizes(fg: FunctionGraph) -> bool:
    """Whether an input of ``fg`` has a size known only at run time (a realized mask's result):
    every op reading it checks that size when it runs, and may raise after an earlier op wrote
    a dead buffer. Such a program takes none."""
    return any(None in v.shape for v in fg.inputs)


def _donations(fg: FunctionGraph, buffers: list) -> tuple[dict[int, int], dict[int, int]]:
    """``fg.donate`` and ``fg.donate_alias`` for dead input buffers: ``buffers`` lists
    ``(input position, [other input positions holding the same array])``. Each buffer goes to
    an output of its dtype and shape not given one yet, preferably one computed directly from
    it (``w - lr * g`` rather than ``g``: an update can then run in place); its other inputs
    are aliases of the donated one."""
    donate: dict[int, int] = {}
    alias: dict[int, int] = {}
    for i, others in buffers:
        v = fg.inputs[i]
        own = {v, *(fg.inputs[k] for k in others)}
        fits = [j for j, o in enumerate(fg.outputs)
                if j not in donate and o.dtype == v.dtype and o.shape == v.shape]
        if fits:
            near = [j for j in fits if fg.outputs[j].owner is not None
                    and not own.isdisjoint(fg.outputs[j].owner.inputs)]
            donate[(near or fits)[0]] = i
            alias.update((k, i) for k in others)
    return donate, alias


def _raise_symbolic(v: Var):
    raise ConcretizationError(
        f"a concrete value was needed for an array that depends on a traced input "
        f"({v.name or 'unnamed'}, {v.dtype}{list(v.shape)}) at {where()}; inside "
        "lazyarr.grad/compile/scan, use lazyarr functions (e.g. lazyarr.cond) instead of "
        "Python control flow on array values")


bind_realize(trace_cache, _prepare, _raise_symbolic)
#: compute every pending variable of a list of `Var` in one program and make them leaves
#: (the hit path is C: `_front.realize`)
realize = _realize


def value(v: Var) -> np.ndarray:
    """The data of ``v``, realizing it first if needed."""
    if v.data is None:
        realize([v])
    return v.data
