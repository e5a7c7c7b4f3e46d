"""graph.fold: per-variable values computed bottom-up agree with an independent recursive
computation (the set of leaves each variable reads), on a graph with a shared sub-graph, a
multi-output apply and a chain deeper than Python's recursion limit."""

from __future__ import annotations

import sys

import numpy as np

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.graph import Var, apply
from lazyarr.graph.fold import fold

F64 = np.dtype("float64")


def _leaves_reached(v: Var) -> frozenset:
    if v.owner is None:
        return frozenset([v])
    return frozenset().union(*(_leaves_reached(i) for i in v.owner.inputs))


def _union(sets: list) -> frozenset:
    return frozenset().union(*sets)


def test_fold_matches_recursive_leaf_sets():
    add, mul = Elemwise("add"), Elemwise("multiply")
    x, y, z = (Var.input(F64, (2,), n) for n in "xyz")
    s = apply(add, x, y)[0]
    a = apply(mul, s, s)[0]
    b = apply(add, s, z)[0]
    memo = fold([a, b], lambda v: frozenset([v]), _union)
    for v in (x, y, z, s, a, b):
        assert memo[v] == _leaves_reached(v)
    assert memo[a] == {x, y} and memo[b] == {x, y, z}
    flags = fold([a, b], {z}.__contains__, any)
    assert flags[a] is False and flags[b] is True and flags[x] is False


def test_fold_is_iterative_on_deep_chains():
    x = Var.input(F64, (), "x")
    v = x
    for _ in range(sys.getrecursionlimit() + 100):
        v = apply(Elemwise("negative"), v)[0]
    memo = fold([v], lambda _leaf: 0, lambda depths: depths[0] + 1)
    assert memo[v] == sys.getrecursionlimit() + 100
