"""Helpers for rewrite tests: cut a graph out of live arrays, rewrite it, run it on the
reference VM (the oracle) before and after."""

from __future__ import annotations

import numpy as np
from lazyarr.graph._walk import cut

from lazyarr.exec_cpu.linker import link
from lazyarr.graph.fgraph import SMALL_CONST, FunctionGraph
from lazyarr.rewrites import options, rewrite
from lazyarr.rewrites.db import Report


def graph_of(*arrays) -> tuple[FunctionGraph, list[np.ndarray]]:
    """A fresh unoptimized graph computing ``arrays`` and the arguments it runs on."""
    leaves, steps, out_refs, _key = cut([a._v for a in arrays])
    fg = FunctionGraph.from_cut(leaves, steps, out_refs)
    args = [leaf.data for leaf in leaves
            if not (leaf.const and leaf.data is not None and leaf.data.size <= SMALL_CONST)]
    return fg, args


def optimized(*arrays, **opts) -> tuple[FunctionGraph, Report, list[np.ndarray]]:
    """The graph of ``arrays`` after the canonicalize and stabilize phases (specialize, which
    fuses, is excluded so tests see the nodes), its report and its arguments."""
    fg, args = graph_of(*arrays)
    exclude = set(opts.pop("exclude", ())) | {"specialize"}
    with options(exclude=exclude, **opts):
        report = rewrite(fg)
    return fg, report, args


def ops(fg: FunctionGraph) -> list[str]:
    """Op reprs of the graph, in topological order."""
    return [repr(node.op) for node in fg.toposort()]


def run(fg: FunctionGraph, args) -> list[np.ndarray]:
    return link(fg, reference=True)(args)


def check_rewrite(*arrays, fires: str | None, **opts) -> FunctionGraph:
    """Rewrite the graph of ``arrays``; assert ``fires`` fired (or, when it is given as
    ``"!name"``, that it did not), and that the result equals the unoptimized graph's on the
    reference VM bit for bit (NaN and signed zeros included). Returns the rewritten graph."""
    plain, args = graph_of(*arrays)
    fg, report, _ = optimized(*arrays, **opts)
    if fires is not None:
        if fires.startswith("!"):
            assert fires[1:] not in report.names(), report
        else:
            assert fires in report.names(), report
    for w, g in zip(run(plain, args), run(fg, args)):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert_identical(g, w)
    return fg


def assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign on zeros."""
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
