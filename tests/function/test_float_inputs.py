"""Python float arguments of a compiled function: constants of the program until their values
vary, then inputs (one program for every value), unless the function reads them."""

import math

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.graph.scalar_families import LIFT_AFTER

RNG = np.random.default_rng(7)


def test_a_float_that_changes_every_call_stops_tracing():
    """A learning-rate schedule: after `LIFT_AFTER` values one program serves every value,
    and the float stays weak (a float32 update stays float32)."""
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    g = RNG.standard_normal((5, 4)).astype(np.float32)
    step = xp.compile(lambda w, g, lr: w - lr * g)
    for i in range(20):
        lr = 0.01 * 0.9 ** i
        out = step(w, g, lr)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(out), w - np.float32(lr) * g)
    assert step.n_traces == LIFT_AFTER


@pytest.mark.parametrize("s", [-0.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e-300,
                               3.5e38, 1e308])
def test_special_values_of_a_float_input(s):
    """Once the float is an input, signed zeros, NaN, infinities and values float32 cannot
    hold compute as the constant would have."""
    x = np.array([1.0, -2.0, 0.0, 3.0])
    f = xp.compile(lambda x, s: (x / s, x * s, x.astype(xp.float32) + s))
    for v in (1.0, 2.0, 3.0):  # make s an input
        f(x, v)
    n = f.n_traces
    with np.errstate(all="ignore"):
        got = [np.asarray(a) for a in f(x, s)]
        want = [x / s, x * s, x.astype(np.float32) + np.float32(s)]
    assert f.n_traces == n
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _branch(x, s):
    return x * (2.0 if s > 0.5 else 3.0) + s


def _python_power(x, s):
    return x * (s ** 2)


def _python_reciprocal(x, s):  # s may be 0 on a later call: Python raises there
    return x * (1.0 / s)


def _int_of(x, s):
    return x[: int(s)]


def _math_exp(x, s):  # reads the float's bits in C: seen only by comparing two traces
    return x * math.exp(s)


def _numpy_float32(x, s):
    return x * np.float32(s)


def _numpy_array(x, s):
    return x + np.full(3, s)


@pytest.mark.parametrize("fn", [_branch, _python_power, _python_reciprocal, _int_of, _math_exp,
                                _numpy_float32, _numpy_array])
def test_a_float_the_function_reads_stays_a_constant(fn):
    """Reading the value in Python (a comparison, ``**``, a division by it, int()) or
    through NumPy or math keeps the float a constant keyed by value: every value gives its
    own result."""
    x = np.arange(3.0)
    f = xp.compile(fn)
    for s in (0.25, 1.25, 2.25, 0.75, 3.5, 0.125, 2.25):
        np.testing.assert_allclose(np.asarray(f(x, s)), fn(x, s), rtol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda w, g, lr: w - (lr * 0.5) * g,
    lambda w, g, lr: w - (0.5 * lr) * g,
    lambda w, g, m: w * (1.0 - m) + m * g,
    lambda w, g, lr: w - lr / 32 * g,
    lambda w, g, lr: w + (-lr) * g + abs(lr),
    lambda w, g, lr: w + (lr * lr - 2 * lr + 1) * g,
    lambda w, g, lr: w.astype(xp.float64) * (lr + 1e-3),
], ids=["mul", "rmul", "rsub", "div", "neg-abs", "poly", "float64"])
def test_exact_python_arithmetic_on_a_float_input_stays_traced(fn):
    """``lr * 0.5``, ``1.0 - m``, ``lr / 32``: float64 arithmetic in Python is the same
    operation in the graph, so the float stays an input, bit for bit as eager code."""
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    g = RNG.standard_normal((5, 4)).astype(np.float32)
    c = xp.compile(fn)
    for i in range(8):
        lr = 0.37 * (i - 3.1)
        got = c(w, g, lr)
        want = fn(xp.asarray(w), xp.asarray(g), lr)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert c.n_traces == LIFT_AFTER


def test_only_the_floats_that_vary_become_inputs():
    """A float that keeps its value stays a constant (rewrites may read it) until it too
    changes; then it becomes an input with one more trace."""
    x = RNG.standard_normal(4)
    f = xp.compile(lambda x, a, b: x * a + b)
    for i in range(6):
        np.testing.assert_allclose(np.asarray(f(x, 0.5 + i, 2.0)), x * (0.5 + i) + 2.0)
    assert f.n_traces == LIFT_AFTER
    for i in range(4):
        np.testing.assert_allclose(np.asarray(f(x, 1.5, -1.0 - i)), x * 1.5 - 1.0 - i)
    assert f.n_traces == LIFT_AFTER + 1


def test_promotion_is_the_eager_one():
    """An input float promotes as the Python float it stands for, with every dtype."""
    for dt in (np.float32, np.float64, np.int32, np.complex64, np.bool_):
        x = np.ones(3, dt)
        f = xp.compile(lambda x, s: x * s)
        for s in (0.5, 1.5, 2.5, 3.5):
            got = f(x, s)
            want = xp.asarray(x) * s
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_float_inputs_in_trusted_calls_loops_and_inner_graphs():
    x = RNG.standard_normal(3)
    f = xp.compile(lambda x, s: xp.where(x > 0, x * s, xp.full(3, 1.0) * s))
    for s in (1.0, 2.0, 3.0):
        f(x, s)
    f.trust_input = True
    np.testing.assert_allclose(np.asarray(f(x, 7.0)), np.where(x > 0, x * 7.0, 7.0))
    f.trust_input = False

    step = xp.compile(lambda s, x, c: (s * c + x,), donate_argnums=0)
    xs = RNG.standard_normal((4, 3))
    s = xp.asarray(np.zeros(3))
    for c in (0.5, 0.25, 0.75):
        (s,) = step.loop(4, s, xs, c)
    ref = np.asarray(s).copy()
    n = step.n_traces
    (s,) = step.loop(4, s, xs, 1.5)
    for i in range(4):
        ref = ref * 1.5 + xs[i]
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-12)
    assert step.n_traces == n

    g = xp.compile(lambda x, s: xp.cond(xp.sum(x) > 0, lambda: x * s, lambda: x - s))
    for s in (1.0, 2.0, 3.0, 4.0):
        for y in (x, -x):
            want = y * s if y.sum() > 0 else y - s
            np.testing.assert_allclose(np.asarray(g(y, s)), want)
    assert g.n_traces == LIFT_AFTER

    h = xp.compile(lambda w, s: w - s * xp.grad(lambda v: xp.sum(v ** 3))(w))
    w = np.array([1.0, -2.0])
    for s in (0.1, 0.2, 0.3, 0.4):
        np.testing.assert_allclose(np.asarray(h(w, s)), w - s * 3 * w ** 2)


def test_a_float_kept_past_its_trace_is_its_value():
    """A float the function stores away is a plain constant once the trace is over."""
    kept = []

    def f(x, s):
        kept.append(s)
        return x * s

    g = xp.compile(f)
    x = np.arange(3.0)
    for s in (1.0, 2.0, 3.0):
        g(x, s)
    assert 3.0 in kept
    for s in kept:
        np.testing.assert_array_equal(np.asarray(xp.asarray(x) * s), x * float(s))


def test_a_float_input_passed_to_an_inner_compiled_function():
    """An enclosing compile's float input is a traced value to an inner compiled function,
    which is then inlined; the outer float stays an input."""
    inner = xp.compile(lambda x, s: x * s)
    outer = xp.compile(lambda x, s: inner(x, s) + s)
    x = np.arange(3.0)
    for s in (0.5, 1.5, 2.5, 3.5, -4.0):
        np.testing.assert_allclose(np.asarray(outer(x, s)), x * s + s)
    assert outer.n_traces == LIFT_AFTER


def test_a_function_that_fails_on_a_float_input_gets_a_constant():
    """A trace that raises with a float input (here a type test, or a shape only the other
    value breaks) is run again with the float a constant: the function sees what it would
    see without compile."""
    def typed(x, s):
        if type(s) is not float:
            raise TypeError("s must be a float")
        return x * s

    def shaped(x, s):  # NumPy reads s unseen, then the second trace's shape does not fit
        return xp.reshape(x, (int(np.float64(s)), -1))

    x = np.arange(4.0)
    f = xp.compile(typed)
    g = xp.compile(shaped)
    for s in (1.0, 2.0, 4.0, 2.0, 1.0):
        np.testing.assert_array_equal(np.asarray(f(x, s)), x * s)
        np.testing.assert_array_equal(np.asarray(g(x, s)), x.reshape(int(s), -1))


def test_a_float_input_returned_as_it_is():
    f = xp.compile(lambda x, s: (x * 2.0, s))
    x = np.arange(3.0)
    for s in (0.5, 1.5, 2.5, -3.0):
        a, b = f(x, s)
        assert b.dtype == np.float64 and b.shape == ()
        assert float(b) == s


def _setitem(x, s):
    y = x * 1
    y[0] = s
    return y


@pytest.mark.parametrize("fn", [
    lambda x, s: xp.full(3, s) + x,
    lambda x, s: xp.full(3, s, dtype=xp.float32) + x,
    lambda x, s: xp.where(x > 0, x, s),
    lambda x, s: xp.clip(x, s, None),
    _setitem,
    lambda x, s: x + xp.asarray(s),
    lambda x, s: x + xp.asarray(s, dtype=xp.float32),
    lambda x, s: x ** s,
    lambda x, s: s ** x,
    lambda x, s: xp.maximum(x, s),
    lambda x, s: x > s,
], ids=["full", "full-f32", "where", "clip", "setitem", "asarray", "asarray-f32", "pow",
        "rpow", "maximum", "greater"])
def test_functions_that_take_a_python_scalar_keep_a_float_input(fn):
    """Every function taking a Python scalar takes a float input as one (``asarray(s)`` is
    the input, not a leaf over its trace-time value), with eager code's results."""
    x = np.array([1.0, -2.0, 3.0], np.float32)
    c = xp.compile(fn)
    for i in range(6):
        s = 0.3 * i - 0.7
        with np.errstate(all="ignore"):
            got, want = c(x, s), fn(xp.asarray(x), s)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert c.n_traces == LIFT_AFTER
