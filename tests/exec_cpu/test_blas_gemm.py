"""BLAS gemm/gemv in the native VM: `Gemm`/`Gemv` nodes (beta*c + alpha*a@b) and matrix-vector
`MatMul` agree with NumPy for float32/64 and complex64/128 over transposed, strided and reversed
operands and broadcast accumulators; beta accumulates into a dead intermediate's own buffer."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lazyarr.exec_cpu._vm import ElemThunk, GemmThunk, MatMulThunk

import lazyarr as xp
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.linalg import Gemm, Gemv, MatMul
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

BLAS = [np.float32, np.float64, np.complex64, np.complex128]
LAYOUTS = ["c", "T", "step", "rev"]


def _operand(rng, shape, dt, how):
    """Random values of ``dt`` laid out as C order, a transposed view, every other element of
    a wider array, or a doubly reversed view (negative strides)."""
    v = rng.standard_normal(shape)
    if np.dtype(dt).kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    v = v.astype(dt)
    if how == "T" and len(shape) >= 2:
        return np.ascontiguousarray(v.T).T
    if how == "step" and shape:
        base = np.zeros(shape[:-1] + (shape[-1] * 2,), dt)
        base[..., ::2] = v
        return base[..., ::2]
    if how == "rev":
        return np.flip(np.flip(v).copy())
    return v


def _tol(dt):
    return 1e-4 if np.dtype(dt) in (np.float32, np.complex64) else 1e-11


def _scalar(dt, v):
    return np.asarray(v, dtype=dt)


def _program(op, dt, shapes):
    vs = [Var.input(dt, s) for s in shapes]
    out, = apply(op, *vs)
    return link(FunctionGraph(vs, [out]))


@st.composite
def gemm_cases(draw):
    m, k, n = (draw(st.sampled_from([1, 2, 3, 9])) for _ in range(3))
    vec = draw(st.booleans())
    out = (m,) if vec else (m, n)
    c_shape = draw(st.sampled_from([out, out[1:], ()] + ([(1, n)] if not vec else [])))
    alpha = draw(st.sampled_from([1.0, -2.5, 0.0]))
    beta = draw(st.sampled_from([1.0, 0.5, 0.0]))
    return (m, k, n, vec, c_shape, alpha, beta, draw(st.sampled_from(BLAS)),
            draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(LAYOUTS)))


@given(gemm_cases())
def test_gemm_gemv_match_numpy(case):
    m, k, n, vec, c_shape, alpha, beta, dt, ha, hb = case
    rng = np.random.default_rng(0)
    a = _operand(rng, (m, k), dt, ha)
    b = _operand(rng, (k,) if vec else (k, n), dt, hb)
    c = _operand(rng, c_shape, dt, "c") if c_shape else _scalar(dt, 1.5)
    op = Gemv() if vec else Gemm()
    prog = _program(op, dt, [c.shape, (), a.shape, b.shape, ()])
    assert isinstance(prog.thunks[0], GemmThunk)
    args = [c, _scalar(dt, alpha), a, b, _scalar(dt, beta)]
    keep = [x.copy() for x in args]
    got = prog(args)[0]
    ref = beta * c + alpha * np.matmul(a, b)
    assert got.shape == ref.shape and got.dtype == np.dtype(dt)
    np.testing.assert_allclose(got, ref, rtol=_tol(dt), atol=_tol(dt))
    for x, y in zip(args, keep):  # the caller's arrays are never written
        np.testing.assert_array_equal(x, y)


def test_row_times_matrix_through_gemv_matches_numpy():
    """A 1-row Gemm (minibatch 1) runs as gemv on b in place: every layout, dtype and beta."""
    rng = np.random.default_rng(1)
    for dt in BLAS:
        for ha in LAYOUTS:
            for hb in LAYOUTS:
                for beta, c_shape in ((0.0, ()), (1.0, (1, 5)), (0.5, (5,))):
                    a = _operand(rng, (1, 4), dt, ha)
                    b = _operand(rng, (4, 5), dt, hb)
                    c = _operand(rng, c_shape, dt, "c") if c_shape else _scalar(dt, 1.5)
                    prog = _program(Gemm(), dt, [c.shape, (), a.shape, b.shape, ()])
                    got = prog([c, _scalar(dt, -2.0), a, b, _scalar(dt, beta)])[0]
                    ref = beta * c + -2.0 * np.matmul(a, b)
                    assert got.shape == (1, 5)
                    np.testing.assert_allclose(got, ref, rtol=_tol(dt), atol=_tol(dt))


def test_beta_zero_keeps_ieee_semantics():
    """0 * NaN is NaN in the unfused expression; BLAS would ignore c when beta == 0."""
    for op, b_shape in ((Gemm(), (3, 2)), (Gemv(), (3,))):
        prog = _program(op, np.float64, [(2, 2) if b_shape == (3, 2) else (2,), (), (2, 3),
                                         b_shape, ()])
        c = np.ones((2, 2) if b_shape == (3, 2) else (2,))
        c.flat[0] = np.nan
        a, b = np.ones((2, 3)), np.ones(b_shape)
        got = prog([c, _scalar(np.float64, 1.0), a, b, _scalar(np.float64, 0.0)])[0]
        ref = 0.0 * c + np.matmul(a, b)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)])


def test_empty_operands():
    for shape_a, shape_b in (((0, 3), (3, 2)), ((2, 0), (0, 2)), ((2, 3), (3, 0))):
        prog = _program(Gemm(), np.float32, [(shape_a[0], shape_b[1]), (), shape_a, shape_b, ()])
        c = np.full((shape_a[0], shape_b[1]), 2.0, np.float32)
        got = prog([c, _scalar(np.float32, 3), np.ones(shape_a, np.float32),
                    np.ones(shape_b, np.float32), _scalar(np.float32, 0.5)])[0]
        np.testing.assert_array_equal(got, 0.5 * c + 3 * (np.ones(shape_a) @ np.ones(shape_b)))


@given(st.sampled_from(BLAS), st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS),
       st.booleans(), st.sampled_from([1, 4, 7]))
def test_matrix_vector_matmul_through_gemv(dt, ha, hx, left, k):
    rng = np.random.default_rng(1)
    a = _operand(rng, (5, k) if left else (k, 5), dt, ha)
    x = _operand(rng, (k,), dt, hx)
    args = [a, x] if left else [x, a]
    va, vb = Var.input(dt, args[0].shape), Var.input(dt, args[1].shape)
    out, = apply(MatMul(), va, vb)
    prog = link(FunctionGraph([va, vb], [out]))
    assert isinstance(prog.thunks[0], MatMulThunk)
    got = prog(args)[0]
    ref = np.matmul(*args)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=_tol(dt), atol=_tol(dt))


def test_row_times_matrix_matmul_through_gemv():
    """(1, k) @ (k, n), the minibatch-1 product, runs as gemv: every layout and dtype."""
    rng = np.random.default_rng(2)
    for dt in BLAS:
        for ha in LAYOUTS:
            for hb in LAYOUTS:
                a, b = _operand(rng, (1, 6), dt, ha), _operand(rng, (6, 4), dt, hb)
                va, vb = Var.input(dt, a.shape), Var.input(dt, b.shape)
                out, = apply(MatMul(), va, vb)
                prog = link(FunctionGraph([va, vb], [out]))
                got = prog([a, b])[0]
                assert got.shape == (1, 4)
                np.testing.assert_allclose(got, a @ b, rtol=_tol(dt), atol=_tol(dt))


def _accumulate_program(m):
    """c = -x (an intermediate made by a kernel), g = 0.5*c + 2*(a@b), out = exp(g)."""
    x, a, b = (Var.input(np.float64, (m, m)) for _ in range(3))
    al, be = Var.input(np.float64, ()), Var.input(np.float64, ())
    c, = apply(Elemwise("negative"), x)
    g, = apply(Gemm(), c, al, a, b, be)
    out, = apply(Elemwise("sin"), g)
    return link(FunctionGraph([x, al, a, b, be], [out]))


def test_beta_accumulates_into_the_dead_accumulator():
    m = 256
    prog = _accumulate_program(m)
    assert [type(t) for t in prog.thunks] == [ElemThunk, GemmThunk, ElemThunk]
    assert prog.thunks[1].inplace
    rng = np.random.default_rng(2)
    x, a, b = (rng.standard_normal((m, m)) for _ in range(3))
    args = [x, _scalar(np.float64, 2.0), a, b, _scalar(np.float64, 0.5)]
    nbytes = m * m * 8
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        got = prog(args)[0]
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # first call: the buffer of -x (kept for reuse) and the output; gemm made none of its own
    assert 2 * nbytes <= peak < 3 * nbytes
    np.testing.assert_allclose(got, np.sin(0.5 * -x + 2 * (a @ b)), rtol=1e-12, atol=1e-12)
    # the next call reuses that buffer: results stay right
    x2 = rng.standard_normal((m, m))
    np.testing.assert_allclose(prog([x2, *args[1:]])[0], np.sin(0.5 * -x2 + 2 * (a @ b)),
                               rtol=1e-12, atol=1e-12)


def test_no_accumulation_into_an_escaping_or_shared_accumulator():
    x, a, b = (Var.input(np.float64, (3, 3)) for _ in range(3))
    al, be = Var.input(np.float64, ()), Var.input(np.float64, ())
    c, = apply(Elemwise("negative"), x)
    g, = apply(Gemm(), c, al, a, c, be)  # c is also the right operand
    prog = link(FunctionGraph([x, al, a, b, be], [g]))
    assert not prog.thunks[1].inplace
    rng = np.random.default_rng(3)
    xs, as_ = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    got = prog([xs, _scalar(np.float64, 1.0), as_, as_, _scalar(np.float64, 1.0)])[0]
    np.testing.assert_allclose(got, -xs + as_ @ -xs)
    g2, = apply(Gemm(), c, al, a, b, be)  # c escapes too: it cannot be overwritten
    prog2 = link(FunctionGraph([x, al, a, b, be], [g2, c]))
    assert not prog2.thunks[1].inplace
    r, rc = prog2([xs, _scalar(np.float64, 1.0), as_, as_, _scalar(np.float64, 1.0)])
    np.testing.assert_array_equal(rc, -xs)
    np.testing.assert_allclose(r, -xs + as_ @ as_)


def test_returned_result_accumulates_into_a_handed_off_accumulator():
    """out = 0.5*exp(-x) + 2*(a@b) returned: exp's node hands its buffer out instead of keeping
    it, gemm accumulates there and returns it; held results are never overwritten."""
    m = 256
    x, a, b = (Var.input(np.float64, (m, m)) for _ in range(3))
    al, be = Var.input(np.float64, ()), Var.input(np.float64, ())
    n1, = apply(Elemwise("negative"), x)   # kept buffer; exp must not write into it
    c, = apply(Elemwise("exp"), n1)
    g, = apply(Gemm(), c, al, a, b, be)
    prog = link(FunctionGraph([x, al, a, b, be], [g]))
    assert prog.thunks[2].inplace
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((m, m)) for _ in range(3)]
    av, bv = rng.standard_normal((m, m)), rng.standard_normal((m, m))
    scal = [_scalar(np.float64, 2.0), av, bv, _scalar(np.float64, 0.5)]
    nbytes = m * m * 8
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        first = prog([xs[0], *scal])[0]
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert 2 * nbytes <= peak < 3 * nbytes  # -x kept, exp's buffer returned: no third array
    held = [first] + [prog([xv, *scal])[0] for xv in xs[1:]]
    for xv, r in zip(xs, held):
        np.testing.assert_allclose(r, 0.5 * np.exp(-xv) + 2 * (av @ bv), rtol=1e-12, atol=1e-12)


def test_bias_row_broadcast_down_the_rows():
    """``h @ V + c`` with ``c`` of shape (n,) or (1, n): the accumulator is the row repeated
    (one memcpy per row); exact against NumPy in float64 with integer-valued operands."""
    rng = np.random.default_rng(7)
    for c_shape in ((6,), (1, 6)):
        for beta in (1.0, -0.5):
            a = rng.integers(-4, 5, (20, 3)).astype(np.float64)
            b = rng.integers(-4, 5, (3, 6)).astype(np.float64)
            c = rng.integers(-4, 5, c_shape).astype(np.float64)
            prog = _program(Gemm(), np.float64, [c.shape, (), a.shape, b.shape, ()])
            for _ in range(2):  # the reused output buffer is refilled
                got = prog([c, _scalar(np.float64, 2.0), a, b, _scalar(np.float64, beta)])[0]
                np.testing.assert_array_equal(got, beta * c + 2.0 * (a @ b))


def test_few_rows_long_reduction_product_matches_numpy():
    """``(m x k) @ (k x n)`` with 2 <= m <= 32 and k >= n >= 64 (``dlogits @ V.T``) is computed
    transposed by BLAS and copied back: every layout of both operands, float32/64, repeated
    (the scratch buffer is reused), and at the bounds of the rule."""
    rng = np.random.default_rng(11)
    for dt in (np.float32, np.float64):
        for m, k, n in ((2, 64, 64), (20, 300, 70), (32, 128, 100), (33, 128, 100),
                        (20, 63, 64)):
            for ha in LAYOUTS:
                for hb in LAYOUTS:
                    a = _operand(rng, (m, k), dt, ha)
                    b = _operand(rng, (k, n), dt, hb)
                    prog = _program(MatMul(), dt, [a.shape, b.shape])
                    assert isinstance(prog.thunks[0], MatMulThunk)
                    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
                    for _ in range(2):
                        got = prog([a, b])[0]
                        assert got.shape == (m, n) and got.dtype == np.dtype(dt)
                        assert got.flags.c_contiguous
                        np.testing.assert_allclose(got, ref, rtol=_tol(dt), atol=_tol(dt) * k)


@pytest.mark.parametrize("alpha", [0.0, np.inf, -np.inf, np.nan])
def test_a_run_time_alpha_of_zero_or_inf_keeps_the_unfused_semantics(alpha):
    """alpha * (A @ B) with an inf in A: 0 * inf is NaN (BLAS skips the product for alpha 0),
    and inf * (a row with zeros) follows the product, not a pre-scaled operand."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 30))
    a[0, 0] = np.inf
    b = rng.standard_normal((30, 20))
    v = rng.standard_normal(30)
    c = rng.standard_normal((40, 20))
    r = np.zeros((1, 64))
    r[0, ::2] = -1.0
    w = rng.standard_normal((64, 50))
    al = xp.asarray(alpha)
    cases = [(al * (xp.asarray(a) @ xp.asarray(b)), alpha * (a @ b)),
             (xp.asarray(c) + al * (xp.asarray(a) @ xp.asarray(b)), c + alpha * (a @ b)),
             (al * (xp.asarray(a) @ xp.asarray(v)), alpha * (a @ v)),
             (al * (xp.asarray(r) @ xp.asarray(w)), alpha * (r @ w))]
    with np.errstate(invalid="ignore", over="ignore"):
        for got, want in cases:
            np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.complex64, np.complex128])
def test_a_flipped_one_by_one_operand(dt):
    """A 1 x 1 operand with negative strides: the layout check refused it (the stride of a
    size-1 axis is never read), NumPy's ascontiguousarray returned it uncopied (contiguous
    to NumPy), and gemm was called with an unset layout: BLAS printed "parameter number 1
    had an illegal value" and the product was uninitialized memory."""
    a = np.array([[1.0], [3.0]], dtype=dt)
    c = np.array([[2.0]], dtype=dt)
    got = xp.asarray(a) @ xp.flip(xp.asarray(c) * 1)
    np.testing.assert_array_equal(np.asarray(got), a @ c)
    got = xp.asarray(a) @ xp.asarray(c[::-1, ::-1])
    np.testing.assert_array_equal(np.asarray(got), a @ c)
    batched = xp.ones((2, 3, 1), dtype=dt) @ xp.flip(xp.full((2, 1, 1), 2.0, dtype=dt) * 1,
                                                     axis=(1, 2))
    np.testing.assert_array_equal(np.asarray(batched), np.full((2, 3, 1), 2.0, dtype=dt))
