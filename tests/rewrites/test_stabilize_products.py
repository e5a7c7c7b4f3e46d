"""Cancelling positive factors (exp and sums of exp): the gradient of log-softmax and of
softmax cross-entropy stays finite for far-apart logits; other factors never cancel."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.rewrites import options

from .rw_helpers import optimized


def _xent(y):
    def loss(z):
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return -xp.sum(y * xp.log(e / xp.sum(e, axis=1, keepdims=True)))
    return loss


@pytest.mark.parametrize("dtype,gap", [(np.float64, 800.0), (np.float32, 120.0)])
def test_softmax_cross_entropy_gradient_is_finite(dtype, gap):
    z = np.array([[0.0, gap, -gap], [1.0, 2.0, 3.0]], dtype)
    t = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype)
    e = np.exp(z.astype(np.float64) - z.max(1, keepdims=True))
    want = e / e.sum(1, keepdims=True) - t  # softmax - targets
    with options(exclude=["stability"]):
        plain = np.asarray(xp.grad(_xent(xp.asarray(t)))(xp.asarray(z)))
    assert np.isnan(plain[0]).any()
    got = np.asarray(xp.grad(_xent(xp.asarray(t)))(xp.asarray(z)))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-14)


def test_cancel_overflowing_exp():
    a = xp.asarray(np.array([1000.0, 1.0]))
    b = xp.asarray(np.array([2.0, -0.5]))
    r = xp.exp(a) * (b / xp.exp(a))
    _, report, _ = optimized(r)
    assert "cancel_exp_factors" in report.names()
    with options(exclude=["stability"]):
        assert np.isnan(np.asarray(xp.exp(a) * (b / xp.exp(a)))[0])
    np.testing.assert_allclose(np.asarray(xp.exp(a) * (b / xp.exp(a))), [2.0, -0.5])


def test_distribute_then_cancel():
    x = xp.asarray(np.array([-800.0, 0.5]))
    c = xp.asarray(np.array([3.0, 4.0]))
    r = (c / xp.exp(x) + 1.0) * xp.exp(x)
    names = optimized(r)[1].names()
    assert "distribute_exp_factor" in names and "cancel_exp_factors" in names
    np.testing.assert_allclose(np.asarray((c / xp.exp(x) + 1.0) * xp.exp(x)),
                               [3.0, 4.0 + np.exp(0.5)], rtol=1e-15)


def test_other_factors_do_not_cancel():
    x = xp.asarray(np.array([0.0, 2.0, np.inf]))
    y = xp.asarray(np.array([1.0, 3.0, 1.0]))
    for r in (x * (y / x), (y / x) * x, xp.sin(x) / xp.sin(x)):
        assert "cancel_exp_factors" not in optimized(r)[1].names()
    assert "distribute_exp_factor" not in optimized((y / x + 1.0) * xp.exp(x))[1].names()
    assert "distribute_exp_factor" not in optimized((y + 1.0) * xp.exp(x))[1].names()


def test_a_constant_factor_is_not_distributed():
    """``(x + y / 2) * 2`` stays as written: only an exp-derived factor cancels after the
    distribution, and distributing alone adds a product and rounds otherwise."""
    x = xp.asarray(np.array([1.0, 2.0]))
    y = xp.asarray(np.array([3.0, 5.0]))
    for r in ((x + y / 2.0) * 2.0, (x - y * 2.0) / 2.0):
        assert "distribute_exp_factor" not in optimized(r)[1].names()
    np.testing.assert_array_equal(np.asarray((x + y / 2.0) * 2.0), [5.0, 9.0])


def test_constant_factors_do_not_cancel():
    """``x * 3 / 3`` overflows and ``x / 3 * 3`` underflows in IEEE arithmetic: only
    exp-derived factors cancel (``x * y / y -> x`` is fast-math only)."""
    big = np.array([1e308, 2.0])
    tiny = np.array([5e-324, 2.0])
    for x, f in ((big, lambda a: a * 3.0 / 3.0), (tiny, lambda a: a / 3.0 * 3.0),
                 (big, lambda a: a * 0.1 / 0.1)):
        assert "cancel_exp_factors" not in optimized(f(xp.asarray(x)))[1].names()
        np.testing.assert_array_equal(np.asarray(f(xp.asarray(x))), f(x))


def test_sigmoid_cross_entropy_gradient():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    sig = 1 / (1 + np.exp(-x))
    want = sig - t  # d/dx of -(t log s + (1 - t) log(1 - s))

    def loss(a):
        s = 1 / (1 + xp.exp(-a))
        tt = xp.asarray(t)
        return -xp.sum(tt * xp.log(s) + (1 - tt) * xp.log(1 - s))

    with options(exclude=["stability"]):
        plain_v, plain_g = (np.asarray(r) for r in xp.value_and_grad(loss)(xp.asarray(x)))
    assert not np.isfinite(plain_v) and not np.isfinite(plain_g).all()
    v, g = (np.asarray(r) for r in xp.value_and_grad(loss)(xp.asarray(x)))
    want_v = np.sum(t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x))
    np.testing.assert_allclose(v, want_v, rtol=1e-14)
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-300)


def test_cancelling_keeps_the_order_of_the_other_factors():
    """a / a * a * exp(y) / exp(y): once exp(y) cancels, the rest is computed in its written
    order, not all multiplications first (1e200 * 1e200 overflowed, 1e-200**2 underflowed)."""
    y = xp.asarray([0.0])
    for big in (1e200, 1e-200):
        a = xp.asarray([big])
        out = a / a * a * xp.exp(y) / xp.exp(y)
        assert "cancel_exp_factors" in optimized(out)[1].names()
        np.testing.assert_array_equal(np.asarray(out), [big])


def test_a_nan_under_a_cancelled_exp_stays_nan():
    """exp(nan) cancels in exact arithmetic but is NaN in NumPy: the NaN is kept. exp(-inf)
    (0, the limit of a very negative exponent) and exp(inf) still cancel."""
    x = xp.asarray([1.0, 2.0, 3.0])
    y = xp.asarray([np.nan, np.inf, -np.inf])
    got = np.asarray(x * xp.exp(y) / xp.exp(y))
    np.testing.assert_array_equal(got, [np.nan, 2.0, 3.0])


def test_a_sum_over_an_empty_axis_does_not_cancel():
    """sum(exp(e), axis=1) over a zero-length axis is exactly 0: s / s is NaN, as in NumPy."""
    s = xp.sum(xp.exp(xp.asarray(np.zeros((2, 0)))), axis=1)
    np.testing.assert_array_equal(np.asarray(xp.asarray([1.0, 2.0]) * s / s), [np.nan] * 2)
