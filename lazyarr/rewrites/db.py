"""The rewrite database: named, tagged rewrites run in fixed phases to a fixed point.

Two kinds of entries:

* a **node rewrite** ``fn(node, g) -> list[Var] | None`` gets one `Apply` and the
  `GraphEditor` ``g`` (client counts, fast-math flag) and returns replacement outputs (one per
  node output, same dtype and shape; built with `build`) or ``None`` when it does not apply.
  ``register_rewrite(name, phase, tags, op_classes=..., needs=...)`` registers it;
  ``op_classes`` lists op classes or interned op instances (``Elemwise("log")``) it looks at
  (``None``: every node); ``needs`` lists op classes or interned ops without which it cannot
  fire anywhere in the graph (the stability rewrites of products of exponentials need an
  ``exp``): the editor skips it until a node of one of them has been in the graph.
* a **whole-graph pass** ``fn(fg, report) -> None`` edits the `FunctionGraph` as it likes
  (fusion, in-place marks); ``register_pass(name, phase, position, tags, needs=...)``.
  ``needs`` lists op classes without which the pass changes nothing: where the node rewrites
  just ran (so the graph's op classes are known at no cost) and none is present, the pass is
  skipped (a small graph's program skips the loop, cond and fusion passes' walks).

Phases run in the order canonicalize -> stabilize -> specialize. Within a phase, entries run by
position: the phase's node rewrites together at `NODE_REWRITES_POSITION` (0), to a fixed point
over a worklist (a node is revisited only when a neighbour changed, so the cost is near-linear
in the graph size), and each pass at its own position. A name or a tag listed in
``config.exclude`` (``"all"``: everything) switches entries off; tag ``"fast_math"`` entries run
only with ``config.fast_math``.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..graph.basic import Apply, Op, Var
from ..graph.fgraph import FunctionGraph
from .config import RewriteConfig, config

__all__ = ["PHASES", "NODE_REWRITES_POSITION", "register_rewrite", "register_pass", "build",
           "rewrite", "Report", "GraphEditor", "last_report", "registered", "clone_fgraph"]

PHASES = ("canonicalize", "stabilize", "specialize")
NODE_REWRITES_POSITION = 0.0
#: a phase's fixed point stops (with a warning) after this many node visits per node
MAX_VISITS_PER_NODE = 50


@dataclass(frozen=True)
class NodeRewrite:
    name: str
    phase: str
    tags: frozenset
    fn: Callable
    op_classes: tuple | None
    #: ops or op classes one of which some node of the graph must have for it to fire
    needs: tuple | None = None


@dataclass(frozen=True)
class GraphPass:
    name: str
    phase: str
    position: float
    tags: frozenset
    fn: Callable
    needs: tuple | None = None  # op classes without which the pass changes nothing


_rewrites: dict[str, NodeRewrite] = {}
_passes: dict[str, GraphPass] = {}
#: ``(exclude, fast_math)`` -> the enabled entries of each phase (`_plan`); cleared on
#: (un)registration
_plans: dict[tuple, list] = {}
#: skip a pass whose ``needs`` no node of the graph has (False: run every pass, which gives
#: the same programs; tests compare the two)
skip_by_op_classes = True
#: likewise for node rewrites: call none whose ``needs`` no node of the graph has had
skip_by_needs = True


def _check(name: str, phase: str) -> None:
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    if name in _rewrites or name in _passes:
        raise ValueError(f"a rewrite or pass named {name!r} is already registered")


def register_rewrite(name: str, phase: str, tags: Iterable[str] = (),
                     op_classes: Iterable[type | Op] | None = None,
                     needs: Iterable[type | Op] | None = None) -> Callable:
    """Decorator: register node rewrite ``fn(node, g) -> list[Var] | None`` as ``name``.
    ``needs``: ops or op classes such that the rewrite cannot fire in a graph where no node
    has one of them (it is then not called); None: any graph."""
    _check(name, phase)

    def deco(fn: Callable) -> Callable:
        _rewrites[name] = NodeRewrite(name, phase, frozenset(tags) | {phase}, fn,
                                      None if op_classes is None else tuple(op_classes),
                                      None if needs is None else tuple(needs))
        _plans.clear()
        return fn
    return deco


def register_pass(name: str, phase: str, position: float, tags: Iterable[str] = (),
                  needs: Iterable[type] | None = None) -> Callable:
    """Decorator: register whole-graph pass ``fn(fg, report)`` at ``position`` in ``phase``
    (node rewrites run at position 0; PyTensor puts fusion at 49, in-place at 49.5).
    ``needs``: op classes such that the pass changes nothing in a graph with no node whose
    op is an instance of one of them (it may then be skipped); None: any graph."""
    _check(name, phase)

    def deco(fn: Callable) -> Callable:
        _passes[name] = GraphPass(name, phase, float(position), frozenset(tags) | {phase}, fn,
                                  None if needs is None else tuple(needs))
        _plans.clear()
        return fn
    return deco


def unregister(name: str) -> None:
    """Remove a rewrite or pass (tests that register a deliberately wrong one)."""
    _rewrites.pop(name, None)
    _passes.pop(name, None)
    _plans.clear()


def registered() -> dict[str, tuple[str, frozenset]]:
    """``{name: (phase, tags)}`` of every rewrite and pass."""
    out = {r.name: (r.phase, r.tags) for r in _rewrites.values()}
    out.update({p.name: (p.phase, p.tags) for p in _passes.values()})
    return out


def _enabled(entry, cfg: RewriteConfig) -> bool:
    ex = cfg.exclude
    if "all" in ex or entry.name in ex or not entry.tags.isdisjoint(ex):
        return False
    return cfg.fast_math or "fast_math" not in entry.tags


class _Dispatch:
    """The node rewrites of one phase, indexed by the op classes and interned ops they look
    at; `for_op` lists those that apply to an op in registration order."""

    def __init__(self, rewrites: list[NodeRewrite]):
        self.rewrites = rewrites
        self.by_key: dict = {}
        for r in rewrites:
            for k in (r.op_classes if r.op_classes is not None else (object,)):
                self.by_key.setdefault(k, []).append(r)
        #: op classes of the interned op instances some rewrite names
        self.instance_types = {type(k) for k in self.by_key if not isinstance(k, type)}
        #: per op class: the rewrites naming it or a base class, and whether an op of it
        #: may be one of the interned instances (same class, a base or a subclass)
        self.by_type: dict[type, tuple[list[NodeRewrite], bool]] = {}
        #: per interned instance some rewrite names: its rewrites, then its classes'
        self.by_named: dict = {}

    def for_op(self, op: Op) -> list[NodeRewrite]:
        """The rewrites naming ``op`` itself, then those naming its classes (by MRO)."""
        t = type(op)
        hit = self.by_type.get(t)
        if hit is None:
            todo: list[NodeRewrite] = []
            for cls in t.__mro__:
                todo += self.by_key.get(cls, ())
            interned = any(issubclass(t, u) or issubclass(u, t) for u in self.instance_types)
            hit = self.by_type[t] = (todo, interned)
        if hit[1]:
            both = self.by_named.get(op)
            if both is not None:
                return both
            own = self.by_key.get(op)
            if own:
                both = self.by_named[op] = own + hit[0]
                return both
        return hit[0]


def _plan(cfg: RewriteConfig) -> list[tuple[str, list]]:
    """Per phase, its enabled entries by position: `GraphPass` objects and the `_Dispatch` of
    its node rewrites (cached per configuration until a rewrite or pass is (un)registered)."""
    key = (cfg.exclude, cfg.fast_math)
    plan = _plans.get(key)
    if plan is None:
        plan = []
        for phase in PHASES:
            entries: list[tuple[float, object]] = [
                (p.position, p) for p in _passes.values() if p.phase == phase and _enabled(p, cfg)]
            node_rw = [r for r in _rewrites.values() if r.phase == phase and _enabled(r, cfg)]
            if node_rw:
                entries.append((NODE_REWRITES_POSITION, _Dispatch(node_rw)))
            entries.sort(key=lambda e: e[0])
            plan.append((phase, [e for _pos, e in entries]))
        _plans[key] = plan
    return plan


def build(op: Op, *inputs: Var, site=None) -> list[Var]:
    """New node ``op(*inputs)`` for a replacement (types by the op's rule); its outputs.
    ``site`` is the user line to keep (usually the replaced node's)."""
    types = op.infer(*inputs)
    node = Apply(op, inputs, None, site)
    node.outputs = [Var(dt, sh, node, i) for i, (dt, sh) in enumerate(types)]
    return node.outputs


@dataclass
class Report:
    """What rewriting one graph did: rewrites that fired (in order), counts, times."""

    fired: list[tuple[str, str]] = field(default_factory=list)  # (rewrite, op it replaced)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase
    nodes_before: int = 0
    nodes_after: int = 0

    def record(self, name: str, what: str = "") -> None:
        """Note that rewrite or pass ``name`` changed the graph (``what``: the node)."""
        self.fired.append((name, what))

    @property
    def counts(self) -> Counter:
        return Counter(name for name, _ in self.fired)

    def names(self) -> list[str]:
        """Distinct names of the rewrites that fired, in first-fired order."""
        return list(dict.fromkeys(name for name, _ in self.fired))

    def __str__(self) -> str:
        t = sum(self.seconds.values()) * 1e3
        head = (f"rewrites: {self.nodes_before} -> {self.nodes_after} nodes in {t:.2f} ms")
        if not self.fired:
            return head + "; nothing fired"
        return head + "; fired: " + ", ".join(f"{n} x{c}" for n, c in self.counts.items())


_last: list[Report] = [Report()]


def last_report() -> Report:
    """The report of the most recent `rewrite` call (the last compiled program)."""
    return _last[0]


class GraphEditor:
    """A `FunctionGraph` under node rewriting: client lists, liveness, a worklist."""

    def __init__(self, fg: FunctionGraph, report: Report, cfg: RewriteConfig):
        self.fg = fg
        self.report = report
        self.fast_math = cfg.fast_math
        self.clients: dict[Var, list[tuple[Apply, int]]] = {}
        self.n_out: Counter = Counter(fg.outputs)
        #: live nodes; insertion order starts topological (new nodes come after their inputs)
        self.alive: dict[Apply, None] = {}
        self.queue: deque[Apply] = deque()
        self.queued: set[Apply] = set()
        self.memo: dict = {}  # scratch space shared by rewrites (merge tables)
        #: the ops (and their classes) of every node that has been in the graph: what a
        #: rewrite ``needs`` is looked for there (an op that left may still be listed, which
        #: only costs a call)
        self.ops: set[Op] = set()
        self.op_types: set[type] = set()
        #: per name of a rewrite with ``needs``: whether they are met (forgotten when an op
        #: joins; names, not the frozen dataclasses, which hash every field each time)
        self._met: dict[str, bool] = {}
        for node in fg.toposort():
            self._add(node)

    # -- queries used by rewrites --------------------------------------------------------
    def nclients(self, v: Var) -> int:
        """Readers of ``v`` (nodes' input slots, plus one per graph output it is)."""
        return len(self.clients.get(v, ())) + self.n_out[v]

    def readers(self, v: Var) -> list[tuple[Apply, int]]:
        """``(node, input position)`` of each node reading ``v``."""
        return list(self.clients.get(v, ()))

    # -- editing ---------------------------------------------------------------------------
    def _add(self, node: Apply) -> None:
        self.alive[node] = None
        op = node.op
        if op not in self.ops:
            self.ops.add(op)
            self.op_types.add(type(op))
            self._met.clear()
        for i, v in enumerate(node.inputs):
            self.clients.setdefault(v, []).append((node, i))
        self._push(node)

    def _push(self, node: Apply) -> None:
        if node not in self.queued:
            self.queued.add(node)
            self.queue.append(node)

    def _import(self, outs: list[Var], old: Apply) -> None:
        """Add the nodes above ``outs`` that are not in the graph yet (inputs first)."""
        order: list[Apply] = []
        seen: set[Apply] = set()
        stack = [v.owner for v in outs if v.owner is not None]
        while stack:
            node = stack[-1]
            if node in self.alive or node in seen:
                stack.pop()
                continue
            if node is old:
                raise ValueError("a replacement may not read the outputs it replaces")
            todo = [v.owner for v in node.inputs
                    if v.owner is not None and v.owner not in self.alive
                    and v.owner not in seen]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            seen.add(node)
            order.append(node)
        for node in order:
            self._add(node)

    def replace_var(self, old: Var, new: Var) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new``."""
        if old is new:
            return
        for node, i in self.clients.pop(old, ()):
            ins = node.inputs
            node.inputs = ins[:i] + (new,) + ins[i + 1:]
            self.clients.setdefault(new, []).append((node, i))
            self._push(node)
        k = self.n_out.pop(old, 0)
        if k:
            self.n_out[new] += k
            self.fg.outputs = [new if v is old else v for v in self.fg.outputs]

    def _prune(self, node: Apply) -> None:
        """Drop ``node`` and what only it read, if nothing reads its outputs."""
        stack = [node]
        while stack:
            n = stack.pop()
            if n not in self.alive or any(self.nclients(o) for o in n.outputs):
                continue
            del self.alive[n]
            for i, v in enumerate(n.inputs):
                cl = self.clients.get(v)
                if cl is not None:
                    try:
                        cl.remove((n, i))
                    except ValueError:
                        pass
                    if not cl:
                        del self.clients[v]
                if v.owner is not None:
                    stack.append(v.owner)

    def apply_replacement(self, node: Apply, new: list[Var], name: str) -> None:
        """Replace ``node``'s outputs by ``new`` (checked), record ``name``, prune."""
        if len(new) != len(node.outputs):
            raise ValueError(f"rewrite {name!r} returned {len(new)} outputs for "
                             f"{len(node.outputs)}")
        for o, n in zip(node.outputs, new):
            if n is None:
                continue
            if o.dtype != n.dtype or len(o.shape) != len(n.shape) or any(
                    a != b and a is not None and b is not None for a, b in zip(o.shape, n.shape)):
                raise TypeError(f"rewrite {name!r} replaced {o.dtype}{list(o.shape)} by "
                                f"{n.dtype}{list(n.shape)} at {node.op!r}")
        self._import([n for n in new if n is not None], node)
        for o, n in zip(node.outputs, new):
            if n is not None:
                self.replace_var(o, n)
        self.report.record(name, repr(node.op))
        self._prune(node)

    def meets(self, r: NodeRewrite) -> bool:
        """Whether some node that has been in the graph has an op ``r`` needs."""
        ok = self._met.get(r.name)
        if ok is None:
            ok = self._met[r.name] = any(
                any(issubclass(t, n) for t in self.op_types) if isinstance(n, type)
                else n in self.ops for n in r.needs)
        return ok

    def op_classes(self) -> set[type]:
        """The classes of the live nodes' ops."""
        return {type(node.op) for node in self.alive}

    def run(self, rewrites: list[NodeRewrite] | _Dispatch) -> None:
        """Apply ``rewrites`` until none fires anywhere (bounded: see `MAX_VISITS_PER_NODE`)."""
        dispatch = rewrites if isinstance(rewrites, _Dispatch) else _Dispatch(rewrites)
        for_op = dispatch.for_op
        budget = MAX_VISITS_PER_NODE * (len(self.alive) + 16)
        queue, queued, alive = self.queue, self.queued, self.alive
        while queue:
            node = queue.popleft()
            queued.discard(node)
            if node not in alive:
                continue
            budget -= 1
            if budget < 0:
                warnings.warn("rewrites did not reach a fixed point; stopped", stacklevel=2)
                queue.clear()
                queued.clear()
                break
            for r in for_op(node.op):
                if r.needs is not None and skip_by_needs and not self.meets(r):
                    continue
                try:
                    new = r.fn(node, self)
                except Exception as exc:  # a broken rewrite must not break the program
                    warnings.warn(f"rewrite {r.name!r} failed on {node.op!r} and was skipped: "
                                  f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
                    continue
                if new is None:
                    continue
                if all(n is o for n, o in zip(new, node.outputs)):
                    continue
                self.apply_replacement(node, list(new), r.name)
                break
        # the next phase starts from every live node again
        for node in self.alive:
            self._push(node)


def count_nodes(fg: FunctionGraph) -> int:
    """Number of applies between ``fg``'s inputs and outputs."""
    return len(fg.toposort())


def rewrite(fg: FunctionGraph, cfg: RewriteConfig | None = None) -> Report:
    """Rewrite ``fg`` in place through every phase; return (and remember) the report."""
    cfg = cfg or config
    report = Report()
    _last[0] = report
    if "all" in cfg.exclude:
        report.nodes_before = report.nodes_after = count_nodes(fg)
        return report
    editor: GraphEditor | None = GraphEditor(fg, report, cfg)
    report.nodes_before = len(editor.alive)
    # an editor whose live nodes are the graph's (None once a pass has run); the op classes
    # of those nodes once asked for (None again after node rewrites ran); the number of
    # firings when the editor was made (none since: it is as a new one would be)
    current: GraphEditor | None = editor
    present: set[type] | None = None
    fired_at = 0
    for phase, entries in _plan(cfg):
        t0 = time.perf_counter()
        for entry in entries:
            if isinstance(entry, GraphPass):
                if entry.needs is not None and current is not None and skip_by_op_classes:
                    if present is None:
                        present = current.op_classes()
                    if not _any_subclass(present, entry.needs):
                        # as after a pass that changed nothing: the next node rewrites start
                        # from a new editor (its visiting order is the graph's topological
                        # one, its scratch space empty)
                        editor = None
                        continue
                editor = current = present = None  # a pass may edit the graph freely
                entry.fn(fg, report)
            else:
                if editor is None:
                    if current is not None and len(report.fired) == fired_at:
                        current.memo = {}  # nothing changed since it was made: reuse it
                    else:
                        current = GraphEditor(fg, report, cfg)
                        fired_at = len(report.fired)
                    editor = current
                editor.run(entry)
                present = None
        report.seconds[phase] = time.perf_counter() - t0
    report.nodes_after = len(current.alive) if current is not None else count_nodes(fg)
    return report


def _any_subclass(classes: set[type], bases: tuple) -> bool:
    for t in classes:
        if issubclass(t, bases):
            return True
    return False


def clone_fgraph(fg: FunctionGraph) -> FunctionGraph:
    """A copy of ``fg`` with fresh variables and applies (constants shared), so that
    rewriting one leaves the other as it was."""
    memo: dict[Var, Var] = {}
    for v in fg.inputs:
        memo[v] = Var(v.dtype, v.shape, None, 0, None, False, v.name)
    for node in fg.toposort():
        ins = []
        for v in node.inputs:
            c = memo.get(v)
            if c is None:  # a constant: shared, never edited
                c = memo[v] = v
            ins.append(c)
        new = Apply(node.op, ins, [], node.site)
        new.outputs = [Var(o.dtype, o.shape, new, o.index) for o in node.outputs]
        for o, n in zip(node.outputs, new.outputs):
            memo[o] = n
    return FunctionGraph([memo[v] for v in fg.inputs], [memo.get(v, v) for v in fg.outputs])
