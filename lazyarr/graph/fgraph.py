"""A self-contained graph to optimize and link: explicit inputs, outputs, and client lists."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager

from ._walk import clone_cut
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
        self._readers: _Readers | None = None  # kept while `tracked`

    @classmethod
    def from_cut(cls, leaves: Sequence[Var], steps: Sequence[tuple], out_refs: Sequence[int],
                 lift: Collection[int] = ()) -> FunctionGraph:
        """Clone a `cut` into fresh variables. Small constants become baked constants, except
        the leaves numbered in ``lift``; other leaves become inputs, in the order of
        ``leaves``. Macro ops are expanded.

        A cut numbers leaves and node outputs in one sequence, in the order the walk met them
        (a leaf may come after a node): the numbers not taken by a step's outputs are the
        leaves', in order."""
        inputs, outputs = clone_cut(leaves, steps, out_refs, lift, SMALL_CONST)
        return cls(inputs, outputs)

    def toposort(self) -> list[Apply]:
        return toposort(self.outputs)

    @contextmanager
    def tracked(self) -> Iterator[FunctionGraph]:
        """Keep reader lists while inside (one walk to build them): `clients` answers from
        them and `replace_all` edits only the readers of what it replaces, so a rewrite that
        fires often costs what it touches, not a walk of the graph per firing. Meanwhile
        edit the graph only through `replace_all`. Nested blocks share the outer's lists."""
        if self._readers is not None:
            yield self
            return
        self._readers = _Readers(self)
        try:
            yield self
        finally:
            self._readers = None

    def clients(self) -> dict[Var, list[tuple[Apply | str, int]]]:
        """For each variable, the ``(apply, input position)`` pairs that read it; graph
        outputs appear as ``("output", i)``. While `tracked`, the kept lists themselves:
        read them, do not edit them (they follow later replacements)."""
        if self._readers is not None:
            return self._readers.clients
        return _reader_lists(self.toposort(), self.outputs)

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
        if self._readers is not None:
            self._readers.replace(final)
            return
        for node in self.toposort():
            if any(v in final for v in node.inputs):
                node.inputs = tuple(final.get(v, v) for v in node.inputs)
        self.outputs = [final.get(v, v) for v in self.outputs]

    def __repr__(self) -> str:
        return f"<FunctionGraph {len(self.inputs)} inputs, {len(self.toposort())} nodes>"


def _reader_lists(order: list[Apply], outputs: list[Var]) -> dict[Var, list]:
    cl: dict[Var, list] = {}
    for node in order:
        for i, v in enumerate(node.inputs):
            cl.setdefault(v, []).append((node, i))
    for i, v in enumerate(outputs):
        cl.setdefault(v, []).append(("output", i))
    return cl


class _Readers:
    """The reader lists of a tracked `FunctionGraph`: only nodes the outputs need (a node
    is dropped with what only it read when its outputs lose their last reader)."""

    def __init__(self, fg: FunctionGraph):
        self.fg = fg
        order = fg.toposort()
        self.alive: set[Apply] = set(order)
        self.clients = _reader_lists(order, fg.outputs)

    def replace(self, final: dict[Var, Var]) -> None:
        """Readers of each key of ``final`` read its value (the lists of the graph as it
        stands: nodes the replacements bring in keep reading what they read)."""
        fg, clients = self.fg, self.clients
        edited: dict[Apply, None] = {}
        gained: dict[Var, None] = {}
        for old, new in final.items():
            moved = clients.pop(old, None)
            if not moved:
                continue
            clients.setdefault(new, []).extend(moved)
            gained[new] = None
            for node, i in moved:
                if isinstance(node, str):  # ("output", i)
                    fg.outputs[i] = new
                else:
                    edited[node] = None
        for node in edited:
            node.inputs = tuple(final.get(v, v) for v in node.inputs)
        self._bring_in([v.owner for v in gained if v.owner is not None])
        self._drop([old.owner for old in final if old.owner is not None])

    def _bring_in(self, roots: list[Apply]) -> None:
        """Add the nodes above ``roots`` not in the graph yet, each after its inputs."""
        alive, clients = self.alive, self.clients
        stack = [n for n in roots if n not in alive]
        while stack:
            node = stack[-1]
            if node in alive:
                stack.pop()
                continue
            todo = [v.owner for v in node.inputs if v.owner is not None
                    and v.owner not in alive]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            alive.add(node)
            for i, v in enumerate(node.inputs):
                clients.setdefault(v, []).append((node, i))

    def _drop(self, nodes: list[Apply]) -> None:
        """Remove each of ``nodes`` nothing reads any more, and what only it read."""
        alive, clients = self.alive, self.clients
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if node not in alive or any(o in clients for o in node.outputs):
                continue
            alive.discard(node)
            for i, v in enumerate(node.inputs):
                cl = clients[v]
                cl.remove((node, i))
                if not cl:
                    del clients[v]
                    if v.owner is not None:
                        stack.append(v.owner)


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
