"""A self-contained graph to optimize and link: explicit inputs, outputs, and client lists."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from .basic import Apply, Var
from .toposort import toposort

#: constants of at most this many elements are baked into programs (they are part of the key)
SMALL_CONST = 16


class FunctionGraph:
    """Inputs (leaf variables fed at run time), outputs, and the applies between them.

    Rewrites edit it through ``replace``; executors read ``toposort()``. The live user graph
    is never edited: ``from_cut`` clones what materialization cut out.
    """

    def __init__(self, inputs: Sequence[Var], outputs: Sequence[Var]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)

    @classmethod
    def from_cut(cls, leaves: Sequence[Var], steps: Sequence[tuple], out_refs: Sequence[int],
                 lift: Collection[int] = ()) -> FunctionGraph:
        """Clone a `cut` into fresh variables. Small constants become baked constants, except
        the leaves numbered in ``lift``; other leaves become inputs, in the order of
        ``leaves``. Macro ops are expanded.

        A cut numbers leaves and node outputs in one sequence, in the order the walk met them
        (a leaf may come after a node): the numbers not taken by a step's outputs are the
        leaves', in order."""
        n = len(leaves)
        for node, _in_refs, _first in steps:
            n += len(node.outputs)
        values: list = [None] * n
        taken = bytearray(n)
        for node, _in_refs, first in steps:
            for k in range(len(node.outputs)):
                taken[first + k] = 1
        inputs: list[Var] = []
        slots = (i for i in range(n) if not taken[i])
        for i, (leaf, slot) in enumerate(zip(leaves, slots)):
            d = leaf.data
            if leaf.const and d is not None and d.size <= SMALL_CONST and i not in lift:
                values[slot] = Var(leaf.dtype, leaf.shape, None, 0, d, True, leaf.name)
            else:
                v = Var(leaf.dtype, leaf.shape, None, 0, None, False, leaf.name)
                values[slot] = v
                inputs.append(v)
        for node, in_refs, first in steps:
            ins = [values[r] for r in in_refs]
            if node.op.macro:
                outs = node.op.expand(ins)
                values[first:first + len(outs)] = outs
                continue
            new = Apply(node.op, ins, [], node.site)
            new.outputs = [Var(o.dtype, o.shape, new, o.index) for o in node.outputs]
            values[first:first + len(new.outputs)] = new.outputs
        return cls(inputs, [values[r] for r in out_refs])

    def toposort(self) -> list[Apply]:
        return toposort(self.outputs)

    def clients(self) -> dict[Var, list[tuple[Apply | str, int]]]:
        """For each variable, the ``(apply, input position)`` pairs that read it; graph
        outputs appear as ``("output", i)``."""
        cl: dict[Var, list] = {}
        for node in self.toposort():
            for i, v in enumerate(node.inputs):
                cl.setdefault(v, []).append((node, i))
        for i, v in enumerate(self.outputs):
            cl.setdefault(v, []).append(("output", i))
        return cl

    def replace(self, old: Var, new: Var) -> None:
        """Make every reader of ``old`` read ``new`` instead (types must agree)."""
        self.replace_all([(old, new)])

    def replace_all(self, pairs: Iterable[tuple[Var, Var]]) -> None:
        """Make every reader of each ``old`` read its ``new``, in one walk of the graph as it
        stands: chains (``a -> b``, ``b -> c``) compose as replacing in turn would, but the
        replacements' own graphs are not edited (a replacement may read what it replaces,
        or the ``old`` of a later pair, and keeps reading it)."""
        final = _composed(pairs)
        if not final:
            return
        for node in self.toposort():
            if any(v in final for v in node.inputs):
                node.inputs = tuple(final.get(v, v) for v in node.inputs)
        self.outputs = [final.get(v, v) for v in self.outputs]

    def __repr__(self) -> str:
        return f"<FunctionGraph {len(self.inputs)} inputs, {len(self.toposort())} nodes>"


def _composed(pairs: Iterable[tuple[Var, Var]]) -> dict[Var, Var]:
    """``{old: new}`` where a reader of ``old`` ends up after replacing ``pairs`` one after
    another (a later pair moves on what an earlier one moved onto its ``old``)."""
    final: dict[Var, Var] = {}
    moved_onto: dict[Var, list[Var]] = {}  # a replacement -> the olds now read as it
    for old, new in pairs:
        if old.dtype != new.dtype or len(old.shape) != len(new.shape):
            raise TypeError(f"replace: {old} and {new} have different types")
        if old is new:
            continue
        moved = moved_onto.pop(old, [])
        for v in moved:
            final[v] = new
        if old not in final:
            final[old] = new
            moved.append(old)
        moved_onto.setdefault(new, []).extend(moved)
    return final
