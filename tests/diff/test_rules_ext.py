"""Derivative rules of the extension ops (linalg, fft, sorting/searching, sets), checked one
node at a time: the jvp against central finite differences of the op's NumPy reference
(``op.perform``), and the vjp against the jvp through ``Re<u, J v> == Re<J^H u, v>``.

Inputs are hypothesis-drawn shapes (batches, 0-d where the op allows it) with well-conditioned
data built from a drawn seed (SPD matrices, separated eigenvalues and singular values).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

import lazyarr as xp
from lazyarr.array.coerce import wrap
from lazyarr.diff import check_vjp_jvp, grad, hessian, hvp, verify_grad
from lazyarr.diff.registry import jvp_rule, vjp_rule

#: a few examples per test in CI (the suite's budget); the "thorough" profile's count otherwise
FEW = (settings(max_examples=4) if os.environ.get("LAZYARR_HYPOTHESIS_PROFILE", "ci") == "ci"
       else settings())
H = 1e-6


# -- the checker -------------------------------------------------------------------------------

def rand(rng, shape, dtype):
    r = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        r = r + 1j * rng.standard_normal(shape)
    return np.asarray(r, dtype=dtype)


def dot(a, b) -> float:
    return float(np.real(np.vdot(np.asarray(a).ravel(), np.asarray(b).ravel())))


def _tuple(r):
    return tuple(r) if isinstance(r, (tuple, list)) else (r,)


def herm(t):
    return 0.5 * (t + np.conj(np.swapaxes(t, -1, -2)))


def check_rule(build, *args, seed=0, hermitian=False, align=None, fd=True):
    """Build one node with ``build`` (lazyarr Arrays in), then check its registered jvp against
    finite differences of ``op.perform`` and its vjp against the jvp. ``hermitian``: the first
    input's tangent is Hermitian (ops that read one triangle). ``align(base, outs)`` fixes the
    gauge of decomposition outputs before differencing. Returns the materialized vjp."""
    rng = np.random.default_rng(seed)
    outs = _tuple(build(*[xp.asarray(a) for a in args]))
    node = outs[0]._v.owner
    op = node.op
    ins = [wrap(v) for v in node.inputs]
    outputs = [wrap(v) for v in node.outputs]
    x_np = [np.asarray(a) for a in ins]
    y_np = [np.asarray(o) for o in outputs]
    diff_in = [a.dtype.kind in "fc" for a in x_np]
    diff_out = [y.dtype.kind in "fc" for y in y_np]
    ts = [rand(rng, a.shape, a.dtype) if d else None for a, d in zip(x_np, diff_in)]
    if hermitian:
        ts[0] = herm(ts[0])
    us = [rand(rng, y.shape, y.dtype) if d else None for y, d in zip(y_np, diff_out)]

    jv = jvp_rule(type(op))(op, ins, outputs, [None if t is None else xp.asarray(t) for t in ts])
    vj = vjp_rule(type(op))(op, ins, outputs, [None if u is None else xp.asarray(u) for u in us])
    assert len(jv) == len(outputs) and len(vj) == len(ins)
    jv = [np.zeros_like(y) if j is None else np.asarray(j) for j, y in zip(jv, y_np)]
    vj = [None if g is None else np.asarray(g) for g in vj]
    for g, a, d in zip(vj, x_np, diff_in):
        if g is not None:
            assert d, "a cotangent for a non-differentiable input"
            assert g.shape == a.shape and g.dtype == a.dtype, (g.shape, g.dtype, a.shape)
    for j, y in zip(jv, y_np):
        assert j.shape == y.shape, (j.shape, y.shape)

    if fd:
        def run(vals):
            return [np.asarray(r) for r in _tuple(op.perform(*vals))]
        plus = run([a + H * t if t is not None else a for a, t in zip(x_np, ts)])
        minus = run([a - H * t if t is not None else a for a, t in zip(x_np, ts)])
        if align is not None:
            plus, minus = align(y_np, plus), align(y_np, minus)
        for k, d in enumerate(diff_out):
            if d:
                num = (plus[k] - minus[k]) / (2 * H)
                scale = 1.0 + np.abs(num).max(initial=0.0)
                np.testing.assert_allclose(jv[k], num, rtol=1e-5, atol=2e-6 * scale,
                                           err_msg=f"jvp of output {k} of {op!r}")
    lhs = sum(dot(u, j) for u, j in zip(us, jv) if u is not None)
    rhs = sum(dot(g, t) for g, t in zip(vj, ts) if g is not None and t is not None)
    single = any(a.dtype in (np.float32, np.complex64) for a in x_np + y_np)
    tol = 1e-5 if single else 1e-8
    assert abs(lhs - rhs) <= tol * (1 + abs(lhs) + abs(rhs)), (op, lhs, rhs)
    return vj


batches = st.sampled_from([(), (2,)])
seeds = st.integers(0, 2**16)
CPLX = [np.float64, np.complex128]


# -- through the engine: lazyarr.grad / vjp / jvp, and second order ------------------------------

def _sym(a):
    return (a + xp.linalg.matrix_transpose(a)) / 2


def _loss_linalg(a):
    w, v = xp.linalg.eigh(_sym(a))
    sign, logdet = xp.linalg.slogdet(a)
    return (xp.sum(w ** 2) + xp.sum(v[..., 0] ** 2 * w[..., :1]) + xp.sum(logdet)
            + xp.sum(xp.linalg.solve(a, xp.linalg.cholesky(_sym(a))) ** 2)
            + xp.sum(xp.linalg.pinv(a[..., :, :2])) + xp.linalg.matrix_norm(a, ord="nuc"))


def _loss_complex_svd(c):
    u, s, vh = xp.linalg.svd(c, full_matrices=False)
    q, r = xp.linalg.qr(c)
    return xp.sum(s ** 3) + xp.sum(xp.abs(u @ vh) ** 2) + xp.sum(xp.abs(r))


def _loss_fft(a):
    z = xp.fft.rfft(a, axis=0)
    back = xp.fft.irfft(xp.fft.fft(xp.astype(a, xp.complex128)), n=5)
    return xp.sum(xp.abs(z) ** 2) + xp.sum(back * xp.arange(5.0))


def _loss_sort(a):
    idx = xp.asarray([0, 0, 2])
    return (xp.sum(xp.sort(a, axis=0)[0] * xp.arange(3.0)) + xp.sum(xp.take(a, idx, axis=1) ** 2)
            + xp.linalg.vector_norm(a, ord=3))


@pytest.mark.parametrize("loss, complex_", [(_loss_linalg, False), (_loss_complex_svd, True),
                                            (_loss_fft, False), (_loss_sort, False)])
def test_losses_through_the_engine(loss, complex_):
    rng = np.random.default_rng(0)
    a = rand(rng, (4, 3), np.complex128) if complex_ else rand(rng, (3, 3), np.float64)
    if not complex_:
        a = a + 3 * np.eye(3)
    verify_grad(loss, [a])
    check_vjp_jvp(loss, [a])


def test_hessian_of_logdet_is_analytic():
    rng = np.random.default_rng(1)
    s = rand(rng, (3, 3), np.float64)
    s = s @ s.T + 3 * np.eye(3)
    hess = np.asarray(hessian(lambda a: xp.linalg.slogdet(a)[1])(xp.asarray(s)))
    si = np.linalg.inv(s)
    # d2 log|det A| / dA_ij dA_kl = -inv(A)_jk inv(A)_li
    np.testing.assert_allclose(hess, -np.einsum("jk,li->ijkl", si, si), atol=1e-12)


def test_hvp_of_eigenvalues_matches_differenced_gradient():
    rng = np.random.default_rng(2)
    s = rand(rng, (3, 3), np.float64)
    s = s @ s.T + 3 * np.eye(3)
    v = herm(rand(rng, (3, 3), np.float64))

    def f(a):
        return xp.sum(xp.linalg.eigvalsh(a) ** 3)

    g = grad(f)
    fd = (np.asarray(g(xp.asarray(s + H * v))) - np.asarray(g(xp.asarray(s - H * v)))) / (2 * H)
    hv = np.asarray(hvp(f, (xp.asarray(s),), (xp.asarray(v),)))
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("inner", [
    lambda b: xp.real(xp.sum(xp.fft.rfft(b) ** 2)),
    lambda b: xp.linalg.vector_norm(xp.sort(b, axis=1) * xp.arange(3.0), ord=3),
    lambda b: xp.sum(xp.linalg.inv(b)),
    lambda b: xp.sum(xp.take(b, xp.asarray([2, 0, 2]), axis=1) ** 3),
    lambda b: (xp.sum(xp.linalg.eigh(_sym(b))[1][:, 2] ** 2 * xp.arange(3.0))
               + xp.sum(xp.linalg.cholesky(_sym(b)))),
])
def test_gradients_of_gradients(inner):
    rng = np.random.default_rng(3)
    s = rand(rng, (3, 3), np.float64)
    s = s @ s.T + 3 * np.eye(3)
    verify_grad(lambda a: xp.sum(grad(inner)(a) * a), [s])
