"""The AVX2/FMA float32 kernels of `Gemm` at minibatch 1 (`_small.pxi`): a row (or up to 16
rows, one at a time) times a matrix of 8-64 columns (``x @ W + b``) and the rank-1 update
``W + alpha * (x.T @ d)``. Values against NumPy (the rank-1 update bit for bit, as NumPy
rounds it), column counts at and between the tile sizes, strided operands, and the BLAS path
they replace."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk, set_small_kernels, small_kernels_available

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.linalg import Gemm
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

pytestmark = pytest.mark.skipif(not small_kernels_available(), reason="no AVX2/FMA")

F32 = np.float32
COLS = [8, 9, 10, 15, 16, 17, 24, 31, 33, 64]


def _program(shapes):
    vs = [Var.input(F32, s) for s in shapes]
    out, = apply(Gemm(), *vs)
    prog = link(FunctionGraph(vs, [out]))
    assert isinstance(prog.thunks[0], GemmThunk)
    return prog


def _s(v):
    return np.asarray(v, dtype=F32)


def _both(prog, args):
    """The program's result with the small kernels, then through BLAS."""
    try:
        set_small_kernels(True)
        small = prog(args)[0].copy()
        set_small_kernels(False)
        blas = prog(args)[0].copy()
    finally:
        set_small_kernels(True)
    return small, blas


@pytest.mark.parametrize("n", COLS)
def test_row_times_matrix(n):
    """``beta * c + alpha * (x @ W)`` for one row: every column of every tile (overlapping
    last tiles included) is written once, for bias rows, full and scalar accumulators, rows
    not multiple of the unrolling, a strided row and a matrix with padded rows."""
    rng = np.random.default_rng(n)
    for k in (1, 3, 4, 5, 784):
        for alpha, beta, c_shape in ((1.0, 1.0, (n,)), (-2.5, 0.5, (1, n)), (0.5, 0.0, ())):
            x = rng.standard_normal((1, 2 * k)).astype(F32)[:, ::2]
            w = rng.standard_normal((k, n + 3)).astype(F32)[:, :n]
            c = rng.standard_normal(c_shape).astype(F32) if c_shape else _s(7.0)
            prog = _program([c.shape, (), x.shape, w.shape, ()])
            small, blas = _both(prog, [c, _s(alpha), x, w, _s(beta)])
            ref = (beta * c.astype(np.float64)
                   + alpha * (x.astype(np.float64) @ w.astype(np.float64)))
            assert small.shape == (1, n)
            np.testing.assert_allclose(small, ref, rtol=1e-5, atol=1e-4 * np.sqrt(k))
            np.testing.assert_allclose(small, blas, rtol=1e-5, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("n", [8, 10, 13, 33, 64])
@pytest.mark.parametrize("m", [2, 10, 16, 17])
def test_few_rows_times_matrix(m, n):
    """Up to 16 rows go row by row through the same kernel (17 through BLAS): a full
    accumulator, a bias row, a scalar one with beta 0; rows of ``x`` strided both ways."""
    rng = np.random.default_rng(10 * m + n)
    k = 500
    for alpha, beta, c_shape in ((1.0, 1.0, (m, n)), (-2.5, 0.5, (n,)), (0.5, 0.0, ())):
        x = rng.standard_normal((2 * m, 2 * k)).astype(F32)[::2, ::2]
        w = rng.standard_normal((k, n + 3)).astype(F32)[:, :n]
        c = rng.standard_normal(c_shape).astype(F32) if c_shape else _s(7.0)
        prog = _program([c.shape, (), x.shape, w.shape, ()])
        small, blas = _both(prog, [c, _s(alpha), x, w, _s(beta)])
        ref = beta * c.astype(np.float64) + alpha * (x.astype(np.float64) @ w.astype(np.float64))
        assert small.shape == (m, n)
        np.testing.assert_allclose(small, ref, rtol=1e-5, atol=1e-4 * np.sqrt(k))
        np.testing.assert_allclose(small, blas, rtol=1e-5, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("n", COLS)
def test_rank1_update_equals_numpy_bit_for_bit(n):
    """``W + alpha * (x.T @ d)`` (k = 1, beta = 1, the SGD step at minibatch 1): the product,
    its scaling and the sum are each rounded, as NumPy computes the unfused expression."""
    rng = np.random.default_rng(100 + n)
    for m in (1, 7, 784):
        w = rng.standard_normal((m, n)).astype(F32)
        x = rng.standard_normal((1, m)).astype(F32)
        d = rng.standard_normal((1, n)).astype(F32)
        prog = _program([w.shape, (), (m, 1), d.shape, ()])
        for xt in (x.T, np.ascontiguousarray(x.T)):  # a transposed view and a column
            small, _ = _both(prog, [w, _s(-0.01), xt, d, _s(1.0)])
            ref = w + F32(-0.01) * (xt @ d)
            np.testing.assert_array_equal(small, ref)


def test_rank1_update_in_place_into_a_dead_accumulator():
    """When ``W`` is an intermediate that dies at the update, the kernel writes into its
    buffer; repeated calls start again from the recomputed ``W``."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((50, 10)).astype(F32)
    x = rng.standard_normal((50, 1)).astype(F32)
    d = rng.standard_normal((1, 10)).astype(F32)
    vw, va, vx, vd, vb = (Var.input(F32, s) for s in [(50, 10), (), (50, 1), (1, 10), ()])
    two = Var.input(F32, ())
    wd, = apply(Elemwise("multiply"), vw, two)
    out, = apply(Gemm(), wd, va, vx, vd, vb)
    prog = link(FunctionGraph([vw, va, vx, vd, vb, two], [out]))
    assert prog.thunks[1].inplace
    for _ in range(3):
        got = prog([w0, _s(0.5), x, d, _s(1.0), _s(2.0)])[0]
        np.testing.assert_array_equal(got, w0 * F32(2) + F32(0.5) * (x @ d))


def test_other_shapes_stay_on_blas():
    """Narrow rows (< 8 columns) and a beta other than 1 for a rank-1 update are BLAS's:
    the same values with and without the kernels, and NumPy's."""
    rng = np.random.default_rng(4)
    for shapes, beta in ((((1, 5), (1, 6), (6, 5)), 1.0), (((6, 9), (6, 1), (1, 9)), 0.5)):
        c_shape, a_shape, b_shape = shapes
        c, a, b = (rng.standard_normal(s).astype(F32) for s in shapes)
        prog = _program([c_shape, (), a_shape, b_shape, ()])
        small, blas = _both(prog, [c, _s(1.5), a, b, _s(beta)])
        np.testing.assert_array_equal(small, blas)
        np.testing.assert_allclose(small, beta * c + 1.5 * (a @ b), rtol=1e-5, atol=1e-5)
