"""graph.clone: a cloned graph computes the same values on its substituted inputs as the
original does on them (checked against NumPy), shares the leaves it was not told to replace,
keeps names and depths, and copies every apply (the original is left unchanged)."""

from __future__ import annotations

import numpy as np

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.exec_cpu.reference_vm import evaluate
from lazyarr.graph import Var, apply, toposort
from lazyarr.graph.clone import clone


def _add(a: Var, b: Var) -> Var:
    return apply(Elemwise("add"), a, b)[0]


def _mul(a: Var, b: Var) -> Var:
    return apply(Elemwise("multiply"), a, b)[0]


def test_clone_substitutes_inputs_and_shares_other_leaves():
    f64 = np.dtype("float64")
    x = Var.input(f64, (3,), "x")
    c = Var(f64, (3,), None, 0, np.array([1.0, 2.0, 3.0]), True, "c")
    y = _mul(_add(x, c), x)  # x used twice: one copy per node, diamond shared
    y.name = "y"
    z = Var.input(f64, (3,), "z")
    (y2,) = clone([y], {x: z})
    assert y2 is not y and y2.name == "y" and y2.depth == y.depth
    old_nodes, new_nodes = toposort([y]), toposort([y2])
    assert len(new_nodes) == len(old_nodes) == 2
    assert not set(map(id, new_nodes)) & set(map(id, old_nodes))
    leaves = {i for n in new_nodes for i in n.inputs if i.owner is None}
    assert leaves == {z, c}
    zv = np.array([0.5, -1.0, 4.0])
    np.testing.assert_allclose(evaluate(y2, {z: zv}), (zv + c.data) * zv)
    xv = np.array([2.0, 3.0, -2.0])
    np.testing.assert_allclose(evaluate(y, {x: xv}), (xv + c.data) * xv)


def test_clone_of_a_replaced_or_leaf_output_is_its_replacement():
    f64 = np.dtype("float64")
    x, z, w = (Var.input(f64, (), n) for n in "xzw")
    assert clone([x, w], {x: z}) == [z, w]
