"""Elementwise fusion into `Composite` nodes and reduction-prologue fusion into `FusedReduce`:
each case is compared with the reference VM on the unoptimized graph."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.graph._walk import cut

import lazyarr as xp
from lazyarr.array.ops.composite import Composite, FusedReduce
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.reduce import Reduce
from lazyarr.exec_cpu.linker import link
from lazyarr.graph.basic import Var, apply
from lazyarr.graph.fgraph import SMALL_CONST, FunctionGraph
from lazyarr.rewrites import fusion
from lazyarr.rewrites.fusion import (
    MAX_MEMBERS,
    MAX_OPERANDS,
    fuse_elemwise,
    fuse_reduce_prologue,
)

rng = np.random.default_rng(0)


def graph_of(*arrays) -> tuple[FunctionGraph, list[np.ndarray]]:
    """A fresh (unoptimized) graph computing ``arrays`` and the arguments it runs on."""
    leaves, steps, out_refs, _key = cut([a._v for a in arrays])
    fg = FunctionGraph.from_cut(leaves, steps, out_refs)
    args = [leaf.data for leaf in leaves
            if not (leaf.const and leaf.data is not None and leaf.data.size <= SMALL_CONST)]
    return fg, args


def check_same(fused: FunctionGraph, arrays, args) -> None:
    """``fused`` on the native VM agrees with the reference VM on the unoptimized graph."""
    plain, _ = graph_of(*arrays)
    want = link(plain, reference=True)(args)
    got = link(fused)(args)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)


def ops(fg: FunctionGraph) -> list:
    return [n.op for n in fg.toposort()]


def steps_named(fg: FunctionGraph, name: str) -> int:
    return sum(s[0] == name for op in ops(fg) if isinstance(op, Composite) for s in op.steps)


def arr(*shape):
    return xp.asarray(rng.standard_normal(shape))


def test_chain_becomes_one_composite():
    x, y = arr(4, 5), arr(5)
    out = xp.tanh(xp.exp(x - y) * 2.0) + xp.abs(x)
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    (op,) = ops(fg)
    assert isinstance(op, Composite)
    assert [s[0] for s in op.steps if s[0] != "const"] == [
        "subtract", "exp", "multiply", "tanh", "abs", "add"]
    assert len(op.in_dtypes) == 2  # the constant 2.0 became a "const" step
    check_same(fg, [out], args)


def test_shared_intermediate_is_an_output_not_recomputed():
    x = arr(6, 3)
    e = xp.exp(x * 3.0)
    s = xp.sum(e, axis=0)  # a second consumer outside the group
    out = xp.sqrt(e + 1.0)
    fg, args = graph_of(out, s)
    assert fuse_elemwise(fg) == 1
    comp = [op for op in ops(fg) if isinstance(op, Composite)]
    assert len(comp) == 1 and comp[0].nout == 2
    assert steps_named(fg, "exp") == 1
    check_same(fg, [out, s], args)


def test_different_shapes_are_not_grouped():
    x = arr(4, 5)
    a = xp.exp(x)
    b = xp.sum(a, axis=1)
    c = xp.log(b + 2.0)  # shape (4,): a group of its own
    fg, args = graph_of(c)
    assert fuse_elemwise(fg) == 1
    comp = [op for op in ops(fg) if isinstance(op, Composite)]
    assert [s[0] for s in comp[0].steps if s[0] != "const"] == ["add", "log"]
    assert any(isinstance(op, Elemwise) and op.fn.name == "exp" for op in ops(fg))
    check_same(fg, [c], args)


def test_no_cycle_through_an_outside_node():
    x = arr(4, 5)
    a = xp.exp(x)
    m = xp.max(a, axis=1, keepdims=True)  # reads a, feeds the consumer of a
    out = (a - m) * 2.0
    fg, args = graph_of(out)
    fuse_elemwise(fg)
    for node in fg.toposort():
        if isinstance(node.op, Composite):
            assert "exp" not in [s[0] for s in node.op.steps]
    assert sum(isinstance(op, Elemwise) and op.fn.name == "exp" for op in ops(fg)) == 1
    check_same(fg, [out], args)


def test_operand_limit():
    xs = [arr(3) for _ in range(MAX_OPERANDS + 20)]
    out = xs[0]
    for v in xs[1:]:
        out = out + v
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) >= 2
    for node in fg.toposort():
        assert len(node.inputs) + len(node.outputs) <= MAX_OPERANDS
    check_same(fg, [out], args)


def test_member_limit():
    """A chain longer than `MAX_MEMBERS` is split into kernels of at most that many nodes
    (GCC's compile time grows quadratically with one kernel's length)."""
    x, y = arr(4, 3), arr(3)
    out = x
    for _ in range(MAX_MEMBERS + 40):
        out = xp.where(out > 0.5, out * 0.9 - y, out + 0.1)
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) >= 2
    comps = [n for n in fg.toposort() if isinstance(n.op, Composite)]
    assert len(comps) >= 2
    assert all(len(n.op.steps) <= 4 * MAX_MEMBERS for n in comps)
    check_same(fg, [out], args)


def test_broadcast_view_is_absorbed():
    x, y = arr(3, 1), arr(3, 4)
    out = xp.exp(xp.broadcast_to(x, (3, 4))) * y + 1.0
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    (node,) = fg.toposort()
    assert {v.shape for v in node.inputs} == {(3, 1), (3, 4)}
    check_same(fg, [out], args)


def test_mixed_dtypes_and_casts():
    i = xp.asarray(rng.integers(-5, 5, (5, 2)).astype(np.int32))
    f = xp.asarray(rng.standard_normal((5, 2)).astype(np.float32))
    out = xp.where(i > 0, f * i, -f)
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    check_same(fg, [out], args)


def test_unknown_sizes_are_not_fused():
    x = Var.input(np.dtype("float64"), (None, 3))
    a, = apply(Elemwise("exp"), x)
    b, = apply(Elemwise("sin"), a)
    fg = FunctionGraph([x], [b])
    assert fuse_elemwise(fg) == 0


def test_reduce_prologue_fuses():
    x, m = arr(5, 7), arr(5, 1)
    out = xp.sum(xp.exp(x - m), axis=1)
    fg, args = graph_of(out)
    fuse_elemwise(fg)
    assert fuse_reduce_prologue(fg) == 1
    (op,) = ops(fg)
    assert isinstance(op, FusedReduce) and op.reduce.kind == "sum"
    check_same(fg, [out], args)


@pytest.mark.parametrize("kind", ["mean", "max", "prod"])
def test_reduce_prologue_kinds_and_axes(kind):
    x = arr(3, 4, 5)
    out = getattr(xp, kind)(xp.sin(x) * 0.5, axis=(0, 2))
    fg, args = graph_of(out)
    assert fuse_reduce_prologue(fg) == 1
    check_same(fg, [out], args)


def test_reduce_prologue_not_when_value_is_read_elsewhere():
    x = arr(5, 7)
    e = xp.exp(x * 0.5)
    s = xp.sum(e, axis=0)
    fg, args = graph_of(s, e)
    fuse_elemwise(fg)
    assert fuse_reduce_prologue(fg) == 0
    assert any(type(op) is Reduce for op in ops(fg))
    check_same(fg, [s, e], args)


def test_passes_are_registered_in_specialize():
    from lazyarr.rewrites.db import registered

    reg = registered()
    assert reg["elemwise_fusion"][0] == "specialize" and "fusion" in reg["elemwise_fusion"][1]
    assert reg["reduce_fusion"][0] == "specialize"
    assert fusion.count_fused is not None


def test_no_cycle_through_a_distant_outside_path():
    # exp(x) feeds a matmul early in the graph and, much later, the group that uses the
    # matmul's result: fusing exp into that group would make a cycle (the MLP's tanh and its
    # derivative 1 - tanh**2 have this shape)
    x, w = arr(4, 5), arr(5, 5)
    a = xp.exp(x)
    t = xp.sin(a @ w) * 2.0
    out = (1.0 - a * a) * t
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    (comp,) = [op for op in ops(fg) if isinstance(op, Composite)]
    names = [s[0] for s in comp.steps]
    assert "exp" not in names and {"sin", "multiply", "subtract"} <= set(names)
    check_same(fg, [out], args)


def test_groups_forming_a_cycle_once_contracted_are_dropped():
    # a1 -> b1 and b2 -> a2: each group is convex, contracting both makes a cycle
    x = Var.input(np.dtype("float64"), (3,))
    a1, = apply(Elemwise("exp"), x)
    b2, = apply(Elemwise("cos"), x)
    a2, = apply(Elemwise("add"), a1, b2)
    b1, = apply(Elemwise("sin"), a1)
    fg = FunctionGraph([x], [a2, b1])
    idx = fusion._index(fg)
    ga = fusion.Group(a2.owner, idx)
    ga.add(a1.owner)
    gb = fusion.Group(b1.owner, idx)
    gb.add(b2.owner)
    group_of = {a1.owner: ga, a2.owner: ga, b1.owner: gb, b2.owner: gb}
    assert fusion._drop_cyclic(idx, [ga, gb], group_of) == []
    assert fusion._drop_cyclic(idx, [ga], {a1.owner: ga, a2.owner: ga}) == [ga]


def test_pipeline_fuses_when_a_value_is_read():
    from lazyarr.rewrites import last_report

    xp.trace_cache.clear()  # a cached program would not be rewritten again
    x = xp.asarray(rng.standard_normal((8, 3)))
    y = xp.exp(x * 0.5) + xp.sin(x)
    got = np.asarray(xp.sum(y * y, axis=1))
    xn = np.asarray(x)
    want = np.sum((np.exp(xn * 0.5) + np.sin(xn)) ** 2, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert {"elemwise_fusion", "reduce_fusion"} & set(last_report().names())


@pytest.mark.parametrize("view", ["broadcast", "reshape"])
def test_view_that_gives_the_shape_stays_a_node(view):
    x = arr(3, 1)
    v = xp.broadcast_to(x, (3, 4)) if view == "broadcast" else xp.reshape(x, (1, 3, 1))
    out = xp.sin(xp.exp(v) * 2.0)
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    (comp,) = [n for n in fg.toposort() if isinstance(n.op, Composite)]
    assert comp.inputs[0].shape == v.shape
    check_same(fg, [out], args)


def test_cheap_smaller_node_read_only_inside_is_recomputed():
    x, b = arr(4, 5), arr(5)
    out = xp.exp(x) * (xp.abs(b) + 1.0)  # abs(b) + 1 is (5,): recomputed per element
    fg, args = graph_of(out)
    assert fuse_elemwise(fg) == 1
    (node,) = fg.toposort()
    assert isinstance(node.op, Composite) and node.op.nout == 1
    assert {v.shape for v in node.inputs} == {(4, 5), (5,)}
    check_same(fg, [out], args)


def test_smaller_node_not_recomputed_when_expensive_or_read_outside():
    x, b, c = arr(4, 5), arr(5), arr(5)
    expensive = xp.exp(x) * xp.exp(b)  # exp(b) would run 4 times per value
    shared = c * 2.0
    out = xp.sin(x) + shared
    other = xp.sum(shared)  # shared has a reader outside the (4, 5) group
    fg, args = graph_of(expensive, out, other)
    assert fuse_elemwise(fg) == 2
    # exp(b) and c * 2.0 stay nodes of their own, of shape (5,)
    assert sum(isinstance(op, Elemwise) and op.fn.name == "exp" for op in ops(fg)) == 1
    assert sum(isinstance(op, Elemwise) and op.fn.name == "multiply" for op in ops(fg)) == 1
    check_same(fg, [expensive, out, other], args)
