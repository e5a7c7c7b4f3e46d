"""The graph IR: interning, cut keys, CSE, FunctionGraph, toposort, printing, inner graphs and
lazy ops, checked against NumPy."""

from __future__ import annotations

import numpy as np

import lazyarr as xp
from lazyarr.graph import FunctionGraph, cut


def test_from_cut_when_a_leaf_is_met_after_a_node():
    """The walk numbers ``b`` and ``exp(b)`` before ``a`` in ``a - exp(b)``: the clone must
    still feed each leaf to the right place."""
    a, b = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    r = xp.asarray(a) - xp.exp(xp.asarray(b))
    leaves, steps, out_refs, _ = cut([r._v])
    assert [leaf.data is not None for leaf in leaves] == [True, True]
    fg = FunctionGraph.from_cut(leaves, steps, out_refs)
    node = fg.outputs[0].owner
    assert node.op.fn.name == "subtract"
    assert node.inputs[0] is fg.inputs[[leaf.data is a for leaf in leaves].index(True)]
    np.testing.assert_allclose(np.asarray(r), a - np.exp(b))
