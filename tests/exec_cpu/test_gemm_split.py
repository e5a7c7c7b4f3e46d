"""Few-row float32 products split between threads (`_blas64.pxi`: equal blocks of the long
side on OpenBLAS's threads through its batch interface, the leftover rows or columns by one
gemm). `Gemm` nodes (beta = 0, 1, 0.5; alpha != 1; bias rows) and `MatMul` equal NumPy for
splits along the output's columns (the forward product ``x @ W``) and rows (the weight
gradient ``W + alpha * x.T @ d``), odd sizes, transposed and padded operands, on 1, 2 and 3
threads; one thread never splits."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import (
    GemmThunk,
    MatMulThunk,
    gemm_split_available,
    gemm_split_calls,
    set_few_kernels,
    set_gemm_split,
)

import lazyarr
from lazyarr.array.ops.linalg import MatMul
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply
from tests.float32_products import GEMM_FORMS, one_node_program, operand, run_gemm

pytestmark = pytest.mark.skipif(not gemm_split_available(), reason="no OpenBLAS batch gemm")

F32 = np.float32


@pytest.fixture
def threads():
    """Sets the thread count per test and puts the default back; the few-rows kernels
    (`exec_cpu/few_rows.py`, which take these products first where the CPU has AVX-512) are
    off meanwhile."""
    was = set_gemm_split(True)
    few = set_few_kernels(False)
    yield lazyarr.set_num_threads
    lazyarr.set_num_threads(None)
    set_gemm_split(was)
    set_few_kernels(few)


def _check(got, want, k):
    assert got.dtype == F32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6 * k)


# (m, k, n): few rows and many columns (split along columns, 501 leaves one over on 2 threads),
# a short reduction with many rows (split along rows: the weight-gradient form)
SHAPES = [(10, 784, 501), (60, 300, 200), (785, 10, 500), (500, 60, 130)]


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_gemm_split_matches_numpy(threads, m, k, n, nthreads):
    """``beta * c + alpha * (a @ b)`` for full and bias-row accumulators, beta 0/1/0.5 and
    every pair of layouts; with more than one thread the product is split."""
    threads(nthreads)
    rng = np.random.default_rng(m + n + nthreads)
    for alpha, beta, c_shape in GEMM_FORMS:
        for ha, hb in (("c", "c"), ("T", "c"), ("c", "T"), ("pad", "pad"), ("T", "T")):
            a, b = operand(rng, (m, k), ha), operand(rng, (k, n), hb)
            got, want, split = run_gemm(rng, a, b, alpha, beta, c_shape(m, n), GemmThunk,
                                        gemm_split_calls)
            assert split == (1 if nthreads > 1 else 0)
            _check(got, want, k)


@pytest.mark.parametrize("nthreads", [2, 3])
def test_matmul_split_matches_numpy(threads, nthreads):
    """A plain few-row ``MatMul`` (beta = 0 into a fresh buffer) is split too."""
    threads(nthreads)
    rng = np.random.default_rng(nthreads)
    for ha in ("c", "T"):
        a, b = operand(rng, (10, 784), ha), operand(rng, (784, 500), "c")
        prog = one_node_program(MatMul(), [a.shape, b.shape], MatMulThunk)
        before = gemm_split_calls()
        got = prog([a, b])[0]
        assert gemm_split_calls() - before == 1
        _check(got, a.astype(np.float64) @ b, 784)


def test_small_square_and_double_products_are_not_split(threads):
    """Too little work per block, a large square product and float64 go to gemm whole."""
    threads(2)
    rng = np.random.default_rng(3)
    cases = [(F32, 10, 100, 500), (F32, 200, 200, 200), (np.float64, 10, 784, 500)]
    for dt, m, k, n in cases:
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        vs = [Var.input(dt, s) for s in (a.shape, b.shape)]
        out, = apply(MatMul(), *vs)
        prog = link(FunctionGraph(vs, [out]))
        before = gemm_split_calls()
        got = prog([a, b])[0]
        assert gemm_split_calls() == before, (dt, m, k, n)
        np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=1e-4, atol=2e-6 * k)


def test_split_switch_gives_the_same_values(threads):
    """`set_gemm_split(False)` runs gemm's own threading; both agree with each other."""
    threads(2)
    rng = np.random.default_rng(4)
    a, b = operand(rng, (60, 784), "c"), operand(rng, (784, 500), "c")
    prog = one_node_program(MatMul(), [a.shape, b.shape], MatMulThunk)
    split = prog([a, b])[0].copy()
    set_gemm_split(False)
    before = gemm_split_calls()
    whole = prog([a, b])[0]
    assert gemm_split_calls() == before
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-4)
