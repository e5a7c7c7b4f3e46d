"""Stabilize rewrites: on inputs where the written form loses everything (inf, NaN, -inf,
or all digits) with rewrites off, the rewritten program gives the right value; each rewrite
also has a case where it must not fire. Oracles: NumPy's own stable functions."""

from __future__ import annotations

import numpy as np

import lazyarr as xp
from lazyarr.rewrites import options

from .rw_helpers import check_rewrite, ops, optimized


def both(make, *data):
    """``make(*arrays)`` computed with every rewrite off, then with the pipeline on."""
    with options(exclude=["all"]):
        plain = np.asarray(make(*[xp.asarray(d) for d in data]))
    fast = np.asarray(make(*[xp.asarray(d) for d in data]))
    return plain, fast


def fired(make, *data) -> list[str]:
    return optimized(make(*[xp.asarray(d) for d in data]))[1].names()


def test_log1p():
    x = np.array([1e-20, -1e-18, 3e-17, 0.5])
    plain, fast = both(lambda a: xp.log(1 + a), x)
    assert plain[0] == 0.0  # every digit lost
    np.testing.assert_allclose(fast, np.log1p(x), rtol=1e-15)
    _, fast = both(lambda a: xp.log(1 - a), x)
    np.testing.assert_allclose(fast, np.log1p(-x), rtol=1e-15)
    assert "log1p" in fired(lambda a: xp.log(a + 1), x)
    assert "log1p" not in fired(lambda a: xp.log(2 + a), x)
    assert "log1p" not in fired(lambda a: xp.log(a - 1), x)


def test_expm1():
    x = np.array([1e-20, -3e-18, 0.25], np.float32)
    plain, fast = both(lambda a: xp.exp(a) - 1, x)
    assert plain[0] == 0.0
    np.testing.assert_allclose(fast, np.expm1(x), rtol=1e-6)
    assert fast.dtype == np.float32
    assert "expm1" in fired(lambda a: xp.exp(a) + (-1), x)
    assert "expm1" not in fired(lambda a: xp.exp(a) - 2, x)
    assert "expm1" not in fired(lambda a: 1 - xp.exp(a), x)


def test_softplus():
    x = np.array([1000.0, -1000.0, 0.0, 30.0])
    plain, fast = both(lambda a: xp.log(1 + xp.exp(a)), x)
    assert np.isinf(plain[0])
    np.testing.assert_allclose(fast, np.logaddexp(0, x), rtol=1e-15)
    assert "softplus" not in fired(lambda a: xp.log1p(xp.exp(a) * 2), x)


def _sigmoid(a):
    return 1 / (1 + xp.exp(-a))


def test_log_sigmoid():
    x = np.array([-1000.0, -40.0, 0.0, 40.0])
    plain, fast = both(lambda a: xp.log(_sigmoid(a)), x)
    assert np.isneginf(plain[0])
    np.testing.assert_allclose(fast, -np.logaddexp(0, -x), rtol=1e-15)
    assert "log_sigmoid" not in fired(lambda a: xp.log(2 / (1 + xp.exp(-a))), x)
    assert "log_sigmoid" not in fired(lambda a: xp.log(1 / (2 + xp.exp(-a))), x)
    _, fast = both(lambda a: xp.log(1 / (1 + xp.exp(a))), x)  # the sigmoid of -x
    np.testing.assert_allclose(fast, -np.logaddexp(0, x), rtol=1e-15)


def test_log_one_minus_sigmoid():
    x = np.array([1000.0, 40.0, 0.0, -40.0])
    plain, fast = both(lambda a: xp.log(1 - _sigmoid(a)), x)
    assert np.isneginf(plain[0]) and np.isneginf(plain[1])
    np.testing.assert_allclose(fast, -np.logaddexp(0, x), rtol=1e-15)
    assert "log_one_minus_sigmoid" not in fired(lambda a: xp.log(2 - _sigmoid(a)), x)


def test_one_minus_sigmoid():
    x = np.array([40.0, 1000.0, 0.0, -40.0])
    plain, fast = both(lambda a: 1 - _sigmoid(a), x)
    assert plain[0] == 0.0  # cancelled
    np.testing.assert_allclose(fast, 1 / (1 + np.exp(x)), rtol=1e-15)
    assert "one_minus_sigmoid" not in fired(lambda a: 2 - _sigmoid(a), x)
    assert "one_minus_sigmoid" not in fired(lambda a: 1 - 1 / (2 + xp.exp(-a)), x)


def _logsumexp_np(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis)


def test_logsumexp():
    x = np.array([[1000.0, 999.0, -5.0], [-1000.0, -1001.0, -1002.0], [0.0, 1.0, 2.0]])
    plain, fast = both(lambda a: xp.log(xp.sum(xp.exp(a), axis=1)), x)
    assert np.isinf(plain[0]) and np.isneginf(plain[1])
    np.testing.assert_allclose(fast, _logsumexp_np(x, 1), rtol=1e-14)
    _, keep = both(lambda a: xp.log(xp.sum(xp.exp(a), axis=0, keepdims=True)), x)
    np.testing.assert_allclose(keep[0], _logsumexp_np(x, 0), rtol=1e-14)


def test_logsumexp_special_rows_and_float32():
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 0.0]], np.float32)
    _, fast = both(lambda a: xp.log(xp.sum(xp.exp(a), axis=1)), x)
    assert fast.dtype == np.float32
    assert np.isneginf(fast[0]) and np.isposinf(fast[1]) and np.isnan(fast[2])


def test_logsumexp_not_on_shifted_input():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])

    def shifted(a):
        m = xp.max(a, axis=1, keepdims=True)
        return xp.log(xp.sum(xp.exp(a - m), axis=1))

    assert "logsumexp" not in fired(shifted, x)
    assert "logsumexp" not in fired(lambda a: xp.log(xp.sum(a, axis=1)), x)
    assert "logsumexp" not in fired(lambda a: xp.log(xp.prod(xp.exp(a), axis=1)), x)


def _softmax(a):
    e = xp.exp(a - xp.max(a, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def test_log_softmax_and_cross_entropy():
    x = np.array([[0.0, 800.0, -800.0], [1.0, 2.0, 3.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    want = x - _logsumexp_np(x, 1)[:, None]
    plain, fast = both(lambda a: xp.log(_softmax(a)), x)
    assert np.isneginf(plain[0, 0])
    np.testing.assert_allclose(fast, want, rtol=1e-14)
    plain, fast = both(lambda a, t: -xp.sum(t * xp.log(_softmax(a))), x, y)
    assert np.isnan(plain)  # 0 * log(0)
    np.testing.assert_allclose(fast, -np.sum(y * want), rtol=1e-14)
    # an unshifted softmax also ends up max-shifted (softmax_shift, then log_softmax)
    unshifted = lambda a: xp.log(xp.exp(a) / xp.sum(xp.exp(a), axis=1, keepdims=True))  # noqa
    names = fired(unshifted, x)
    assert "log_softmax" in names and "softmax_shift" in names
    _, fast = both(unshifted, x)
    np.testing.assert_allclose(fast, want, rtol=1e-14)
    # the denominator must sum the numerator's exp; over any axis, with keepdims
    assert "log_softmax" not in fired(
        lambda a: xp.log(xp.exp(a) / xp.sum(xp.exp(a * 2), axis=1, keepdims=True)), x)
    assert "log_softmax" not in fired(
        lambda a: xp.log(xp.exp(a) / xp.sum(xp.exp(a), axis=1)[:, None]), x)
    axis0 = lambda a: xp.log(xp.exp(a) / xp.sum(xp.exp(a), axis=0, keepdims=True))  # noqa
    assert "log_softmax" in fired(axis0, x)
    _, fast = both(axis0, x)
    np.testing.assert_allclose(fast, x - _logsumexp_np(x, 0)[None, :], rtol=1e-14)


def test_sqrt_square():
    x = np.array([1e200, -1e200, -3.0, -0.0, np.nan, 1e-200])
    plain, fast = both(lambda a: xp.sqrt(a * a), x)
    assert np.isinf(plain[0]) and plain[5] == 0.0
    np.testing.assert_array_equal(fast, np.abs(x))
    _, fast = both(lambda a: xp.sqrt(xp.square(a)), x)
    np.testing.assert_array_equal(fast, np.abs(x))
    z = np.array([1j, -1 + 0j])
    assert "sqrt_square" not in fired(lambda a: xp.sqrt(a * a), z)
    assert "sqrt_square" not in fired(lambda a: xp.sqrt(a * xp.abs(a)), x)


def test_log_exp():
    x = np.array([1000.0, -1000.0, 0.5, np.nan])
    plain, fast = both(lambda a: xp.log(xp.exp(a)), x)
    assert np.isinf(plain[0])
    np.testing.assert_array_equal(fast, x)
    assert "log_exp" not in fired(lambda a: xp.log(xp.exp(a) + 1e-300), x)


def test_logsumexp_over_a_length_one_axis_is_x():
    """log(sum(exp(x), axis=1)) of one column: the sum of one element became exp(x) + 0.0 (a
    sum starts from +0.0) reshaped, which neither log_exp nor logsumexp matched, so x = 1000
    gave inf. exp is never -0.0, so the + 0.0 goes, and log_exp looks through the reshape."""
    x = np.array([[1000.0], [-5.0], [-1000.0], [np.nan]])
    for keep in (False, True):
        plain, fast = both(lambda a, k=keep: xp.log(xp.sum(xp.exp(a), axis=1, keepdims=k)), x)
        assert np.isinf(plain[0]).all()
        np.testing.assert_array_equal(fast, x if keep else x[:, 0])
    _, fast = both(lambda a: xp.log(xp.broadcast_to(xp.exp(a), (2, 4))), x[:, 0])
    np.testing.assert_array_equal(fast, np.broadcast_to(x[:, 0], (2, 4)))


def test_stabilized_graph_stays_small():
    x = xp.asarray(np.ones((4, 5)))
    fg = check_rewrite(xp.log(1 + x), fires="log1p")
    assert ops(fg) == ["log1p"]


def test_log1mexp():
    x = np.array([-1e-20, -1e-5, -0.5, -1.0, -50.0, -np.inf, 0.0])
    plain, fast = both(lambda a: xp.log(1 - xp.exp(a)), x)
    assert np.isneginf(plain[0])
    with np.errstate(divide="ignore"):
        want = np.where(x > -np.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
    np.testing.assert_allclose(fast, want, rtol=1e-14)
    assert np.isclose(fast[0], np.log(1e-20), rtol=1e-14)
    assert "log1mexp" not in fired(lambda a: xp.log1p(xp.exp(a)), x)
    assert "log1mexp" not in fired(lambda a: xp.log(2 - xp.exp(a)), x)
