"""The graph IR: op interning, structural keys of cuts, CSE at cut time, FunctionGraph,
topological order and printing; an op holding an inner graph and a lazy op both fit the IR
unchanged. Values are checked against NumPy."""

from __future__ import annotations

import gc
import inspect
import io

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.coerce import as_var, build, build_many, wrap
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.shape import Reshape
from lazyarr.exec_cpu.reference_vm import ReferenceProgram
from lazyarr.graph import FunctionGraph, Op, Var, apply, cut, debugprint, toposort
from lazyarr.graph import fgraph as fgraph_module
from lazyarr.graph.inner import InnerGraph
from lazyarr.graph.userline import site_location


def _leaf(x):
    return xp.asarray(np.asarray(x))


def _key(*arrays):
    return cut([as_var(a) for a in arrays])[3]


def _clone(*arrays) -> tuple[FunctionGraph, list]:
    """A FunctionGraph of ``arrays`` and the data of its inputs, in order."""
    from lazyarr.array.materialize import _is_baked

    leaves, steps, refs, _ = cut([as_var(a) for a in arrays])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    return fg, [leaf.data for leaf in leaves if not _is_baked(leaf)]


# ---- ops, vars, applies ---------------------------------------------------------------------

def test_ops_are_interned_by_class_and_parameters():
    assert Elemwise("add") is Elemwise("add")
    assert Elemwise("add") is not Elemwise("subtract")
    assert Reshape((2, 3)) is Reshape((2, 3))
    assert Reshape((2, 3)) is not Reshape((3, 2))
    assert Reshape((2, 3)).params == ((2, 3),)
    with pytest.raises(TypeError, match="hashable"):
        Reshape([2, 3])
    a = _leaf([1.0, 2.0])
    assert (a + 1.0)._v.owner.op is (a + 1.0)._v.owner.op


def test_ops_with_exact_params_are_interned_apart_where_a_number_differs():
    """Params equal by value but not by sign or type (0.0 and -0.0; 1, 1.0 and True) make
    different ops where the op says its numbers matter (`Op.exact_params`), at any depth."""
    from lazyarr.array.ops.composite import Composite
    from lazyarr.array.ops.creation import Arange

    f = np.dtype(np.float64)

    def scaled(c):  # x * c, c a constant step of the composite
        return Composite((f,), (("const", (), f, c), ("multiply", (0, 1), f, None)), (2,))

    assert scaled(0.0) is scaled(0.0) and scaled(-0.0) is scaled(-0.0)
    assert scaled(0.0) is not scaled(-0.0)
    assert len({id(scaled(1)), id(scaled(1.0)), id(scaled(True))}) == 3
    assert Arange(0, 3, 1, f, 3) is Arange(0, 3, 1, f, 3)
    assert Arange(-0.0, 3, 1, f, 3) is not Arange(0.0, 3, 1, f, 3)
    assert Arange(1, 3, 1, f, 2) is not Arange(True, 3, 1, f, 2)
    # fused programs built one after the other keep their constants' signs (NumPy's results)
    xn, yn = np.array([-1.0, 2.0, -3.0]), np.array([0.5, 0.25, 2.0])
    x, y = xp.asarray(xn), xp.asarray(yn)
    for c in (0.0, -0.0, 0.0):
        got = np.asarray((x + y) * c)
        want = (xn + yn) * c
        np.testing.assert_array_equal(got, want)
        assert (np.signbit(got) == np.signbit(want)).all(), c


def test_apply_builds_typed_outputs_without_computing():
    x = Var.input(np.float32, (2, None), name="x")
    y = Var.input(np.float32, (1, 5))
    (out,) = apply(Elemwise("add"), x, y)
    assert (out.dtype, out.shape) == (np.float32, (2, 5))
    assert out.owner.inputs == (x, y) and out.owner.outputs == [out]
    assert out.data is None and out.depth == 1
    site = (__file__, inspect.currentframe().f_lineno + 1)  # the user's file and line
    assert site_location(build(Elemwise("negative"), out)._v.owner.site) == site
    with pytest.raises(ValueError):
        apply(Elemwise("add"), x, Var.input(np.float32, (3, 5)))
    assert "input" in repr(x) and "node" in repr(out)


def test_vars_and_applies_are_not_interned_but_cut_merges_them():
    a = _leaf(np.arange(3.0))
    s1, s2 = a * 2.0, a * 2.0
    assert s1._v is not s2._v
    leaves, steps, refs, _ = cut([s1._v, s2._v])
    assert len(steps) == 1 and refs[0] == refs[1]   # one multiply, computed once
    r = xp.sin(s1) + xp.sin(s2)
    assert len(cut([r._v])[1]) == 3                 # multiply, sin, add
    np.testing.assert_allclose(np.asarray(r), 2 * np.sin(np.arange(3.0) * 2))


# ---- structural keys ------------------------------------------------------------------------

def _expr(x, c=1.0):
    return xp.exp(x * c) - x


def test_equal_structures_have_equal_keys_whatever_the_leaves():
    k1 = _key(_expr(_leaf(np.ones(3))))
    k2 = _key(_expr(_leaf(np.zeros(3))))
    assert k1 == k2 and hash(k1) == hash(k2)


@pytest.mark.parametrize("other", [
    lambda: _expr(_leaf(np.ones(3, np.float32))),  # dtype
    lambda: _expr(_leaf(np.ones(4))),              # shape
    lambda: _expr(_leaf(np.ones((3, 1)))),         # rank
    lambda: _expr(_leaf(np.ones(3)), 2.0),         # small constant value
    lambda: xp.exp(_leaf(np.ones(3)) * 1.0) + _leaf(np.ones(3)),   # op
    lambda: xp.exp(_leaf(np.ones(3)) * 1.0) - _leaf(np.ones(3)),   # sharing: x vs two leaves
])
def test_keys_differ_when_anything_structural_differs(other):
    assert _key(_expr(_leaf(np.ones(3)))) != _key(other())


def test_big_constants_key_by_type_small_ones_by_value():
    a = _leaf(np.ones(3))
    small1 = xp.asarray(np.arange(4.0))
    small1._v.const = True
    small2 = xp.asarray(np.arange(4.0) + 1)
    small2._v.const = True
    assert _key(a + 1.0) != _key(a + 2.0)
    big = [xp.asarray(np.full(100, v)) for v in (1.0, 2.0)]
    for b in big:
        b._v.const = True
    assert _key(big[0] * 2.0) == _key(big[1] * 2.0)      # data is an input, not the key
    assert _key(small1 * 2.0) != _key(small2 * 2.0)


def test_key_of_a_symbolic_input_differs_from_data():
    t = wrap(Var.input(np.float64, (3,)))
    assert _key(t + 1.0) != _key(_leaf(np.ones(3)) + 1.0)


# ---- FunctionGraph, toposort, printing ------------------------------------------------------

def test_from_cut_when_a_leaf_is_met_after_a_node():
    """The walk numbers ``b`` and ``exp(b)`` before ``a`` in ``a - exp(b)``: the clone must
    still feed each leaf to the right place."""
    a, b = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    r = xp.asarray(a) - xp.exp(xp.asarray(b))
    leaves, steps, out_refs, _ = cut([r._v])
    fg = FunctionGraph.from_cut(leaves, steps, out_refs)
    node = fg.outputs[0].owner
    assert node.op.fn.name == "subtract"
    assert node.inputs[0] is fg.inputs[[leaf.data is a for leaf in leaves].index(True)]
    np.testing.assert_allclose(np.asarray(r), a - np.exp(b))


def test_function_graph_clone_runs_and_leaves_the_user_graph_alone():
    x = np.array([0.5, 1.5, -2.0])
    y = np.array([2.0, 3.0, 4.0])
    a, b = _leaf(x), _leaf(y)
    r1 = xp.log1p(a * a) / b
    r2 = a - xp.exp(b)
    fg, args = _clone(r1, r2)
    assert len(fg.inputs) == 2 and all(v.owner is None and v.data is None for v in fg.inputs)
    assert {id(v) for v in fg.inputs}.isdisjoint({id(a._v), id(b._v)})
    out = ReferenceProgram(fg)(args)
    np.testing.assert_allclose(out[0], np.log1p(x * x) / y)
    np.testing.assert_allclose(out[1], x - np.exp(y))
    assert r1._v.owner is not None                 # cloning realized nothing


def test_replace_and_clients():
    x = np.array([1.0, 4.0, 9.0])
    a = _leaf(x)
    r = xp.sqrt(a) + xp.sqrt(a) * 2.0
    fg, args = _clone(r)
    sqrt_node = next(n for n in fg.toposort() if repr(n.op) == "sqrt")
    old = sqrt_node.outputs[0]
    readers = fg.clients()[old]
    assert len(readers) == 2 and all(isinstance(n, type(sqrt_node)) for n, _ in readers)
    (new,) = apply(Elemwise("exp"), sqrt_node.inputs[0])
    fg.replace(old, new)
    assert old not in fg.clients()
    np.testing.assert_allclose(ReferenceProgram(fg)(args)[0], np.exp(x) * 3)
    with pytest.raises(TypeError):
        fg.replace(new, Var.input(np.float32, (3,)))


def test_replace_all_is_replacing_in_turn_in_one_walk(monkeypatch):
    x = np.array([1.0, 4.0, 9.0])
    r = xp.sqrt(_leaf(x)) * 2.0 + xp.exp(_leaf(x))
    fg, args = _clone(r)
    sqrt_node = next(n for n in fg.toposort() if repr(n.op) == "sqrt")
    exp_node = next(n for n in fg.toposort() if repr(n.op) == "exp")
    s, e = sqrt_node.outputs[0], exp_node.outputs[0]
    (neg,) = apply(Elemwise("negative"), exp_node.inputs[0])
    (log,) = apply(Elemwise("log1p"), exp_node.inputs[0])
    walks = []

    def counted_toposort(outputs):
        walks.append(1)
        return toposort(outputs)

    monkeypatch.setattr(fgraph_module, "toposort", counted_toposort)
    # sqrt's readers move to exp, then exp's (sqrt's former ones too) to log1p, then neg's
    # (none: the pair comes after log1p took them) nowhere
    fg.replace_all([(s, e), (e, log), (e, neg)])
    assert len(walks) == 1
    assert s not in fg.clients() and e not in fg.clients()
    np.testing.assert_allclose(ReferenceProgram(fg)(args)[0], np.log1p(x) * 3.0)
    with pytest.raises(TypeError):
        fg.replace_all([(log, Var.input(np.float32, (3,)))])


def test_toposort_puts_every_node_after_its_inputs():
    a, b = _leaf(np.ones((2, 3))), _leaf(np.ones(3))
    t = a * b
    r = xp.sum(xp.exp(t) + t, axis=0) - xp.max(t, axis=0) + b
    order = toposort([r._v])
    seen = set()
    for node in order:
        for v in node.inputs:
            assert v.owner is None or id(v.owner) in seen
        seen.add(id(node))
    assert len(order) == len(seen) == 7    # multiply, exp, add, sum, max, subtract, add
    assert order[-1] is r._v.owner


def test_toposort_of_a_malformed_graph_raises():
    """An owner that is not an `Apply` (``Var.owner`` is a public attribute) or an input that
    is not a `Var` is a TypeError, not a crash of the C walk."""
    class NotAnApply:
        inputs = ()

    with pytest.raises(TypeError):
        toposort([Var(np.dtype(np.float64), (), NotAnApply())])
    x = Var.input(np.float64, ())
    node = apply(Elemwise("exp"), x)[0].owner
    node.inputs = (x, 3)
    with pytest.raises(TypeError):
        toposort(node.outputs)
    with pytest.raises(TypeError):
        toposort([None])


def test_debugprint():
    x = xp.asarray(np.ones(3))
    y = x + 1.0
    z = y * y
    text = debugprint([z._v])
    assert text == ("multiply [id 0] float64[3]\n"
                    " | add [id 1] float64[3]\n"
                    " | | Leaf float64[3]\n"
                    " | | Constant{1.0} float64\n"
                    " | add *1")
    t = wrap(Var.input(np.float32, (2,), name="t"))
    assert debugprint(xp.reshape(t, (1, 2))._v).splitlines()[1] == " | Input 't' float32[2]"


# ---- an op holding an inner graph -----------------------------------------------------------

class MapInner(Op):
    """Runs its inner graph on its inputs (the shape of the later ``cond``/``scan``)."""

    def __init__(self, graph: InnerGraph):
        self.graph = graph
        self.inner_graphs = (graph,)
        self.nout = len(graph.outputs)

    def infer(self, *xs):
        want = [(v.dtype, v.shape) for v in self.graph.inputs]
        if [(x.dtype, x.shape) for x in xs] != want:
            raise TypeError(f"MapInner expects inputs {want}")
        return [(o.dtype, o.shape) for o in self.graph.outputs]

    def perform(self, *xs):
        out = ReferenceProgram(self.graph.fgraph())(list(xs))
        return out[0] if self.nout == 1 else tuple(out)


def _inner(fn, *types):
    ins = [wrap(Var.input(dt, shape, name=f"i{k}")) for k, (dt, shape) in enumerate(types)]
    outs = fn(*ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    return InnerGraph([i._v for i in ins], [o._v for o in outs])


def _poly(u, v):
    return u * u + 3.0 * v, xp.sin(u - v)


def test_inner_graph_op_builds_keys_prints_and_materializes():
    g1 = _inner(_poly, (np.float64, (3,)), (np.float64, (3,)))
    g2 = _inner(_poly, (np.float64, (3,)), (np.float64, (3,)))
    assert g1 == g2 and hash(g1) == hash(g2)
    assert MapInner(g1) is MapInner(g2)          # equal inner graphs: one interned op
    g3 = _inner(lambda u, v: (u * u + 4.0 * v, xp.sin(u - v)),
                (np.float64, (3,)), (np.float64, (3,)))
    g4 = _inner(_poly, (np.float32, (3,)), (np.float32, (3,)))
    assert MapInner(g3) is not MapInner(g1) and MapInner(g4) is not MapInner(g1)

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    a, b = _leaf(x), _leaf(y)
    p, q = build_many(MapInner(g1), as_var(a), as_var(b * 2.0))
    r = p + q
    # structural keys see through the op's parameters: equal inner graphs, equal keys
    p2, q2 = build_many(MapInner(g2), as_var(_leaf(y)), as_var(_leaf(x) * 2.0))
    assert _key(r) == _key(p2 + q2)
    p3, q3 = build_many(MapInner(g3), as_var(_leaf(y)), as_var(_leaf(x) * 2.0))
    assert _key(r) != _key(p3 + q3)

    text = xp.debugprint(r, file=io.StringIO())
    assert "MapInner{InnerGraph(2 in, 2 out)}.0 [id 1]" in text
    assert "Inner graph of [id 1]:" in text
    assert "Input 'i0' float64[3]" in text and "sin" in text

    expected = (x * x + 3.0 * (2 * y)) + np.sin(x - 2 * y)
    np.testing.assert_allclose(np.asarray(r), expected)
    np.testing.assert_allclose(np.asarray(p), x * x + 6.0 * y)


def test_inner_graph_capturing_data_and_errors():
    w = _leaf(np.array([1.0, 10.0]))          # captured by value
    g = _inner(lambda u: u * w, (np.float64, (2,)))
    g_same = _inner(lambda u: u * w, (np.float64, (2,)))
    g_other = _inner(lambda u: u * _leaf(np.array([1.0, 10.0])), (np.float64, (2,)))
    assert g == g_same and g != g_other       # captured arrays compare by identity
    out = build(MapInner(g), as_var(_leaf([2.0, 3.0])))
    np.testing.assert_allclose(np.asarray(out), [2.0, 30.0])
    with pytest.raises(TypeError):
        build(MapInner(g), as_var(_leaf([2.0, 3.0, 4.0])))
    free = wrap(Var.input(np.float64, (2,)))
    with pytest.raises(ValueError, match="neither one of its inputs"):
        _inner(lambda u: u + free, (np.float64, (2,)))


# ---- a lazy op ------------------------------------------------------------------------------

class Boom(Op):
    """Fails when run: stands for a branch that must not be evaluated."""

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        raise RuntimeError("the untaken branch ran")


class Tag(Op):
    """The identity, recording its tag each time it runs."""

    runs: list = []

    def __init__(self, tag: str):
        self.tag = tag

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        Tag.runs.append(self.tag)
        return x.copy()


def _tag(x, name):
    return build(Tag(name), as_var(x))


class IfElse(Op):
    """``then`` if ``cond`` else ``other``, asking only for the branch it takes."""

    lazy = True

    def infer(self, cond, then, other):
        return [(then.dtype, then.shape)]

    def perform_lazy(self, get, n_in):
        return get(1) if bool(get(0)) else get(2)


def test_lazy_op_runs_only_the_branch_it_needs():
    x = np.arange(4.0)
    a = _leaf(x)
    taken = _tag(xp.exp(a) * 2.0, "taken")
    untaken = build(Boom(), as_var(_tag(xp.sin(a), "untaken")))   # a live array: not computed
    for flag in (True, False):
        Tag.runs.clear()
        cond = _tag(xp.sum(a) > 0 if flag else xp.sum(a) < 0, "cond")
        r = build(IfElse(), as_var(cond), as_var(taken), as_var(untaken))
        if flag:
            np.testing.assert_allclose(np.asarray(r + 1.0), np.exp(x) * 2.0 + 1.0)
            assert Tag.runs == ["cond", "taken"]
        else:
            with pytest.raises(RuntimeError, match="untaken") as info:
                np.asarray(r)
            assert any("Boom" in n for n in info.value.__notes__)
            assert Tag.runs == ["cond", "untaken"]


def test_reference_vm_memoizes_shared_inputs_of_lazy_ops():
    Tag.runs.clear()
    a = _leaf(np.ones(3))
    shared = _tag(xp.exp(a), "shared")
    r = build(IfElse(), as_var(xp.asarray(True)), as_var(shared + 1.0), as_var(shared))
    r2 = shared * 3.0                      # a second output of the same program
    xp.realize(r, r2)
    np.testing.assert_allclose(np.asarray(r), np.e + 1.0)
    np.testing.assert_allclose(np.asarray(r2), np.e * 3.0)
    assert Tag.runs == ["shared"]          # computed once, for the branch and for r2


def test_ops_nothing_holds_leave_the_intern_table(monkeypatch):
    """Ops are interned, but one that no graph, program or template holds any more is
    dropped once the table has doubled: a loop over ever new shapes (each a new `Reshape`,
    `BroadcastTo`, row program...) no longer grows it for good. An op still held stays the
    one its parameters give."""
    from lazyarr.array import materialize
    from lazyarr.graph import basic

    materialize.trace_cache.clear()
    monkeypatch.setattr(materialize.trace_cache, "maxsize", 8)
    monkeypatch.setattr(basic, "SWEEP_MIN", 256)
    held = xp.reshape(xp.asarray(np.arange(6.0)), (2, 3))  # pending: holds its Reshape
    op = held._v.owner.op
    # what earlier tests left held (caches) stays; the threshold is set from there, not from
    # an absolute count
    gc.collect()
    basic._sweep()
    start = basic.intern_count()
    monkeypatch.setattr(basic, "_sweep_at", start + 256)
    sweeps = []
    sweep = basic._sweep
    monkeypatch.setattr(basic, "_sweep", lambda: (sweeps.append(basic.intern_count()), sweep()))
    for n in range(1, 600):
        a = xp.asarray(np.arange(float(n)))
        np.testing.assert_array_equal(np.asarray(xp.reshape(a, (1, n)) * 2.0 + 1.0),
                                      (np.arange(float(n)) * 2.0 + 1.0).reshape(1, n))
    assert sweeps  # the table's growth swept it
    sweep()
    assert basic.intern_count() < start + 300  # (held: + 601; 8 cached programs hold ~100)
    assert type(op)((2, 3)) is op
    np.testing.assert_array_equal(np.asarray(held), np.arange(6.0).reshape(2, 3))


def _reads(fg):
    return {v: sorted((id(n), i) for n, i in cl) for v, cl in fg.clients().items()}


def test_tracked_replacements_touch_only_readers(monkeypatch):
    x = np.array([1.0, 4.0, 9.0])
    a = _leaf(x)
    r = xp.sqrt(a) * 2.0 + xp.exp(xp.sin(a))
    fg, args = _clone(r)
    nodes = {repr(n.op): n for n in fg.toposort()}
    s, e = nodes["sqrt"].outputs[0], nodes["exp"].outputs[0]
    walks = []

    def counted_toposort(outputs):
        walks.append(1)
        return toposort(outputs)

    monkeypatch.setattr(fgraph_module, "toposort", counted_toposort)
    with fg.tracked():
        assert len(walks) == 1  # building the reader lists
        (neg,) = apply(Elemwise("negative"), s)  # a replacement reading what it replaces
        fg.replace_all([(s, neg)])
        (cos,) = apply(Elemwise("cos"), nodes["sin"].inputs[0])
        fg.replace_all([(e, cos)])  # exp and sin lose their last reader
        fg.replace(fg.outputs[0], cos)  # the whole product is dropped too
        assert len(walks) == 1
        kept = _reads(fg)
    walks.clear()
    assert kept == _reads(fg)  # the lists kept equal those of a walk of the result
    assert not any(repr(n.op) in ("exp", "sin", "sqrt") for n in fg.toposort())
    np.testing.assert_allclose(ReferenceProgram(fg)(args)[0], np.cos(x))
    with fg.tracked():
        (n2,) = apply(Elemwise("negative"), cos)
        fg.replace_all([(cos, n2)])
        assert _reads(fg) == _reads(FunctionGraph(fg.inputs, fg.outputs))
    np.testing.assert_allclose(ReferenceProgram(fg)(args)[0], -np.cos(x))

def test_realizing_a_graph_whose_owner_is_not_an_apply_raises():
    """The cut's walk checks an owner's type too (``Var.owner`` is public): a TypeError, not a
    crash of the C walk."""
    import lazyarr as xp

    class NotAnApply:
        inputs = ()

    b = xp.asarray(np.ones(3)) * 2.0
    owner = b._v.owner
    b._v.owner = NotAnApply()
    try:
        with pytest.raises(TypeError):
            float(xp.sum(b))
    finally:  # a pending array with a bogus owner would poison later realizations
        b._v.owner = owner
    np.testing.assert_array_equal(np.asarray(b), [2.0, 2.0, 2.0])


def test_a_dropped_array_whose_owner_is_not_an_apply_is_freed_without_a_crash():
    """Freeing dropped pending graphs (`_front._unread_nodes`) walks owners too: one that is
    not an `Apply` is left alone, not read as one (it crashed a later node build). In a child
    process: a regression would end the interpreter."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np, lazyarr as xp, gc
        class NotAnApply:
            inputs = ()
        b = xp.asarray(np.ones(3)) * 2.0
        b._v.owner = NotAnApply()
        del b
        gc.collect()
        want = float(np.sum(np.exp(np.arange(3.0) * 2) - np.arange(3.0)))
        for i in range(2000):
            a = xp.asarray(np.arange(3.0))
            s = a * 2.0
            y = xp.exp(s) - s + a
            if i % 500 == 0:
                assert abs(float(xp.sum(y)) - want) <= 1e-12 * want
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
