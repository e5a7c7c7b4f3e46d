"""Derivative rules of the linalg extension, one node at a time (see ``test_rules_ext``):
jvp vs finite differences of the NumPy reference, vjp vs jvp adjointness, real and complex,
batched, on well-conditioned drawn matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp
from lazyarr.array.coerce import as_var, build, wrap
from lazyarr.array.functions.linalg_ext import adjugate
from lazyarr.array.ops.linalg_ext import Linalg
from lazyarr.diff.registry import vjp_rule

from .test_rules_ext import CPLX, FEW, batches, check_rule, herm, rand, seeds

# -- data ----------------------------------------------------------------------------------------

def _general(rng, shape, dtype):
    n = shape[-1]
    return rand(rng, shape, dtype) + n * np.eye(n)


def _spd(rng, shape, dtype):
    b = rand(rng, shape, dtype)
    return b @ np.conj(np.swapaxes(b, -1, -2)) + shape[-1] * np.eye(shape[-1])


def _separated_hermitian(rng, shape, dtype):
    """Hermitian with eigenvalues 1, 2, ... n (well separated)."""
    n = shape[-1]
    q, _ = np.linalg.qr(rand(rng, shape, dtype))
    return (q * np.arange(1.0, n + 1)[..., None, :]) @ np.conj(np.swapaxes(q, -1, -2))


def _separated_svd(rng, shape, dtype):
    """A matrix of ``shape`` with singular values 1, 2, ... k."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(rand(rng, shape[:-2] + (m, k), dtype))
    v, _ = np.linalg.qr(rand(rng, shape[:-2] + (n, k), dtype))
    return (u * np.arange(1.0, k + 1)[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def _phase_to(ref, new, axis):
    """Unit factors that turn the vectors of ``new`` (along ``axis``) towards ``ref``'s."""
    d = np.sum(np.conj(ref) * new, axis=axis, keepdims=True)
    return np.conj(d) / np.abs(d)


def _align_eigh(base, outs):
    w, v = outs
    return [w, v * _phase_to(base[1], v, -2)]


def _align_svd(base, outs):
    u, s, vh = outs
    ph = _phase_to(base[2], vh, -1)  # one factor per row of Vh
    return [u * np.conj(np.swapaxes(ph, -1, -2)), s, vh * ph]



# -- linalg ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_inv_det_slogdet(dtype, batch, n, seed):
    rng = np.random.default_rng(seed)
    a = _general(rng, batch + (n, n), dtype)
    check_rule(xp.linalg.inv, a, seed=seed)
    check_rule(xp.linalg.det, a, seed=seed)
    check_rule(xp.linalg.slogdet, a, seed=seed)


def _adjugate_by_cofactors(a):
    """``adj(a)[..., j, i] = (-1)^(i+j) det(a without row i and column j)``, matrix by matrix."""
    a = np.asarray(a)
    n = a.shape[-1]
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape[:-2]):
        for i in range(n):
            for j in range(n):
                minor = np.delete(np.delete(a[idx], i, axis=0), j, axis=1)
                out[idx + (j, i)] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1)
    return out


def _rank(rng, shape, dtype, rank):
    """Matrices of ``shape`` (square) and rank ``rank``: products of (n, r) and (r, n) draws."""
    n = shape[-1]
    return rand(rng, shape[:-1] + (rank,), dtype) @ rand(rng, shape[:-2] + (rank, n), dtype)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("deficiency", [1, 2, 3])
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_det_derivative_at_singular_matrices(dtype, deficiency, batch, n, seed):
    """The derivative of det is the transposed adjugate everywhere, singular matrices included
    (0 for rank n-2 or less); it used to invert the matrix and raise LinAlgError."""
    rng = np.random.default_rng(seed)
    a = _rank(rng, batch + (n, n), dtype, max(n - deficiency, 0))
    t, u = rand(rng, a.shape, dtype), rand(rng, batch, dtype)
    adj_t = np.swapaxes(_adjugate_by_cofactors(a), -1, -2)
    _, jv = xp.jvp(xp.linalg.det, (xp.asarray(a),), (xp.asarray(t),))
    np.testing.assert_allclose(np.asarray(jv), np.sum(adj_t * t, axis=(-2, -1)), atol=1e-12)
    _, back = xp.vjp(xp.linalg.det, xp.asarray(a))
    np.testing.assert_allclose(np.asarray(back(xp.asarray(u))[0]),
                               np.asarray(u)[..., None, None] * np.conj(adj_t), atol=1e-12)
    check_rule(xp.linalg.det, a, seed=seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_det_gradient_of_a_singular_matrix(dtype):
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]], dtype=dtype)
    g = xp.grad(lambda x: xp.sum(xp.real(xp.linalg.det(x))))(xp.asarray(a))
    expect = np.array([[[4.0, -2.0], [-2.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    assert np.asarray(g).dtype == dtype
    np.testing.assert_allclose(np.asarray(g), expect, atol=1e-6)


def test_det_gradient_of_a_batch_with_a_non_finite_matrix():
    """A matrix with a NaN or an inf has a NaN gradient; the others of its batch keep theirs
    (the SVD path would raise on it for the whole batch)."""
    b = np.stack([np.eye(2), np.full((2, 2), np.nan), [[np.inf, 1.0], [1.0, 1.0]],
                  [[1.0, 2.0], [2.0, 4.0]]])
    g = np.asarray(xp.grad(lambda a: xp.sum(xp.linalg.det(a)))(xp.asarray(b)))
    np.testing.assert_allclose(g[0], np.eye(2))
    assert np.isnan(g[1]).all() and np.isnan(g[2]).all()
    np.testing.assert_allclose(g[3], [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("deficiency", [0, 1, 2])
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_adjugate(dtype, deficiency, batch, n, seed):
    """The adjugate (det's derivative, so second derivatives of det go through its rules):
    its value against cofactors, its rules against finite differences and each other."""
    rng = np.random.default_rng(seed)
    a = _rank(rng, batch + (n, n), dtype, max(n - deficiency, 0))
    if deficiency == 0:
        a = a + n * np.eye(n)
    np.testing.assert_allclose(np.asarray(adjugate(xp.asarray(a))),
                               _adjugate_by_cofactors(a), atol=1e-12)
    check_rule(adjugate, a, seed=seed)


@pytest.mark.parametrize("n, rank", [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)])
def test_hessian_of_det(n, rank):
    """Against central differences of the cofactor adjugate (a polynomial of degree n - 1:
    the differences are exact up to rounding), at invertible and singular matrices."""
    rng = np.random.default_rng(10 * n + rank)
    a = _rank(rng, (n, n), np.float64, rank)
    hess = np.asarray(xp.hessian(xp.linalg.det)(xp.asarray(a)))
    expect = np.empty((n, n, n, n))
    for k, l in np.ndindex(n, n):
        e = np.zeros((n, n))
        e[k, l] = 1e-3
        diff = _adjugate_by_cofactors(a + e) - _adjugate_by_cofactors(a - e)
        expect[:, :, k, l] = diff.T / 2e-3
    np.testing.assert_allclose(hess, expect, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_singular_matrices_follow_numpy(dtype):
    """At singular matrices slogdet is (0, -inf) as in NumPy, and inv raises NumPy's
    LinAlgError; so does the derivative of slogdet (log|det| has none there: JAX gives
    inf/NaN)."""
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 1.0]]], dtype=dtype)
    sign, logabs = xp.linalg.slogdet(xp.asarray(a))
    expect = np.linalg.slogdet(a)
    np.testing.assert_array_equal(np.asarray(sign), expect.sign)
    np.testing.assert_array_equal(np.asarray(logabs), expect.logabsdet)
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(xp.linalg.inv(xp.asarray(a)))
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(xp.grad(lambda x: xp.sum(xp.linalg.slogdet(x)[1]))(xp.asarray(a)))
    np.testing.assert_allclose(np.asarray(xp.linalg.inv(xp.asarray(a[1]))), np.linalg.inv(a[1]))


@FEW
@given(batch=batches, n=st.integers(1, 4), k=st.integers(1, 3), seed=seeds)
def test_solve_matrix_and_vector(batch, n, k, seed):
    rng = np.random.default_rng(seed)
    a = _general(rng, batch + (n, n), np.float64)
    check_rule(xp.linalg.solve, a, rand(rng, (n, k), np.float64), seed=seed)
    check_rule(xp.linalg.solve, a, rand(rng, (n,), np.float64), seed=seed)
    # b's batch broadcast against a's: a's cotangent is summed back
    check_rule(xp.linalg.solve, a, rand(rng, (3,) + batch + (n, k), np.float64), seed=seed)


def test_solve_complex_broadcast_batch():
    rng = np.random.default_rng(1)
    a = _general(rng, (3, 3), np.complex128)
    check_rule(xp.linalg.solve, a, rand(rng, (2, 3, 2), np.complex128))


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("upper", [False, True])
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_cholesky(dtype, upper, batch, n, seed):
    a = _spd(np.random.default_rng(seed), batch + (n, n), dtype)
    g = check_rule(lambda x: xp.linalg.cholesky(x, upper=upper), a, seed=seed, hermitian=True)
    np.testing.assert_allclose(g[0], herm(g[0]), atol=1e-12)  # a Hermitian cotangent


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_eigh_eigvalsh(dtype, batch, n, seed):
    a = _separated_hermitian(np.random.default_rng(seed), batch + (n, n), dtype)
    check_rule(xp.linalg.eigh, a, seed=seed, hermitian=True, align=_align_eigh)
    check_rule(xp.linalg.eigvalsh, a, seed=seed, hermitian=True)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("mode", ["reduced", "complete"])
@FEW
@given(batch=batches, m=st.integers(1, 4), n=st.integers(1, 4), seed=seeds)
def test_qr(dtype, mode, batch, m, n, seed):
    if mode == "complete" and m > n:
        m, n = n, m
    a = _separated_svd(np.random.default_rng(seed), batch + (m, n), dtype)
    check_rule(lambda x: xp.linalg.qr(x, mode=mode), a, seed=seed)


def test_qr_complete_tall_has_no_derivative():
    a = xp.asarray(np.eye(3, 2))
    q, r = xp.linalg.qr(a, mode="complete")
    node = q._v.owner
    with pytest.raises(ValueError, match="mode='reduced'"):
        vjp_rule(type(node.op))(node.op, [a], [q, r], [xp.ones_like(q), None])


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, m=st.integers(1, 4), n=st.integers(1, 4), seed=seeds)
def test_svd_svdvals_pinv(dtype, batch, m, n, seed):
    a = _separated_svd(np.random.default_rng(seed), batch + (m, n), dtype)
    check_rule(lambda x: xp.linalg.svd(x, full_matrices=False), a, seed=seed, align=_align_svd)
    check_rule(xp.linalg.svdvals, a, seed=seed)
    check_rule(xp.linalg.pinv, a, seed=seed)
    if m == n:
        check_rule(xp.linalg.svd, a, seed=seed, align=_align_svd)


def _low_rank(rng, shape, dtype, svals):
    """A matrix of ``shape`` with singular values ``svals`` (the rest 0)."""
    m, n = shape[-2:]
    k = len(svals)
    u, _ = np.linalg.qr(rand(rng, shape[:-2] + (m, m), dtype))
    v, _ = np.linalg.qr(rand(rng, shape[:-2] + (n, n), dtype))
    return (u[..., :k] * np.asarray(svals)) @ np.conj(np.swapaxes(v[..., :k], -1, -2))


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, m=st.integers(2, 4), n=st.integers(2, 4), tiny=st.sampled_from([0, 1e-10]),
       seed=seeds)
def test_pinv_of_rank_deficient_matrices(dtype, batch, m, n, tiny, seed):
    """Singular values under the cut-off are dropped from the value, and the derivative is
    that of the truncated pseudo-inverse (JAX's convention, Golub-Pereyra with the truncated
    pinv): finite differences of NumPy's pinv with the same rtol. With the default rtol an
    exactly rank-deficient matrix gets the same tangent (the differences need a rtol that
    keeps the O(h) singular values of the perturbed matrix truncated)."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    a = _low_rank(rng, batch + (m, n), dtype, [3.0, 2.0, 1.0][:k - 1] + [tiny])
    check_rule(lambda x: xp.linalg.pinv(x, rtol=0.1), a, seed=seed)
    if tiny == 0:
        t = rand(rng, a.shape, dtype)
        _, jv = xp.jvp(xp.linalg.pinv, (xp.asarray(a),), (xp.asarray(t),))
        h = 1e-6
        num = (np.linalg.pinv(a + h * t, rtol=0.1) - np.linalg.pinv(a - h * t, rtol=0.1)) / (2 * h)
        np.testing.assert_allclose(np.asarray(jv), num, atol=1e-6)


def test_pinv_rtol_array_gets_no_cotangent():
    a = _separated_svd(np.random.default_rng(0), (2, 3, 2), np.float64)
    g = check_rule(lambda x, r: xp.linalg.pinv(x, rtol=r), a, np.array(1e-9))
    assert g[1] is None


def test_matrix_rank_has_no_derivative():
    g = check_rule(xp.linalg.matrix_rank, np.eye(3), fd=False)
    assert g == [None]


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("power", [0, 1, 2, 3, 5, -1, -2, -3])
def test_matrix_power(dtype, power):
    rng = np.random.default_rng(power + 10)
    a = _general(rng, (2, 3, 3), dtype) / 3
    check_rule(lambda x: xp.linalg.matrix_power(x, power), a)


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, m=st.integers(1, 4), n=st.integers(1, 4), off=st.integers(-3, 3),
       seed=seeds)
def test_diagonal_trace(dtype, batch, m, n, off, seed):
    a = rand(np.random.default_rng(seed), batch + (m, n), dtype)
    check_rule(lambda x: xp.linalg.diagonal(x, offset=off), a, seed=seed)
    check_rule(lambda x: xp.linalg.trace(x, offset=off), a, seed=seed)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("shape,off", [((3, 4), 0), ((2, 3, 4), 1), ((4, 3), -2), ((2, 2), 3)])
def test_diagonal_view_op(dtype, shape, off):
    from lazyarr.array.ops.shape import Diagonal

    a = rand(np.random.default_rng(len(shape) + off), shape, dtype)
    check_rule(lambda x: build(Diagonal(off), as_var(x)), a)


def test_trace_with_wider_dtype():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    g = check_rule(lambda x: xp.linalg.trace(x, dtype=xp.float64), a, fd=False)
    assert g[0].dtype == np.float32


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("ord_", ["fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norm(dtype, ord_, keepdims):
    a = _separated_svd(np.random.default_rng(3), (2, 3, 4), dtype)
    a = a + 0.01 * np.arange(12).reshape(3, 4)  # no ties among row/column sums
    check_rule(lambda x: xp.linalg.matrix_norm(x, ord=ord_, keepdims=keepdims), a)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("ord_", [2, 1, 3, 0.5, -1, np.inf, -np.inf, 0])
@FEW
@given(shape=st.sampled_from([(), (4,), (2, 3)]), keepdims=st.booleans(), all_axes=st.booleans(),
       seed=seeds)
def test_vector_norm(dtype, ord_, shape, keepdims, all_axes, seed):
    a = rand(np.random.default_rng(seed), shape, dtype)
    axis = None if all_axes or not shape else -1
    g = check_rule(lambda x: xp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord_),
                   a, seed=seed)
    if ord_ == 0 and shape:
        assert g == [None]


def test_a_zero_norm_of_negative_or_fractional_order_has_derivative_zero():
    """(sum |x|^-1)^-1 is 0 while an element is 0, whatever the others: its gradient was
    [1, nan, 0.25] and the jvp along e0 nan (0 ** (ord - 1) is inf there); as the docs say
    of a zero norm, the derivative is 0 (JAX: 0 off the zero element)."""
    x = xp.asarray([1.0, 0.0, 2.0])
    for ord_ in (-1, -2.5):
        g = xp.grad(lambda v, o=ord_: xp.linalg.vector_norm(v, ord=o))(x)
        np.testing.assert_array_equal(np.asarray(g), 0.0)
        _, t = xp.jvp(lambda v, o=ord_: xp.linalg.vector_norm(v, ord=o), [x],
                      [xp.asarray([1.0, 0.0, 0.0])])
        assert float(t) == 0.0
    g = xp.grad(lambda v: xp.linalg.vector_norm(v, ord=0.5))(xp.zeros(3))
    np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_vector_norm_inf_shares_ties():
    g = check_rule(lambda x: xp.linalg.vector_norm(x, ord=np.inf), np.array([3.0, -3.0, 1.0]),
                   fd=False)
    u = np.asarray(xp.asarray(g[0]))
    assert u[2] == 0 and u[0] == -u[1]
    np.testing.assert_allclose(abs(u[0]) * 2, abs(u).sum())


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(shapes=st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((4, 1, 3), (2, 3))]),
       seed=seeds)
def test_cross_outer(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rand(rng, s, dtype) for s in shapes)
    check_rule(xp.linalg.cross, a, b, seed=seed)
    check_rule(xp.linalg.outer, a.reshape(-1)[:3], rand(rng, (4,), dtype), seed=seed)


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("shapes, axes", [
    (((2, 3, 4), (4, 3, 5)), ((1, 2), (1, 0))),
    (((3, 2), (2, 3)), ((0, 1), (1, 0))),
    (((2, 3), (4,)), ((), ())),
    (((4, 2, 3), (3, 2)), ((2, 1), (0, 1))),
])
def test_tensordot_op(dtype, shapes, axes):
    """The ``Linalg("tensordot")`` node that ``tensordot`` builds for run-time sizes, built
    here with known ones."""
    rng = np.random.default_rng(len(shapes[0]))
    a, b = (rand(rng, s, dtype) for s in shapes)
    check_rule(lambda x, y: build(Linalg("tensordot", (("axes", axes),)), as_var(x), as_var(y)),
               a, b)


def test_integer_inputs_get_no_cotangent():
    g = check_rule(xp.linalg.trace, np.arange(9).reshape(3, 3), fd=False)
    assert g == [None]


def _svd_reduced(x):
    return xp.linalg.svd(x, full_matrices=False)


@pytest.mark.parametrize("build, shape, dtype, make", [
    (xp.linalg.slogdet, (2, 3, 3), np.complex128, _general),
    (xp.linalg.eigh, (3, 3), np.complex128, _separated_hermitian),
    (xp.linalg.qr, (4, 2), np.float64, _separated_svd),
    (xp.linalg.qr, (2, 4), np.complex128, _separated_svd),
    (_svd_reduced, (4, 3), np.complex128, _separated_svd),
    (_svd_reduced, (2, 3), np.float64, _separated_svd),
])
def test_vjp_of_one_output_alone(build, shape, dtype, make):
    """A missing (None) cotangent counts as zeros: each output's cotangent alone gives the
    same result as with explicit zeros for the others."""
    rng = np.random.default_rng(4)
    outs = build(xp.asarray(make(rng, shape, dtype)))
    node = outs[0]._v.owner
    ins = [wrap(v) for v in node.inputs]
    outputs = [wrap(v) for v in node.outputs]
    rule = vjp_rule(type(node.op))
    for k, o in enumerate(outputs):
        u = xp.asarray(rand(rng, o.shape, o.dtype))
        alone = [u if j == k else None for j in range(len(outputs))]
        zeros = [u if j == k else xp.zeros_like(p) for j, p in enumerate(outputs)]
        got = np.asarray(rule(node.op, ins, outputs, alone)[0])
        np.testing.assert_allclose(got, np.asarray(rule(node.op, ins, outputs, zeros)[0]),
                                   atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("build, make", [
    (xp.linalg.inv, _general), (xp.linalg.det, _general), (xp.linalg.slogdet, _general),
    (xp.linalg.cholesky, _spd), (xp.linalg.eigh, _separated_hermitian),
    (xp.linalg.eigvalsh, _separated_hermitian), (xp.linalg.qr, _separated_svd),
    (_svd_reduced, _separated_svd), (xp.linalg.svdvals, _separated_svd),
    (xp.linalg.pinv, _separated_svd), (lambda x: xp.linalg.matrix_norm(x, ord="nuc"), _general),
    (lambda x: xp.linalg.vector_norm(x, ord=3), _general), (xp.linalg.trace, _general),
])
def test_single_precision_keeps_its_dtype(dtype, build, make):
    """Cotangents come back in the input's single precision (checked by ``check_rule``) and
    stay adjoint to the tangents."""
    a = make(np.random.default_rng(5), (2, 3, 3), np.complex128).astype(dtype)
    check_rule(build, a, fd=False, hermitian=make in (_spd, _separated_hermitian))


@pytest.mark.parametrize("build", [
    lambda x: xp.linalg.vector_norm(x), lambda x: xp.linalg.vector_norm(x, ord=3),
    lambda x: xp.linalg.vector_norm(x, axis=-1, ord=1.5), lambda x: xp.linalg.matrix_norm(x),
])
def test_norm_of_zeros_has_zero_derivative(build):
    g = check_rule(build, np.zeros((2, 3)), fd=False)
    np.testing.assert_array_equal(g[0], np.zeros((2, 3)))


@pytest.mark.parametrize("build", [
    lambda x: xp.linalg.vector_norm(x), lambda x: xp.linalg.vector_norm(x, axis=-1),
    lambda x: xp.linalg.matrix_norm(x),
])
def test_a_norm_that_underflows_to_zero_has_zero_derivative(build):
    """The squares of 1e-200 underflow: the norm is 0.0 (as NumPy's), so its derivative is the
    zero norm's 0, in reverse and forward mode, not ``x`` divided by the stand-in 1."""
    x = np.array([[1e-200, 3e-200, 0.0], [2e-200, 0.0, 0.0]])
    assert not np.any(np.asarray(build(xp.asarray(x))))
    g = xp.grad(lambda a: xp.sum(build(a)))(xp.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), np.zeros_like(x))
    _, t = xp.jvp(build, (xp.asarray(x),), (xp.asarray(np.ones_like(x)),))
    np.testing.assert_array_equal(np.asarray(t), np.zeros(np.asarray(t).shape))


def test_eigh_jvp_on_native_kernels(native_pipeline):
    """On the installed pipeline (generated kernels, in-place buffer reuse): an in-place kernel
    once overwrote the buffer that linalg.diagonal's result still viewed (all -0 eigenvalue
    tangents in float32)."""
    a = _separated_hermitian(np.random.default_rng(5), (2, 3, 3), np.float64).astype(np.float32)
    check_rule(xp.linalg.eigh, a, fd=False, hermitian=True)
