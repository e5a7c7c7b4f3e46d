"""The linalg extension against array_api_strict on hypothesis inputs: decompositions are
compared through the identities that define them where they are unique only up to signs
(eigh, qr, svd), and by value elsewhere; dtypes and shapes always."""

from __future__ import annotations

import array_api_strict as S
import numpy as np
import pytest
from _support import assert_equal, hh, run_both, to_lazy, to_np
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as L

FLOATS = st.sampled_from([S.float32, S.float64])
ELEMS = {"min_value": -4, "max_value": 4, "allow_nan": False, "allow_infinity": False}


def _mats(data, square=False, min_side=1, label="x"):
    dt = data.draw(FLOATS, label="dtype")
    batch = data.draw(hh.array_shapes(min_dims=0, max_dims=2, max_side=3), label="batch")
    m = data.draw(st.integers(min_side, 4), label="m")
    n = m if square else data.draw(st.integers(min_side, 4), label="n")
    return data.draw(hh.arrays(dt, batch + (m, n), elements=ELEMS), label=label)


def _spd(x):
    """Well-conditioned symmetric positive definite matrices from ``x``."""
    n = x.shape[-1]
    return x @ S.linalg.matrix_transpose(x) + n * S.eye(n, dtype=x.dtype)


def _close(got, want, dt):
    tol = 2e-3 if dt == np.float32 else 1e-9
    np.testing.assert_allclose(to_np(got), to_np(want), rtol=tol, atol=tol)


@given(data=st.data())
def test_cholesky_inv_det_slogdet_solve(data):
    a = _spd(_mats(data, square=True))
    dt = to_np(a).dtype
    la = to_lazy(a)
    upper = data.draw(st.booleans(), label="upper")
    for name, fs, fl in [
        ("cholesky", lambda: S.linalg.cholesky(a, upper=upper),
         lambda: L.linalg.cholesky(la, upper=upper)),
        ("inv", lambda: S.linalg.inv(a), lambda: L.linalg.inv(la)),
        ("det", lambda: S.linalg.det(a), lambda: L.linalg.det(la)),
        ("eigvalsh", lambda: S.linalg.eigvalsh(a), lambda: L.linalg.eigvalsh(la)),
        ("matrix_power", lambda: S.linalg.matrix_power(a, 3), lambda: L.linalg.matrix_power(la,
                                                                                           3)),
        ("matrix_power-1", lambda: S.linalg.matrix_power(a, -1),
         lambda: L.linalg.matrix_power(la, -1)),
    ]:
        want, got = fs(), fl()
        assert got.dtype == to_np(want).dtype and got.shape == want.shape, name
        _close(got, want, dt)
    sw, sg = S.linalg.slogdet(a), L.linalg.slogdet(la)
    for g, w in zip(sg, sw):
        assert g.dtype == to_np(w).dtype and g.shape == w.shape
        _close(g, w, dt)
    b = data.draw(hh.arrays(a.dtype, a.shape[-1:], elements=ELEMS), label="b")
    want, got = S.linalg.solve(a, b), L.linalg.solve(la, to_lazy(b))
    assert got.shape == want.shape
    _close(got, want, dt)
    bm = data.draw(hh.arrays(a.dtype, a.shape[:-1] + (2,), elements=ELEMS), label="B")
    want, got = S.linalg.solve(a, bm), L.linalg.solve(la, to_lazy(bm))
    assert got.shape == want.shape
    _close(got, want, dt)


@given(data=st.data())
def test_eigh(data):
    a = _spd(_mats(data, square=True))
    w, v = L.linalg.eigh(to_lazy(a))
    ref = S.linalg.eigh(a)
    assert w.shape == ref.eigenvalues.shape and v.shape == ref.eigenvectors.shape
    assert w.dtype == to_np(ref.eigenvalues).dtype
    _close(w, ref.eigenvalues, to_np(a).dtype)
    recon = (v * w[..., None, :]) @ L.linalg.matrix_transpose(v)
    _close(recon, a, to_np(a).dtype)


@pytest.mark.parametrize("mode", ["reduced", "complete"])
@given(data=st.data())
def test_qr(mode, data):
    a = _mats(data)
    q, r = L.linalg.qr(to_lazy(a), mode=mode)
    ref = S.linalg.qr(a, mode=mode)
    assert q.shape == ref.Q.shape and r.shape == ref.R.shape
    assert q.dtype == to_np(ref.Q).dtype
    _close(q @ r, a, to_np(a).dtype)
    np.testing.assert_allclose(np.tril(to_np(r), -1), 0, atol=1e-5)


@pytest.mark.parametrize("full", [True, False])
@given(data=st.data())
def test_svd_svdvals(full, data):
    a = _mats(data)
    u, s, vh = L.linalg.svd(to_lazy(a), full_matrices=full)
    ref = S.linalg.svd(a, full_matrices=full)
    assert (u.shape, s.shape, vh.shape) == (ref.U.shape, ref.S.shape, ref.Vh.shape)
    dt = to_np(a).dtype
    _close(s, ref.S, dt)
    _close(L.linalg.svdvals(to_lazy(a)), S.linalg.svdvals(a), dt)
    k = s.shape[-1]
    _close((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, dt)


@given(data=st.data())
def test_pinv_matrix_rank_norms(data):
    a = _mats(data)
    la = to_lazy(a)
    dt = to_np(a).dtype
    _close(L.linalg.pinv(la), S.linalg.pinv(a), dt)
    want, got = S.linalg.matrix_rank(a), L.linalg.matrix_rank(la)
    assert got.dtype == to_np(want).dtype and got.shape == want.shape
    keepdims = data.draw(st.booleans(), label="keepdims")
    for ord_ in ("fro", "nuc", 1, 2, np.inf, -1, -2, -np.inf):
        want = S.linalg.matrix_norm(a, keepdims=keepdims, ord=ord_)
        got = L.linalg.matrix_norm(la, keepdims=keepdims, ord=ord_)
        assert got.shape == want.shape and got.dtype == to_np(want).dtype
        _close(got, want, dt)
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1) |
                     st.just((-1, -2)), label="axis")
    for ord_ in (1, 2, 3, 0, np.inf, -np.inf, -1):
        want = S.linalg.vector_norm(a, axis=axis, keepdims=keepdims, ord=ord_)
        got = L.linalg.vector_norm(la, axis=axis, keepdims=keepdims, ord=ord_)
        assert got.shape == want.shape and got.dtype == to_np(want).dtype, ord_
        _close(got, want, dt)


@given(data=st.data())
def test_products_diagonal_trace(data):
    a = _mats(data)
    la = to_lazy(a)
    offset = data.draw(st.integers(-3, 3), label="offset")
    for fs, fl in [
        (lambda: S.linalg.diagonal(a, offset=offset), lambda: L.linalg.diagonal(la,
                                                                                offset=offset)),
        (lambda: S.linalg.trace(a, offset=offset), lambda: L.linalg.trace(la, offset=offset)),
        (lambda: S.linalg.matrix_transpose(a), lambda: L.linalg.matrix_transpose(la)),
        (lambda: S.linalg.matmul(a, S.linalg.matrix_transpose(a)),
         lambda: L.linalg.matmul(la, L.linalg.matrix_transpose(la))),
        (lambda: S.linalg.vecdot(a, a), lambda: L.linalg.vecdot(la, la)),
        (lambda: S.linalg.tensordot(a, a, axes=0), lambda: L.linalg.tensordot(la, la, axes=0)),
    ]:
        want, got = run_both(fs, fl)
        if want is not None:  # the sign of a zero sum of products is left open
            assert_equal(got, want, signed_zeros=False)
    v1 = data.draw(hh.arrays(a.dtype, (data.draw(st.integers(1, 4)),), elements=ELEMS))
    v2 = data.draw(hh.arrays(a.dtype, (data.draw(st.integers(1, 4)),), elements=ELEMS))
    assert_equal(L.linalg.outer(to_lazy(v1), to_lazy(v2)), S.linalg.outer(v1, v2),
                 signed_zeros=False)
    c1 = data.draw(hh.arrays(a.dtype, (2, 3), elements=ELEMS))
    c2 = data.draw(hh.arrays(a.dtype, (3,), elements=ELEMS))
    assert_equal(L.linalg.cross(to_lazy(c1), to_lazy(c2)), S.linalg.cross(c1, c2),
                 signed_zeros=False)


@given(x=hh.arrays(hh.real_dtypes(), hh.array_shapes(min_dims=2, max_dims=3, max_side=4)))
def test_trace_integer_dtypes(x):
    want, got = run_both(lambda: S.linalg.trace(x), lambda: L.linalg.trace(to_lazy(x)))
    if want is not None:
        assert_equal(got, want)


def test_exceptions():
    with pytest.raises(ValueError):
        L.linalg.inv(L.ones((2, 3)))
    with pytest.raises(ValueError):
        L.linalg.det(L.ones(3))
    with pytest.raises(ValueError):
        L.linalg.cross(L.ones(4), L.ones(4))
    with pytest.raises(ValueError):
        L.linalg.solve(L.eye(3), L.ones(4))
    with pytest.raises(ValueError):
        L.linalg.outer(L.ones((2, 2)), L.ones(2))


def test_pinv_and_matrix_rank_with_an_rtol_per_matrix():
    """An array ``rtol`` broadcasts against the stack of matrices (one value per matrix)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 4))
    x[1, :, 3] = x[1, :, 0] * 1e-3  # a small singular value that rtol 0.2 cuts
    rtol = np.array([0.1, 0.2, 0.3])
    got = L.linalg.matrix_rank(L.asarray(x), rtol=L.asarray(rtol))
    want = np.linalg.matrix_rank(x, rtol=rtol)
    assert got.shape == want.shape == (3,)
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_allclose(np.asarray(L.linalg.pinv(L.asarray(x), rtol=L.asarray(rtol))),
                               np.linalg.pinv(x, rtol=rtol), atol=1e-12)


def test_vector_norm_ord_zero_without_axes_counts_nonzeros():
    for x, axis in [(np.asarray(-3.0), None), (np.array([0.0, -3.0]), ())]:
        np.testing.assert_array_equal(
            np.asarray(L.linalg.vector_norm(L.asarray(x), axis=axis, ord=0)),
            np.asarray(S.linalg.vector_norm(S.asarray(x), axis=axis, ord=0)))


def test_finfo_limits_are_python_floats():
    """The standard's finfo: eps, max, min and smallest_normal are Python floats (NumPy's are
    np.float32 for float32 and complex64)."""
    for dt in (L.float32, L.float64, L.complex64, L.complex128):
        fi = L.finfo(dt)
        for name in ("eps", "max", "min", "smallest_normal"):
            assert type(getattr(fi, name)) is float
            assert getattr(fi, name) == float(getattr(np.finfo(dt), name))
        assert fi.bits == np.finfo(dt).bits and fi.dtype == np.finfo(dt).dtype
