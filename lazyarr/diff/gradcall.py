"""One node for a whole eager ``value_and_grad`` call: the gradient cache's template, unexpanded.

A cache hit of `value_and_grad` on realized arguments (the eager training loop) used to clone
the template's backward nodes onto the forward graph, so every step's realization walked,
keyed and freed the forward and backward graphs node by node (~45 nodes for logistic
regression). Instead the call becomes a single `GradientCall` node: inputs are the forward
graph's leaves (the differentiated ones replaced by the arguments' own arrays), outputs the
value and the gradients. It is a macro op: `graph.fgraph.FunctionGraph.from_cut` expands it
into the forward nodes and the template's backward nodes before the rewrites run, so the
compiled program is the one the cloned graph gave, while a trace-cache hit walks one node.

Only calls whose forward leaves all hold data take this path (nothing symbolic from an
enclosing trace can sit below the node, so no outer transform ever differentiates it), and
whose forward nodes were built on the same user lines as the recorded ones (the expansion
carries the recorded sites, which errors name); the others clone the template as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..graph._ir import build_steps
from ..graph._walk import release_cut
from ..graph.basic import Op, Var
from ..graph.toposort import toposort
from ._fastgrad import ForwardIndex, instantiate

_serial = itertools.count()


class GradientCall(Op):
    """``(value, *gradients)`` of a recorded forward graph and its gradient template, over
    the forward graph's leaves (see the module docstring). ``params``: a serial number; the
    recipe lives on the op (not interned: see `Op.interned`)."""

    macro = True
    #: one op per template: freed with its template and the programs keyed by its address
    interned = False

    def __init__(self, serial: int):
        self.n_leaves = 0
        self.steps: list = []       # the forward nodes, `build_steps` format
        self.sites: tuple = ()      # their user sites (a call built elsewhere clones)
        self.value_ref = 0           # value number of ``f``'s result
        #: per differentiated input: its leaf position, or -1. The node's inputs are the
        #: leaves, each differentiated one replaced by its primal, then the primals the forward
        #: graph does not read (built in C: `_fastgrad._call_node`)
        self.positions: tuple = ()
        self.tpl = None              # the `cache.GradTemplate`
        self.types: list = []        # (dtype, shape) of each output
        self.nout = 1
        #: the `build_steps` recipe of one node of this op over its inputs (`_call_node`)
        self.call_steps: list = []

    @classmethod
    def record(cls, index: ForwardIndex, value: Var, tpl) -> GradientCall | None:
        """The op for ``index``'s forward graph (result ``value``) and template ``tpl``, or
        None when ``value`` is not computed by a node of that graph or a node reads a
        duplicate that the walk merged away."""
        num = {id(v): i for i, v in enumerate(index.leaves)}
        n = len(index.leaves)
        steps = []
        for ap in index.nodes:
            refs = tuple(num.get(id(v), -1) for v in ap.inputs)
            if -1 in refs:  # reads a duplicate node the walk merged away: keep cloning
                return None
            steps.append((ap.op, refs, [(o.dtype, o.shape) for o in ap.outputs], ap.site, n))
            for o in ap.outputs:
                num[id(o)] = n
                n += 1
        ref = num.get(id(value))
        if value.owner is None or ref is None:
            return None
        op = cls(next(_serial))
        op.sites = tuple(site for _op, _refs, _types, site, _first in steps)
        op.n_leaves = len(index.leaves)
        op.steps = steps
        op.value_ref = ref
        op.positions = index.key[1]
        op.tpl = tpl
        grads = tpl.instantiate(index)
        op.types = [(value.dtype, value.shape)] + [(g.dtype, g.shape) for g in grads]
        # those nodes were built for their types: free them now, not at a collection (they
        # read the forward graph's inputs, whose buffers this call's updates should take)
        built = toposort(grads)
        del grads
        release_cut(built)
        op.nout = len(op.types)
        n_in = op.n_leaves + sum(1 for pos in op.positions if pos < 0)
        op.call_steps = [(op, tuple(range(n_in)), op.types, -1, n_in)]
        return op

    def infer(self, *inputs: Var) -> list[tuple[np.dtype, tuple]]:
        return list(self.types)

    def expand(self, inputs: Sequence[Var]) -> list[Var]:
        """The value and the gradients computed from ``inputs`` by ordinary nodes (the
        forward graph, then the template's backward nodes)."""
        n_all = self.n_leaves + sum(len(t) for _op, _refs, t, _site, _first in self.steps)
        env: list = [None] * n_all
        env[:self.n_leaves] = inputs[:self.n_leaves]
        build_steps(env, self.steps, [], None)
        index = ForwardIndex.__new__(ForwardIndex)
        index.leaves = env[:self.n_leaves]
        index.nodes = [env[first].owner for _op, _refs, _t, _site, first in self.steps]
        extra = iter(inputs[self.n_leaves:])
        index.inputs = [env[pos] if pos >= 0 else next(extra) for pos in self.positions]
        tpl = self.tpl
        grads = instantiate(tpl.n_all, tpl.given, tpl.steps, tpl.outs, index, None, False)
        return [env[self.value_ref], *grads]

    def perform(self, *arrays: np.ndarray) -> tuple:
        ins = [Var(a.dtype, a.shape, None, 0, a) for a in arrays]
        outs = self.expand(ins)
        values = {id(v): v.data for v in ins}
        for node in toposort(outs):
            args = [values[id(v)] if id(v) in values else v.data for v in node.inputs]
            res = node.op.perform(*args)
            if len(node.outputs) == 1:
                res = (res,)
            for o, r in zip(node.outputs, res):
                values[id(o)] = np.asarray(r, dtype=o.dtype)
        return tuple(values[id(o)] if id(o) in values else o.data for o in outs)
