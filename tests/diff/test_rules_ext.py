"""Derivative rules of the extension ops (linalg, fft, sorting/searching, sets), checked one
node at a time: the jvp against central finite differences of the op's NumPy reference
(``op.perform``), and the vjp against the jvp through ``Re<u, J v> == Re<J^H u, v>``.

Inputs are hypothesis-drawn shapes (batches, 0-d where the op allows it) with well-conditioned
data built from a drawn seed (SPD matrices, separated eigenvalues and singular values).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as xp
import lazyarr.diff  # noqa: F401  (registers the rules)
from lazyarr.array.coerce import wrap
from lazyarr.diff.registry import jvp_rule, vjp_rule

FEW = settings(max_examples=4)
H = 1e-6


# -- the checker -------------------------------------------------------------------------------

def _rand(rng, shape, dtype):
    r = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        r = r + 1j * rng.standard_normal(shape)
    return np.asarray(r, dtype=dtype)


def _dot(a, b) -> float:
    return float(np.real(np.vdot(np.asarray(a).ravel(), np.asarray(b).ravel())))


def _tuple(r):
    return tuple(r) if isinstance(r, (tuple, list)) else (r,)


def _herm(t):
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
    ts = [_rand(rng, a.shape, a.dtype) if d else None for a, d in zip(x_np, diff_in)]
    if hermitian:
        ts[0] = _herm(ts[0])
    us = [_rand(rng, y.shape, y.dtype) if d else None for y, d in zip(y_np, diff_out)]

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
    lhs = sum(_dot(u, j) for u, j in zip(us, jv) if u is not None)
    rhs = sum(_dot(g, t) for g, t in zip(vj, ts) if g is not None and t is not None)
    single = any(a.dtype in (np.float32, np.complex64) for a in x_np + y_np)
    tol = 1e-5 if single else 1e-8
    assert abs(lhs - rhs) <= tol * (1 + abs(lhs) + abs(rhs)), (op, lhs, rhs)
    return vj


# -- data ----------------------------------------------------------------------------------------

def _general(rng, shape, dtype):
    n = shape[-1]
    return _rand(rng, shape, dtype) + n * np.eye(n)


def _spd(rng, shape, dtype):
    b = _rand(rng, shape, dtype)
    return b @ np.conj(np.swapaxes(b, -1, -2)) + shape[-1] * np.eye(shape[-1])


def _separated_hermitian(rng, shape, dtype):
    """Hermitian with eigenvalues 1, 2, ... n (well separated)."""
    n = shape[-1]
    q, _ = np.linalg.qr(_rand(rng, shape, dtype))
    return (q * np.arange(1.0, n + 1)[..., None, :]) @ np.conj(np.swapaxes(q, -1, -2))


def _separated_svd(rng, shape, dtype):
    """A matrix of ``shape`` with singular values 1, 2, ... k."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(_rand(rng, shape[:-2] + (m, k), dtype))
    v, _ = np.linalg.qr(_rand(rng, shape[:-2] + (n, k), dtype))
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


batches = st.sampled_from([(), (2,)])
seeds = st.integers(0, 2**16)
CPLX = [np.float64, np.complex128]


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


@FEW
@given(batch=batches, n=st.integers(1, 4), k=st.integers(1, 3), seed=seeds)
def test_solve_matrix_and_vector(batch, n, k, seed):
    rng = np.random.default_rng(seed)
    a = _general(rng, batch + (n, n), np.float64)
    check_rule(xp.linalg.solve, a, _rand(rng, (n, k), np.float64), seed=seed)
    check_rule(xp.linalg.solve, a, _rand(rng, (n,), np.float64), seed=seed)
    # b's batch broadcast against a's: a's cotangent is summed back
    check_rule(xp.linalg.solve, a, _rand(rng, (3,) + batch + (n, k), np.float64), seed=seed)


def test_solve_complex_broadcast_batch():
    rng = np.random.default_rng(1)
    a = _general(rng, (3, 3), np.complex128)
    check_rule(xp.linalg.solve, a, _rand(rng, (2, 3, 2), np.complex128))


@pytest.mark.parametrize("dtype", CPLX)
@pytest.mark.parametrize("upper", [False, True])
@FEW
@given(batch=batches, n=st.integers(1, 4), seed=seeds)
def test_cholesky(dtype, upper, batch, n, seed):
    a = _spd(np.random.default_rng(seed), batch + (n, n), dtype)
    g = check_rule(lambda x: xp.linalg.cholesky(x, upper=upper), a, seed=seed, hermitian=True)
    np.testing.assert_allclose(g[0], _herm(g[0]), atol=1e-12)  # a Hermitian cotangent


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


def test_matrix_rank_has_no_derivative():
    g = check_rule(xp.linalg.matrix_rank, np.eye(3), fd=False)
    assert g == [None]


@pytest.mark.parametrize("power", [0, 1, 2, 3, -1, -2])
def test_matrix_power(power):
    rng = np.random.default_rng(power + 10)
    a = _general(rng, (2, 3, 3), np.float64) / 3
    check_rule(lambda x: xp.linalg.matrix_power(x, power), a)


@pytest.mark.parametrize("dtype", CPLX)
@FEW
@given(batch=batches, m=st.integers(1, 4), n=st.integers(1, 4), off=st.integers(-2, 2),
       seed=seeds)
def test_diagonal_trace(dtype, batch, m, n, off, seed):
    a = _rand(np.random.default_rng(seed), batch + (m, n), dtype)
    check_rule(lambda x: xp.linalg.diagonal(x, offset=off), a, seed=seed)
    check_rule(lambda x: xp.linalg.trace(x, offset=off), a, seed=seed)


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
    a = _rand(np.random.default_rng(seed), shape, dtype)
    axis = None if all_axes or not shape else -1
    g = check_rule(lambda x: xp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord_),
                   a, seed=seed)
    if ord_ == 0 and shape:
        assert g == [None]


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
    a, b = (_rand(rng, s, dtype) for s in shapes)
    check_rule(xp.linalg.cross, a, b, seed=seed)
    check_rule(xp.linalg.outer, a.reshape(-1)[:3], _rand(rng, (4,), dtype), seed=seed)


def test_integer_inputs_get_no_cotangent():
    g = check_rule(xp.linalg.trace, np.arange(9).reshape(3, 3), fd=False)
    assert g == [None]


# -- fft -----------------------------------------------------------------------------------------

NORMS = ["backward", "ortho", "forward"]


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("norm", NORMS)
@FEW
@given(length=st.integers(1, 6), n=st.sampled_from([None, 1, 3, 8]), batch=batches,
       seed=seeds)
def test_fft_one_axis(name, norm, length, n, batch, seed):
    complex_in = name in ("fft", "ifft", "irfft", "hfft")
    if name in ("irfft", "hfft") and n is None and length < 2:
        length = 2
    x = _rand(np.random.default_rng(seed), (length,) + batch,
              np.complex128 if complex_in else np.float64)
    fn = getattr(xp.fft, name)
    check_rule(lambda v: fn(v, n=n, axis=0, norm=norm), x, seed=seed)


@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn"])
@pytest.mark.parametrize("norm", NORMS)
@FEW
@given(shape=st.sampled_from([(3, 4), (2, 3, 5), (4, 2)]),
       s=st.sampled_from([None, (3, 4), (2, 6)]), seed=seeds)
def test_fft_many_axes(name, norm, shape, s, seed):
    complex_in = name in ("fftn", "ifftn", "irfftn")
    x = _rand(np.random.default_rng(seed), shape, np.complex128 if complex_in else np.float64)
    axes = None if s is None else (-2, -1)
    fn = getattr(xp.fft, name)
    check_rule(lambda v: fn(v, s=s, axes=axes, norm=norm), x, seed=seed)


def test_fft_first_axes_and_single_precision():
    x = _rand(np.random.default_rng(0), (4, 3, 2), np.float32)
    g = check_rule(lambda v: xp.fft.rfftn(v, axes=(1, 0)), x, fd=False)
    assert g[0].dtype == np.float32
    check_rule(lambda v: xp.fft.rfftn(v, axes=(1, 0)), x.astype(np.float64))


@pytest.mark.parametrize("inverse", [False, True])
def test_fftshift(inverse):
    x = _rand(np.random.default_rng(0), (5, 4), np.complex128)
    fn = xp.fft.ifftshift if inverse else xp.fft.fftshift
    check_rule(fn, x)
    check_rule(lambda v: fn(v, axes=0), x)


# -- sorting, searching, sets ------------------------------------------------------------------

@pytest.mark.parametrize("descending", [False, True])
@FEW
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), axis=st.integers(-1, 0),
       seed=seeds)
def test_sort(descending, shape, axis, seed):
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 1.0
    check_rule(lambda v: xp.sort(v, axis=axis, descending=descending), x, seed=seed)


@FEW
@given(n=st.integers(1, 5), idx=st.lists(st.integers(-5, 4), min_size=1, max_size=6),
       seed=seeds)
def test_take_scatters_repeats(n, idx, seed):
    idx = np.array([i % n for i in idx])
    idx = np.where(np.arange(idx.size) % 2 == 1, idx - n, idx)  # some negative indices
    x = _rand(np.random.default_rng(seed), (2, n), np.float64)
    check_rule(lambda v, i: xp.take(v, i, axis=1), x, idx, seed=seed)
    check_rule(lambda v, i: xp.take(v, i), x[0], idx, seed=seed)


@pytest.mark.parametrize("dtype", CPLX)
def test_take_along_axis_broadcast(dtype):
    rng = np.random.default_rng(0)
    x = _rand(rng, (1, 4), dtype)
    idx = rng.integers(-4, 4, size=(3, 5))
    check_rule(lambda v, i: xp.take_along_axis(v, i, axis=1), x, idx)
    check_rule(lambda v, i: xp.take_along_axis(v, i, axis=1), _rand(rng, (3, 4), dtype),
               rng.integers(0, 4, size=(1, 2)))


@pytest.mark.parametrize("fn", [xp.argsort, xp.argmax, xp.argmin, lambda v: xp.nonzero(v),
                                xp.count_nonzero, lambda v: xp.searchsorted(v, v),
                                lambda v: xp.isin(v, v)])
def test_integer_results_have_no_derivative(fn):
    g = check_rule(fn, np.array([3.0, 1.0, 2.0]), fd=False)
    assert all(c is None for c in g)


@pytest.mark.parametrize("kind", ["values", "counts", "inverse", "all"])
def test_unique_values_are_the_mean_of_their_elements(kind):
    x = np.array([[2.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    fn = getattr(xp, f"unique_{kind}")
    g = check_rule(fn, x, fd=False)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(0)
    rng.standard_normal(x.shape)  # the tangent comes first
    u = rng.standard_normal(3)
    np.testing.assert_allclose(g[0], (u / counts)[inv.reshape(x.shape)])
    check_rule(fn, np.array([0.5, -1.0, 2.0]))  # distinct values: a sort, checked by FD
