"""``softmax_shift``: softmax and the gradient of ``log(sum(exp(x)))`` written naively are
shifted by the max, so they stay finite where ``exp`` overflows, and share one max and one
``exp(x - m)`` with the stabilized forward pass. Oracle: NumPy's max-shifted softmax."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.rewrites import options

from .rw_helpers import ops, optimized

X = np.array([[1000.0, 999.0, -5.0], [-1000.0, -1001.0, -1002.0], [0.0, 1.0, 2.0]])


def _softmax_np(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_naive_softmax_is_finite_and_exact():
    def sm(a):
        e = xp.exp(a)
        return e / xp.sum(e, axis=1, keepdims=True)

    with options(exclude=["all"]):
        plain = np.asarray(sm(xp.asarray(X)))
    assert np.isnan(plain[0, :2]).all()  # inf / inf
    np.testing.assert_allclose(np.asarray(sm(xp.asarray(X))), _softmax_np(X, 1), rtol=1e-14)
    assert "softmax_shift" in optimized(sm(xp.asarray(X)))[1].names()


def test_gradient_of_naive_cross_entropy_is_softmax_minus_onehot():
    y = np.array([0, 2, 1])

    def ce(a):
        lse = xp.log(xp.sum(xp.exp(a), axis=1))
        return xp.sum(lse) - xp.sum(xp.take_along_axis(a, xp.asarray(y)[:, None], axis=1))

    for dt, tol in ((np.float64, 1e-14), (np.float32, 2e-6)):
        x = X.astype(dt)
        v, g = xp.value_and_grad(ce)(xp.asarray(x))
        ref = _softmax_np(x.astype(np.float64), 1) - np.eye(3)[y]
        assert np.asarray(g).dtype == dt
        np.testing.assert_allclose(np.asarray(g), ref, rtol=tol, atol=tol)
        m = x.astype(np.float64).max(1)
        ref_v = (np.log(np.exp(x - m[:, None]).sum(1)) + m).sum() - x[np.arange(3), y].sum()
        np.testing.assert_allclose(float(v), ref_v, atol=1000 * np.finfo(dt).eps)


def test_forward_and_backward_share_the_max_and_the_exp():
    def loss(a):
        return xp.sum(xp.log(xp.sum(xp.exp(a), axis=1)))

    v, g = xp.value_and_grad(loss)(xp.asarray(X))
    names = ops(optimized(v, g)[0])
    assert sum(n.startswith("Max") for n in names) == 1 and names.count("exp") == 1


def test_not_fired_on_other_forms():
    x = xp.asarray(X)
    shifted = xp.exp(x - xp.max(x, axis=1, keepdims=True))
    for out in (shifted / xp.sum(shifted, axis=1, keepdims=True),   # already shifted
                xp.exp(x) / xp.sum(xp.exp(2 * x), axis=1, keepdims=True),  # another sum
                xp.exp(x) * xp.sum(xp.exp(x), axis=1, keepdims=True)):  # not a quotient
        assert "softmax_shift" not in optimized(out)[1].names()


def test_gradient_through_a_weighted_mean_of_keepdims_logsumexp():
    # the fig1 loss: the quotient sits under a product with the cotangent
    t = np.eye(3)[[1, 0, 2]] * np.array([[1.0], [0.5], [2.0]])

    def ce(a):
        lse = xp.log(xp.sum(xp.exp(a), axis=1, keepdims=True))
        return xp.mean(xp.sum(xp.asarray(t) * (lse - a), axis=1))

    g = np.asarray(xp.grad(ce)(xp.asarray(X)))
    ref = (_softmax_np(X, 1) * t.sum(1, keepdims=True) - t) / 3
    np.testing.assert_allclose(g, ref, rtol=1e-14, atol=1e-16)


def test_not_fired_where_the_sum_broadcasts_along_another_axis():
    """exp(x) / sum(exp(x), axis=1) without keepdims, for a square x, divides row i by the sum
    of row j (NumPy broadcasting): not a softmax, and shifting by row maxima changes it."""
    x = np.arange(25.0).reshape(5, 5)
    a = xp.asarray(x)
    for out in (xp.exp(a) / xp.sum(xp.exp(a), axis=1),
                xp.exp(a) * (1.0 / xp.sum(xp.exp(a), axis=1))):
        np.testing.assert_allclose(np.asarray(out), np.exp(x) / np.sum(np.exp(x), axis=1),
                                   rtol=1e-13)
    a3 = xp.asarray(np.arange(27.0).reshape(3, 3, 3) / 9)
    got = np.asarray(xp.exp(a3) / xp.sum(xp.exp(a3), axis=1))
    x3 = np.asarray(a3)
    np.testing.assert_allclose(got, np.exp(x3) / np.sum(np.exp(x3), axis=1), rtol=1e-13)
    # the leading axis reduced: the sum lines up with the trailing ones, still a softmax
    out0 = xp.exp(a) / xp.sum(xp.exp(a), axis=0)
    assert "softmax_shift" in optimized(out0)[1].names()
    np.testing.assert_allclose(np.asarray(out0), _softmax_np(x, 0), rtol=1e-13)


def test_not_fired_where_a_reshape_moves_the_sum_onto_other_rows():
    """A sum lined up with x's rows, then reshaped so that it broadcasts along another axis
    ((2,) from axis 0 to (2, 1); a keepdims (2, 1) to (1, 2)), divides element (i, j) by
    another row's sum: shifting each by its own row's max changed finite values."""
    x = np.array([[0.0, 1.0], [2.0, 3.0]])
    a = xp.asarray(x)
    e = np.exp(x)
    cases = [
        (xp.exp(a) / xp.reshape(xp.sum(xp.exp(a), axis=0), (2, 1)),
         e / e.sum(axis=0).reshape(2, 1)),
        (xp.exp(a) / xp.reshape(xp.sum(xp.exp(a), axis=1, keepdims=True), (1, 2)),
         e / e.sum(axis=1, keepdims=True).reshape(1, 2)),
        (xp.exp(a) * xp.reshape(1.0 / xp.sum(xp.exp(a), axis=0), (2, 1)),
         e * (1.0 / e.sum(axis=0)).reshape(2, 1)),
    ]
    for got, want in cases:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13)
    # reshapes that keep the rows where they are still give a shifted softmax
    big = xp.asarray(X)
    b3 = xp.reshape(big, (1, 3, 3))
    for out, want in (
            (xp.exp(big) / xp.reshape(xp.sum(xp.exp(big), axis=1), (3, 1)), _softmax_np(X, 1)),
            (xp.exp(b3) / xp.reshape(xp.sum(xp.exp(b3), axis=2, keepdims=True), (3, 1)),
             _softmax_np(X, 1)[None])):
        assert "softmax_shift" in optimized(out)[1].names()
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-14)


def test_the_new_axis_idiom_is_a_softmax_too():
    """e / sum(e, axis=1)[:, None] (NumPy code's spelling of keepdims) was not recognized (the
    new axis is a GetItem, not a reshape) and gave inf / inf = NaN at x = 1000: full-slice and
    new-axis indexing is canonicalized to a reshape, so the shift applies."""
    a = xp.asarray(X)
    e = xp.exp(a)
    out = e / xp.sum(e, axis=1)[:, None]
    names = optimized(out)[1].names()
    assert "getitem_new_axes" in names and "softmax_shift" in names
    np.testing.assert_allclose(np.asarray(out), _softmax_np(X, 1), rtol=1e-14)
    b = xp.asarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(np.asarray(b[None, :, :, None] * 2),
                                  np.arange(12.0).reshape(1, 3, 4, 1) * 2)


def test_gradient_of_a_mean_cross_entropy_is_finite():
    """The mean's 1/n multiplies the quotient before the reshape that lines it up
    (broadcast(reshape(c / s * g))): _lines_up refused it, so the gradient of the mean
    cross-entropy (and of mean(logsumexp)) was NaN for far-apart logits, while the sum's
    was right. A product that keeps the value's shape moves no element."""
    x = np.array([[1000.0, 0.0, -1000.0], [3.0, 1.0, 2.0]])
    y = np.array([0, 2])
    sm = _softmax_np(x, 1)

    def ce(a):
        lse = xp.log(xp.sum(xp.exp(a), axis=1))
        return xp.mean(lse - xp.take_along_axis(a, xp.asarray(y)[:, None], axis=1)[:, 0])

    np.testing.assert_allclose(np.asarray(xp.grad(ce)(xp.asarray(x))),
                               (sm - np.eye(3)[y]) / 2, rtol=1e-12, atol=1e-15)
    for f in (lambda a: xp.mean(xp.log(xp.sum(xp.exp(a), axis=1))),
              lambda a: xp.sum(xp.log(xp.sum(xp.exp(a), axis=1)) * 0.5)):
        np.testing.assert_allclose(np.asarray(xp.grad(f)(xp.asarray(x))), sm / 2,
                                   rtol=1e-12, atol=1e-15)


def _naive_softmax(a, axis, keepdims):
    e = xp.exp(a)
    s = xp.sum(e, axis=axis, keepdims=keepdims)
    return e / (s if keepdims or a.ndim == 1 else xp.expand_dims(s, axis=axis))


@pytest.mark.parametrize("dt, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("shape, keepdims", [((3,), False), ((3, 3), True), ((3, 3), False)])
@pytest.mark.parametrize("compiled", [False, True])
def test_gradients_of_naive_softmax_forms_are_finite(dt, tol, shape, keepdims, compiled):
    """The forward value of exp(z) / sum(exp(z)) was shifted, but its gradient was NaN: the
    quotient's vjp w.r.t. the sum divided by the sum of the unshifted exp elementwise and then
    summed (sum(g * -(e/s) / s)), so no rewrite saw exp(z) * (c / sum(exp(z))). The vjp of a
    broadcast denominator now sums before it divides, which softmax_shift shifts. Oracle:
    NumPy's max-shifted softmax; gradients p * (w - sum(p * w)) and softmax - y."""
    z = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0], [0.5, 1.0, -2.0]])
    z = z[0] if len(shape) == 1 else z
    z = z.astype(dt)
    w = np.array([0.3, 1.0, -2.0], dtype=dt)
    y = np.eye(3, dtype=dt)[[1, 0, 2]][: z.shape[0]] if z.ndim == 2 else np.eye(3, dtype=dt)[1]

    def weighted(a):
        return xp.sum(xp.asarray(w) * _naive_softmax(a, -1, keepdims))

    def cross_entropy(a):
        return -xp.sum(xp.asarray(y) * xp.log(_naive_softmax(a, -1, keepdims)))

    z64 = z.astype(np.float64)
    p = _softmax_np(z64, -1)
    m = z64.max(-1, keepdims=True)
    log_p = z64 - m - np.log(np.exp(z64 - m).sum(-1, keepdims=True))
    want = {weighted: (np.sum(w * p), p * (w - np.sum(p * w, axis=-1, keepdims=True))),
            cross_entropy: (-np.sum(y * log_p), p * np.sum(y, axis=-1, keepdims=True) - y)}
    for f, (ref_v, ref_g) in want.items():
        vg = xp.value_and_grad(f)
        v, g = (xp.compile(vg) if compiled else vg)(xp.asarray(z))
        assert np.asarray(g).dtype == dt
        np.testing.assert_allclose(np.asarray(g), ref_g, rtol=tol, atol=tol)
        np.testing.assert_allclose(float(v), ref_v, rtol=tol, atol=tol)


def test_terms_of_a_shifted_softmax_gradient_are_not_distributed():
    """distribute_softmax_terms splits exp(x) * (a + b) only where softmax_shift will shift
    each term: not for a hand-shifted softmax, nor for the fig1 loss (whose gradient adds
    after the product)."""
    def shifted(a):
        e = xp.exp(a - xp.max(a, axis=1, keepdims=True))
        return xp.sum(xp.asarray(X) * (e / xp.sum(e, axis=1, keepdims=True)))

    def fig1(a):
        lse = xp.log(xp.sum(xp.exp(a), axis=1, keepdims=True))
        return xp.mean(xp.sum(xp.asarray(np.eye(3)) * (lse - a), axis=1))

    for f in (shifted, fig1):
        v, g = xp.value_and_grad(f)(xp.asarray(X))
        assert "distribute_softmax_terms" not in optimized(v, g)[1].names()
        assert np.isfinite(np.asarray(g)).all()
