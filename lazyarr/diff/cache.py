"""The gradient cache: differentiated graphs reused per forward-graph structure.

An eager training loop calls ``value_and_grad(f)`` once per step on a forward graph of the same
structure; running every op's vjp rule in Python each time costs far more than running the
program. So the first call records, as a `GradTemplate`, the nodes the rules built (ops, inputs
as value numbers, output types) over the forward graph; a later call whose forward graph has
the same key (`ForwardIndex`: the trace cache's structural key of the cut, plus where the
differentiated inputs sit) clones those nodes onto its own forward values and leaves: one
``Apply`` and one ``Var`` per node, no rule, no type inference. Results are ordinary pending
graphs, as the rules build them. Leaves the rules create (constants) are shared by the clones.
A forward graph with a size known only from data is not recorded (a rule may have read the
size). Bounded LRU; `cache_info` gives hits and misses.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..graph.basic import Var, key_ops
from ._fastgrad import ForwardIndex, TemplateCache, families, instantiate
from .engine import topo_applies

__all__ = ["ForwardIndex", "GradTemplate", "cache_info", "cache_clear", "enabled",
           "set_enabled", "lookup", "store"]

#: most templates kept (least recently used dropped first; `templates.maxsize` is the bound)
MAX_ENTRIES = 256

#: the store (C: `value_and_grad`'s call looks it up without a Python frame)
templates = TemplateCache(MAX_ENTRIES)


class GradTemplate:
    """The nodes that derivative rules built over one forward graph, with their inputs as
    numbers (forward values by address, leaves the rules made, earlier nodes), so that they
    can be cloned onto another forward graph with the same `ForwardIndex` key."""

    __slots__ = ("n_all", "given", "steps", "outs", "flags", "call_op", "keep")

    def __init__(self, n_all, given, steps, outs, flags, keep=()):
        self.n_all = n_all    # values in all
        self.given = given    # [(number, address or None, leaf Var or None)]
        self.steps = steps    # [(op, input numbers, [(dtype, shape)], site or forward node
        #                       whose site to take, first output)]
        self.outs = outs      # value number of each result
        self.flags = flags    # per-call facts to replay (which inputs reach the output)
        #: the `gradcall.GradientCall` op of this template: None until first asked, False
        #: when the forward graph's result is not one of its nodes
        self.call_op = None
        #: the ops of the forward graph (their addresses are in the key this template is
        #: stored under: see `Op.interned`)
        self.keep = keep

    @classmethod
    def build(cls, index: ForwardIndex, results: Sequence[Var], flags=None, call_site=None):
        """The template of ``results`` (Vars built over ``index``'s values), or None when it
        cannot be reused (a size known only from data, or a symbolic value from elsewhere).
        Nodes made at ``call_site`` (the transform's caller) take each call's own."""
        if index.dynamic():
            return None
        where = index.addresses()
        # a rule's node takes the site of the forward node it differentiates: on a clone, take
        # the site of that node in the new graph (the same code may sit on another line)
        site_of: dict = {call_site: -1} if call_site is not None else {}
        for s, ap in enumerate(index.nodes):
            if ap.site is not None:
                site_of.setdefault(ap.site, s)
        num: dict[Var, int] = {}
        given, steps = [], []
        n = 0

        def number(v: Var) -> int | None:
            nonlocal n
            k = num.get(v)
            if k is not None:
                return k
            w = where.get(v)
            if w is None and (v.owner is not None or v.data is None):
                return None
            num[v] = k = n
            n += 1
            given.append((k, w, None if w is not None else v))
            return k

        for ap in topo_applies(results, list(where)):
            refs = []
            for v in ap.inputs:
                k = number(v)
                if k is None:
                    return None
                refs.append(k)
            steps.append((ap.op, tuple(refs), [(o.dtype, o.shape) for o in ap.outputs],
                          site_of.get(ap.site, ap.site), n))
            for o in ap.outputs:
                num[o] = n
                n += 1
        outs = []
        for r in results:
            k = number(r)
            if k is None:
                return None
            outs.append(k)
        return cls(n, given, steps, outs, flags, key_ops(index.nodes))

    def instantiate(self, index: ForwardIndex, call_site=None, arrays: bool = False) -> list:
        """The results, rebuilt over the values of ``index`` (same key as the template's),
        called from ``call_site``: Vars, or Arrays with ``arrays`` (in C: `_fastgrad`)."""
        return instantiate(self.n_all, self.given, self.steps, self.outs, index, call_site,
                           arrays)


def lookup(key) -> GradTemplate | None:
    """The template stored under ``key`` (counted as a hit), or None (a miss)."""
    return templates.lookup(key)


def store(key, tpl: GradTemplate | None) -> None:
    """Keep ``tpl`` under ``key`` (nothing for None), dropping the least recently used."""
    templates.store(key, tpl)


def enabled() -> bool:
    """Whether transforms use the cache."""
    return templates.enabled


def set_enabled(on: bool) -> bool:
    """Turn the cache on or off; returns the previous setting (tests compare both paths)."""
    old, templates.enabled = templates.enabled, bool(on)
    return old


def cache_info() -> dict:
    """``{'hits', 'misses', 'size', 'max_size'}`` of the gradient cache."""
    return {"hits": templates.hits, "misses": templates.misses,
            "size": len(templates.entries), "max_size": templates.maxsize}


def cache_clear() -> None:
    """Drop every template and zero the counters."""
    templates.clear()
    families.clear()
