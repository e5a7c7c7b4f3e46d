"""Rank-1 updates ``c + alpha * (a @ b)`` (a: m x 1, b: 1 x n, beta = 1) past the small
kernels' size run through NumPy's OpenBLAS ger (gemm with a reduction of 1 is 2-5x slower):
values against a float64 NumPy oracle for float32 and float64, transposed-view and strided
operands, and the path counted."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk, ger_calls

from lazyarr.array.ops.linalg import Gemm
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply


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
    m, n = 700, 600  # 420,000 elements: past the small float32 kernel's 2^18
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


def test_beta_other_than_one_stays_on_gemm():
    rng = np.random.default_rng(8)
    c, a, b = (rng.standard_normal(s).astype(np.float32) for s in [(600, 500), (600, 1), (1, 500)])
    prog = _program(np.float32, [c.shape, (), a.shape, b.shape, ()])
    before = ger_calls()
    got = prog([c, np.float32(2.0), a, b, np.float32(0.5)])[0]
    assert ger_calls() == before
    np.testing.assert_allclose(got, 0.5 * c + 2.0 * (a @ b), rtol=1e-5, atol=1e-5)
