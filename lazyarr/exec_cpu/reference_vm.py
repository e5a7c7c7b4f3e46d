"""The reference VM: plain Python + NumPy, demand-driven, for every graph.

A value is computed only when something asks for it: outputs ask for their inputs, and a lazy
op (``cond``) asks only for the inputs it needs through ``perform_lazy``. This VM is the oracle
that rewrites and native kernels are tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph.basic import Apply, Var
from ..graph.fgraph import FunctionGraph
from .errors import annotate

#: counts applies performed by reference programs (tests read it to prove laziness)
counters = {"nodes_run": 0}


class ReferenceProgram:
    """``program(args) -> outputs`` for a `FunctionGraph`, evaluating on demand."""

    def __init__(self, fg: FunctionGraph):
        self.fg = fg
        self.inputs = list(fg.inputs)
        self.outputs = list(fg.outputs)

    def __call__(self, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        values: dict[Var, np.ndarray] = dict(zip(self.inputs, args))
        with np.errstate(all="ignore"):
            return [evaluate(o, values) for o in self.outputs]


def evaluate(target: Var, values: dict) -> np.ndarray:
    """Value of ``target`` given ``values`` (a dict of known values, extended in place)."""
    if target in values:
        return values[target]
    stack = [target]
    while stack:
        v = stack[-1]
        if v in values:
            stack.pop()
            continue
        node = v.owner
        if node is None:
            if v.data is None:
                raise ValueError(f"no value given for input {v}")
            values[v] = v.data
            stack.pop()
            continue
        if node.op.lazy:
            stack.pop()
            _run(node, values, lazy=True)
            continue
        missing = [i for i in node.inputs if i not in values]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        _run(node, values, lazy=False)
    return values[target]


def _run(node: Apply, values: dict, lazy: bool) -> None:
    op = node.op
    try:
        if lazy:
            ins = node.inputs
            r = op.perform_lazy(lambda i: evaluate(ins[i], values), len(ins))
        else:
            r = op.perform(*[values[i] for i in node.inputs])
    except Exception as exc:
        annotate(exc, node)
        raise
    counters["nodes_run"] += 1
    if len(node.outputs) == 1:
        values[node.outputs[0]] = r
    else:
        for o, val in zip(node.outputs, r):
            values[o] = val
