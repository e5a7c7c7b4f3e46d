"""Rank-1 updates ``c + alpha * (a @ b)`` (a: m x 1, b: 1 x n, beta = 1) of at least 2^19
elements run through NumPy's OpenBLAS ger (faster than gemm with a reduction of 1 there):
values against a float64 NumPy oracle for float32 and float64, transposed-view and strided
operands, and the path counted. The float32 OpenMP row kernels (which take such updates
first, `test_row_kernels.py`) are off here."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk, ger_calls, set_row_min

from lazyarr.array.ops.linalg import Gemm
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply


@pytest.fixture(autouse=True)
def _blas_only():
    was = set_row_min(1 << 62)
    yield
    set_row_min(was)


def _program(dtype, shapes):
    vs = [Var.input(dtype, s) for s in shapes]
    out, = apply(Gemm(), *vs)
    prog = link(FunctionGraph(vs, [out]))
    assert isinstance(prog.thunks[0], GemmThunk)
    return prog


def _oracle(c, alpha, a, b):
    return c.astype(np.float64) + alpha * (a.astype(np.float64) @ b.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_rank1_update_matches_numpy(dtype):
    rng = np.random.default_rng(7)
    m, n = 800, 700  # 560,000 elements: past ger's 2^19 minimum
    c = rng.standard_normal((m, n)).astype(dtype)
    c0 = c.copy()
    col = rng.standard_normal((1, m)).astype(dtype).T  # a transposed view, stride 1
    wide = rng.standard_normal((3, 2 * n)).astype(dtype)
    rows = [rng.standard_normal((1, n)).astype(dtype), wide[1:2, ::2]]  # contiguous, stride 2
    prog = _program(dtype, [(m, n), (), (m, 1), (1, n), ()])
    alpha, one = np.asarray(-0.25, dtype), np.asarray(1.0, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for b in rows:
        before = ger_calls()
        got = prog([c, alpha, col, b, one])[0]
        assert ger_calls() == before + 1
        np.testing.assert_allclose(got, _oracle(c, -0.25, col, b), rtol=tol, atol=tol)
    np.testing.assert_array_equal(c, c0)  # an input the program does not own is not written


@pytest.mark.parametrize("shape, beta", [((800, 700), 0.5), ((784, 500), 1.0)])
def test_other_updates_stay_on_gemm(shape, beta):
    """A beta other than 1, and an update below 2^19 elements (fig1's mlp500 784x500), run
    through gemm: ger's count does not move and the values are NumPy's."""
    rng = np.random.default_rng(8)
    m, n = shape
    c, a, b = (rng.standard_normal(s).astype(np.float32) for s in [(m, n), (m, 1), (1, n)])
    prog = _program(np.float32, [c.shape, (), a.shape, b.shape, ()])
    before = ger_calls()
    got = prog([c, np.float32(2.0), a, b, np.float32(beta)])[0]
    assert ger_calls() == before
    np.testing.assert_allclose(got, beta * c + 2.0 * (a @ b), rtol=1e-5, atol=1e-5)
