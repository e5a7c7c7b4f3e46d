"""Inner graphs: the sub-programs held by ops such as ``cond`` and ``scan``.

An `InnerGraph` is a closed function graph (symbolic inputs to outputs). It is a hashable op
parameter: two inner graphs are equal when they compute the same thing structurally, so an op
holding one interns and keys like any other op.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._walk import cut
from .basic import Var
from .fgraph import FunctionGraph


class InnerGraph:
    """A closed graph from symbolic ``inputs`` to ``outputs``.

    Every leaf the outputs depend on must be one of ``inputs`` or a leaf holding data (a
    constant captured by value). ``fgraph()`` returns a fresh clone to optimize or run.
    """

    __slots__ = ("inputs", "outputs", "_key", "_captured", "_hash")

    def __init__(self, inputs: Sequence[Var], outputs: Sequence[Var]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        leaves, _steps, _refs, key = cut(self.outputs)
        pos = {v: i for i, v in enumerate(self.inputs)}
        roles = []
        captured = []
        for leaf in leaves:
            if leaf in pos:
                roles.append(pos[leaf])
            elif leaf.data is not None:
                roles.append(-1)
                captured.append(leaf.data)
            else:
                raise ValueError(
                    f"inner graph depends on {leaf}, which is neither one of its inputs nor "
                    "a value with data")
        in_types = tuple((v.dtype, v.shape) for v in self.inputs)
        # Captured arrays compare by identity: equal structure over different data differs.
        self._captured = tuple(captured)
        self._key = (key, tuple(roles), in_types, tuple(id(c) for c in captured))
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InnerGraph) and self._key == other._key

    def fgraph(self) -> FunctionGraph:
        """A fresh clone whose inputs correspond, in order, to ``self.inputs``."""
        leaves, steps, out_refs, _ = cut(self.outputs)
        fg = FunctionGraph.from_cut(leaves, steps, out_refs)
        # from_cut gives inputs in leaf order and bakes only small constants: re-order the
        # symbolic inputs to match self.inputs and keep captured data as constant leaves.
        pos = {v: i for i, v in enumerate(self.inputs)}
        clone_of = {}
        k = 0
        for leaf in leaves:
            d = leaf.data
            if not (leaf.const and d is not None and d.size <= 16):
                clone_of[leaf] = fg.inputs[k]
                k += 1
        ordered = []
        for v in self.inputs:
            c = clone_of.get(v)
            ordered.append(c if c is not None else Var(v.dtype, v.shape, name=v.name))
        for leaf, c in clone_of.items():
            if leaf not in pos:
                c.data, c.const = leaf.data, True
        fg.inputs = ordered
        return fg

    def __repr__(self) -> str:
        return f"InnerGraph({len(self.inputs)} in, {len(self.outputs)} out)"
