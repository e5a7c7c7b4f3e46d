"""The reference VM: the oracle executor. It runs every graph, evaluates on demand (lazy ops ask
for what they need), memoizes, annotates run-time errors, and agrees with the linear VM and with
NumPy on random graphs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp
from lazyarr.array.coerce import as_var
from lazyarr.array.materialize import _is_baked
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.shape import Reshape
from lazyarr.exec_cpu import ReferenceProgram, link, reference_vm
from lazyarr.exec_cpu.reference_vm import evaluate
from lazyarr.graph import FunctionGraph, Op, Var, apply, cut

F64 = np.dtype(np.float64)


def _run_both(fg: FunctionGraph, args):
    ref = ReferenceProgram(fg)(args)
    lin = link(fg)(args)
    assert len(ref) == len(lin) == len(fg.outputs)
    return ref, lin


# ---- random graphs: reference VM == linear VM == NumPy ----------------------------------------

UNARY = {"exp": np.exp, "sin": np.sin, "tanh": np.tanh, "negative": np.negative,
         "abs": np.abs, "sqrt": np.sqrt, "log1p": np.log1p, "square": np.square}
BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
          "divide": np.divide, "maximum": np.maximum, "atan2": np.arctan2}


@st.composite
def graphs(draw):
    """A random DAG over three float64 inputs of shapes (3,), (2, 3), (1,), as a list of
    (op name, argument indices) steps; values index inputs then earlier steps."""
    steps = []
    n_values = 3
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            args = (draw(st.integers(0, n_values - 1)),)
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            args = tuple(draw(st.integers(0, n_values - 1)) for _ in range(2))
        steps.append((name, args))
        n_values += 1
    n_out = draw(st.integers(1, 3))
    outs = draw(st.lists(st.integers(3, n_values - 1), min_size=n_out, max_size=n_out))
    return steps, outs


@given(graph=graphs(), seed=st.integers(0, 2**16))
def test_random_graphs_agree_with_numpy_and_the_linear_vm(graph, seed):
    steps, outs = graph
    rng = np.random.default_rng(seed)
    data = [rng.normal(size=s) for s in ((3,), (2, 3), (1,))]
    ins = [Var.input(F64, d.shape, name=f"x{i}") for i, d in enumerate(data)]
    values = list(ins)
    ref_values = list(data)
    with np.errstate(all="ignore"):
        for name, args in steps:
            fn = UNARY.get(name) or BINARY[name]
            (out,) = apply(Elemwise(name), *[values[a] for a in args])
            values.append(out)
            ref_values.append(fn(*[ref_values[a] for a in args]))
    fg = FunctionGraph(ins, [values[o] for o in outs])
    ref, lin = _run_both(fg, data)
    for o, r, l_ in zip(outs, ref, lin):
        np.testing.assert_allclose(r, ref_values[o], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(l_, ref_values[o], rtol=1e-12, equal_nan=True)


def test_namespace_graph_through_both_vms():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    a = xp.asarray(x)
    r = xp.sum(xp.where(a > 0, xp.exp(-a), a * a), axis=1) @ xp.asarray(np.ones(3))
    leaves, steps, refs, _ = cut([as_var(r)])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    args = [leaf.data for leaf in leaves if not _is_baked(leaf)]
    ref, lin = _run_both(fg, args)
    expected = np.sum(np.where(x > 0, np.exp(-x), x * x), axis=1) @ np.ones(3)
    np.testing.assert_allclose(ref[0], expected)
    np.testing.assert_allclose(lin[0], expected)


# ---- evaluation on demand -------------------------------------------------------------------

class Count(Op):
    """``x * 2``, recording each run."""

    runs: list = []

    def __init__(self, tag: str):
        self.tag = tag

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        Count.runs.append(self.tag)
        return x * 2


def test_evaluate_computes_only_the_target_and_memoizes():
    Count.runs.clear()
    x = Var.input(F64, (2,))
    (a,) = apply(Count("a"), x)
    (b,) = apply(Count("b"), a)
    (c,) = apply(Count("c"), x)          # not needed for b
    values = {x: np.ones(2)}
    np.testing.assert_array_equal(evaluate(b, values), [4.0, 4.0])
    assert Count.runs == ["a", "b"]
    assert a in values and c not in values
    np.testing.assert_array_equal(evaluate(b, values), [4.0, 4.0])
    assert Count.runs == ["a", "b"]      # memoized
    evaluate(c, values)
    assert Count.runs == ["a", "b", "c"]


def test_missing_input_value_is_an_error():
    x = Var.input(F64, (2,), name="x")
    (a,) = apply(Elemwise("exp"), x)
    with pytest.raises(ValueError, match="no value"):
        evaluate(a, {})


def test_leaves_with_data_need_no_argument():
    c = Var.leaf(np.array([1.0, 2.0]), const=True)
    x = Var.input(F64, (2,))
    (a,) = apply(Elemwise("add"), x, c)
    assert np.array_equal(ReferenceProgram(FunctionGraph([x], [a]))([np.ones(2)])[0], [2, 3])


class Split(Op):
    """Two outputs: the positive and the negative parts."""

    nout = 2

    def infer(self, x):
        return [(x.dtype, x.shape), (x.dtype, x.shape)]

    def perform(self, x):
        return np.maximum(x, 0), np.minimum(x, 0)


def test_multi_output_ops():
    x = Var.input(F64, (4,))
    pos, neg = apply(Split(), x)
    (s,) = apply(Elemwise("subtract"), pos, neg)
    fg = FunctionGraph([x], [neg, s])
    data = np.array([-2.0, 1.0, 0.0, 3.0])
    for out in _run_both(fg, [data]):
        np.testing.assert_array_equal(out[0], np.minimum(data, 0))
        np.testing.assert_array_equal(out[1], np.abs(data))


class Select(Op):
    """``inputs[1 + int(inputs[0])]``: a lazy n-way switch asking for one branch."""

    lazy = True

    def infer(self, k, *branches):
        return [(branches[0].dtype, branches[0].shape)]

    def perform_lazy(self, get, n_in):
        return get(1 + int(get(0)))


class Fail(Op):
    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        raise ZeroDivisionError("must not run")


def test_lazy_ops_nest_and_skip_untaken_branches():
    Count.runs.clear()
    k1 = Var.input(np.dtype(np.int64), ())
    k2 = Var.input(np.dtype(np.int64), ())
    x = Var.input(F64, (3,))
    (bad,) = apply(Fail(), x)
    (cheap,) = apply(Count("cheap"), x)
    (costly,) = apply(Count("costly"), cheap)
    (inner,) = apply(Select(), k2, bad, costly)
    (outer,) = apply(Select(), k1, cheap, inner, bad)
    fg = FunctionGraph([k1, k2, x], [outer])
    data = np.arange(3.0)
    for run in (ReferenceProgram(fg), link(fg)):  # the oracle and the Cython VM
        Count.runs.clear()
        np.testing.assert_array_equal(run([np.int64(0), np.int64(0), data])[0], data * 2)
        assert Count.runs == ["cheap"]
        Count.runs.clear()
        np.testing.assert_array_equal(run([np.int64(1), np.int64(1), data])[0], data * 4)
        assert Count.runs == ["cheap", "costly"]
        with pytest.raises(ZeroDivisionError) as info:
            run([np.int64(1), np.int64(0), data])
        assert any("Fail" in n for n in info.value.__notes__)


def test_node_counter():
    x = Var.input(F64, (2,))
    (a,) = apply(Elemwise("exp"), x)
    (b,) = apply(Elemwise("sin"), a)
    before = reference_vm.counters["nodes_run"]
    ReferenceProgram(FunctionGraph([x], [b, a]))([np.zeros(2)])
    assert reference_vm.counters["nodes_run"] - before == 2


# ---- robustness -----------------------------------------------------------------------------

def test_deep_graphs_need_no_recursion():
    x = Var.input(F64, (2,))
    v = x
    for _ in range(5000):
        (v,) = apply(Elemwise("negative"), v)
    (v,) = apply(Elemwise("add"), v, x)
    out = ReferenceProgram(FunctionGraph([x], [v]))([np.array([1.0, -2.0])])[0]
    np.testing.assert_array_equal(out, [2.0, -4.0])


def test_floating_point_warnings_are_off_and_restored():
    x = Var.input(F64, (3,))
    zero = Var.leaf(np.zeros(3), const=True)
    (d,) = apply(Elemwise("divide"), x, zero)
    (lg,) = apply(Elemwise("log"), d)
    fg = FunctionGraph([x], [lg])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for out in _run_both(fg, [np.array([1.0, -1.0, 0.0])]):
            np.testing.assert_array_equal(out[0], [np.inf, np.nan, np.nan])
    with pytest.warns(RuntimeWarning):  # the caller's settings are back
        np.log(np.zeros(1))


def test_run_time_errors_name_the_op_and_the_building_site():
    x = Var.input(F64, (2, 3))
    (r,) = apply(Elemwise("exp"), x)
    r.owner.site = ("user_code.py", 12)
    node = apply(Reshape((3, 2)), r)[0].owner
    node.site = ("user_code.py", 13)
    fg = FunctionGraph([x], node.outputs)
    for program in (ReferenceProgram(fg), link(fg)):
        with pytest.raises(ValueError) as info:
            program([np.ones((4, 3))])   # wrong data for the declared shape
        assert "while running Reshape{(3, 2)}, built at user_code.py, line 13" in \
            info.value.__notes__
