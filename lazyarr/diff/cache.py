"""The gradient cache: differentiated graphs reused per forward-graph structure.

An eager training loop calls ``value_and_grad(f)`` once per step on a forward graph of the same
structure; running every op's vjp rule in Python each time costs far more than running the
program. So the first call records, as a `GradTemplate`, the nodes the rules built (ops, inputs
as value numbers, output types), numbered against the forward graph; a later call whose forward
graph has the same structural key (`forward_index`) clones those nodes onto its own forward
values and leaves: one ``Apply`` and one ``Var`` per node, no rule, no type inference. Results
are ordinary pending graphs, as built by the rules.

Leaves the rules create (constants) are shared by the clones. The key holds the ops (interned:
equal ops are the same object), each node's input numbering, the leaves' dtypes and shapes
(small constants by value: a rule may specialize on one), and which leaves are the
differentiated inputs. Bounded LRU; `cache_info` gives hits and misses.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from ..graph.basic import Apply, Var
from .engine import topo_applies

__all__ = ["ForwardIndex", "GradTemplate", "cache_info", "cache_clear", "set_enabled",
           "lookup", "store"]

#: most templates kept (least recently used dropped first)
MAX_ENTRIES = 256
_SMALL_CONST = 16

_entries: OrderedDict = OrderedDict()
_stats = {"hits": 0, "misses": 0}
_enabled = True


class ForwardIndex:
    """The values of a traced forward graph, numbered: the differentiated ``inputs`` first,
    then, in a deterministic walk from ``outputs``, each leaf when first met and each node's
    outputs; ``key`` is equal for two graphs exactly when their numbered structures are.
    ``dynamic``: some size is known only from data (a rule may have read it: not cacheable)."""

    __slots__ = ("vals", "num", "key", "dynamic")

    def __init__(self, outputs: Sequence[Var], inputs: Sequence[Var]):
        vals: list[Var] = []
        num: dict[int, int] = {}
        key: list = []
        for v in inputs:
            if id(v) in num:  # the same variable twice: key the repeat
                key.append(("same", num[id(v)]))
                continue
            num[id(v)] = len(vals)
            vals.append(v)
            key.append(_leaf_key(v))
        for ap in topo_applies(outputs):
            refs = []
            for v in ap.inputs:
                k = num.get(id(v))
                if k is None:  # an owner is visited before its readers: this is a leaf
                    k = num[id(v)] = len(vals)
                    vals.append(v)
                    key.append(_leaf_key(v))
                refs.append(k)
            key.append((ap.op, tuple(refs)))
            for o in ap.outputs:
                num[id(o)] = len(vals)
                vals.append(o)
        self.dynamic = any(None in v.shape for v in vals)
        outs = []
        for o in outputs:
            k = num.get(id(o))
            if k is None:  # the output is a leaf the walk did not meet
                k = num[id(o)] = len(vals)
                vals.append(o)
                key.append(_leaf_key(o))
            outs.append(k)
        key.append(tuple(outs))
        self.vals, self.num, self.key = vals, num, tuple(key)


def _leaf_key(v: Var) -> tuple:
    d = v.data
    if v.owner is not None:  # a variable made an input while pending (a nested transform)
        return (v.dtype, v.shape, "node")
    if d is None:
        return (v.dtype, v.shape, None)
    if v.const and d.size <= _SMALL_CONST:
        return (v.dtype, v.shape, d.tobytes())
    return (v.dtype, v.shape, v.const)


class GradTemplate:
    """The nodes that derivative rules built over one forward graph, renumbered so that they
    can be cloned onto another forward graph with the same `ForwardIndex` key."""

    __slots__ = ("n_fwd", "n_all", "fixed", "steps", "outs", "flags")

    def __init__(self, n_fwd, n_all, fixed, steps, outs, flags):
        self.n_fwd = n_fwd    # values of the forward graph (given to `instantiate`)
        self.n_all = n_all    # values in all
        self.fixed = fixed    # [(value number, leaf Var)]: constants the rules made
        self.steps = steps    # [(op, input numbers, [(dtype, shape)], site, first output)]
        self.outs = outs      # value number of each result
        self.flags = flags    # per-call facts to replay (which inputs reach the output)

    @classmethod
    def build(cls, index: ForwardIndex, results: Sequence[Var], flags=None):
        """The template of ``results`` (Vars built over ``index``'s values), or None when they
        read a symbolic value that is not part of the forward graph (not cacheable)."""
        num = dict(index.num)
        stop = index.vals
        n = len(stop)
        fixed, steps = [], []
        for ap in topo_applies(results, stop):
            refs = []
            for v in ap.inputs:
                k = num.get(id(v))
                if k is None:
                    if v.owner is not None or v.data is None:
                        return None
                    k = num[id(v)] = n
                    n += 1
                    fixed.append((k, v))
                refs.append(k)
            steps.append((ap.op, tuple(refs), [(o.dtype, o.shape) for o in ap.outputs],
                          ap.site, n))
            for o in ap.outputs:
                num[id(o)] = n
                n += 1
        outs = []
        for r in results:
            k = num.get(id(r))
            if k is None:
                if r.owner is not None or r.data is None:
                    return None
                k = num[id(r)] = n
                n += 1
                fixed.append((k, r))
            outs.append(k)
        return cls(len(stop), n, fixed, steps, outs, flags)

    def instantiate(self, vals: Sequence[Var]) -> list[Var]:
        """The results, rebuilt over forward values ``vals`` (a `ForwardIndex`'s)."""
        env: list = list(vals)
        env.extend([None] * (self.n_all - self.n_fwd))
        for k, v in self.fixed:
            env[k] = v
        for op, refs, types, site, first in self.steps:
            ins = tuple([env[i] for i in refs])
            depth = 0
            for v in ins:
                if v.depth > depth:
                    depth = v.depth
            depth += 1
            node = Apply(op, ins, None, site)
            if len(types) == 1:
                dt, sh = types[0]
                env[first] = out = Var(dt, sh, node, 0, None, False, None, depth)
                node.outputs = [out]
            else:
                node.outputs = outs = [Var(dt, sh, node, i, None, False, None, depth)
                                       for i, (dt, sh) in enumerate(types)]
                env[first:first + len(outs)] = outs
        return [env[k] for k in self.outs]


def lookup(key) -> GradTemplate | None:
    """The template stored under ``key`` (counted as a hit), or None (a miss)."""
    if not _enabled:
        return None
    tpl = _entries.get(key)
    if tpl is None:
        _stats["misses"] += 1
        return None
    _entries.move_to_end(key)
    _stats["hits"] += 1
    return tpl


def store(key, tpl: GradTemplate | None) -> None:
    """Keep ``tpl`` under ``key`` (nothing for None), dropping the least recently used."""
    if tpl is None or not _enabled:
        return
    _entries[key] = tpl
    if len(_entries) > MAX_ENTRIES:
        _entries.popitem(last=False)


def enabled() -> bool:
    """Whether transforms use the cache."""
    return _enabled


def set_enabled(on: bool) -> bool:
    """Turn the cache on or off; returns the previous setting (tests compare both paths)."""
    global _enabled
    old, _enabled = _enabled, bool(on)
    return old


def cache_info() -> dict:
    """``{'hits', 'misses', 'size', 'max_size'}`` of the gradient cache."""
    return {**_stats, "size": len(_entries), "max_size": MAX_ENTRIES}


def cache_clear() -> None:
    """Drop every template and zero the counters."""
    _entries.clear()
    _stats["hits"] = _stats["misses"] = 0

