"""Linking a `FunctionGraph` into a runnable program.

Graphs with lazy ops (``cond``) run on the demand-driven reference VM; all others on the Cython
linear VM, each node's value kept only until its last reader has run.
"""

from __future__ import annotations

from ..graph.fgraph import FunctionGraph
from ._vm import LinearProgram, Thunk
from .reference_vm import ReferenceProgram


def link(fg: FunctionGraph, reference: bool = False):
    """A program ``(args) -> outputs`` computing ``fg``."""
    order = fg.toposort()
    if reference or any(node.op.lazy for node in order):
        return ReferenceProgram(fg)
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
                init.append(v.data)
        for v in node.outputs:
            index[v] = len(init)
            init.append(None)
    for v in fg.outputs:  # an output may be an input or a constant itself
        if v not in index:
            index[v] = len(init)
            init.append(v.data)
    keep = {index[v] for v in fg.outputs} | {index[v] for v in fg.inputs}
    last_use: dict[int, int] = {}
    for t, node in enumerate(order):
        for v in node.inputs:
            last_use[index[v]] = t
    frees: list[list[int]] = [[] for _ in order]
    for slot, t in last_use.items():
        if slot not in keep and init[slot] is None:
            frees[t].append(slot)
    thunks = [Thunk(node.op.perform, tuple(index[v] for v in node.inputs),
                    tuple(index[v] for v in node.outputs), tuple(frees[t]), node)
              for t, node in enumerate(order)]
    return LinearProgram(thunks, init, tuple(index[v] for v in fg.outputs), len(fg.inputs))
