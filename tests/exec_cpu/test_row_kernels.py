"""The OpenMP float32 kernels of minibatch-1 steps (``exec_cpu/dot_update.py``): a 1-row `Gemm`
and a rank-1 `Gemm` update of at least 2^17 elements, and the `DotUpdate` node (``g @ W.T`` and
``W + alpha * (a @ d)`` in one pass). Values against a float64 NumPy oracle on 1 and 2 threads,
odd sizes (column and row tails), strided operands, every alpha/beta case of the row product,
in place into a donated ``W`` and not into a caller's one; the path counted; without the
kernels (no C compiler) BLAS gives the same values."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import DotUpdateThunk, GemmThunk, row_kernel_calls, set_row_kernels

from lazyarr.array.ops.linalg import Gemm
from lazyarr.exec_cpu import ccache, dot_update, link
from lazyarr.exec_cpu.threads import get_num_threads, set_num_threads
from lazyarr.graph import FunctionGraph, Var, apply
from lazyarr.rewrites.dot_update import DotUpdate

TOL = 2e-5


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    was = get_num_threads()
    set_num_threads(request.param)
    yield request.param
    set_num_threads(was)


def _gemm_program(shapes):
    vs = [Var.input(np.float32, s) for s in shapes]
    out, = apply(Gemm(), *vs)
    prog = link(FunctionGraph(vs, [out]))
    assert isinstance(prog.thunks[0], GemmThunk)
    return prog


def _f64(*xs):
    return [np.asarray(x, np.float64) for x in xs]


@pytest.mark.parametrize("k, n", [(517, 263), (1000, 1000), (64, 2100)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (2.0, 0.5), (-0.5, 0.0)])
def test_row_times_matrix(threads, k, n, alpha, beta):
    """``beta*c + alpha*(x @ W)``, x one row: 263 columns leave a tail of 7, 2100 columns take
    the serial path (the partial sums would not fit); x strided, W a view with a longer row."""
    rng = np.random.default_rng(k + n)
    wide = rng.standard_normal((k, n + 5)).astype(np.float32)
    w = wide[:, 2:n + 2]
    x = rng.standard_normal((2, 3 * k)).astype(np.float32)[1:2, ::3]
    c = rng.standard_normal(n).astype(np.float32)
    prog = _gemm_program([c.shape, (), x.shape, w.shape, ()])
    before = row_kernel_calls()
    got = prog([c, np.asarray(alpha, np.float32), x, w, np.asarray(beta, np.float32)])[0]
    assert row_kernel_calls() == before + 1
    c64, x64, w64 = _f64(c, x, w)
    want = beta * c64 + alpha * (x64 @ w64)
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL * np.sqrt(k))


@pytest.mark.parametrize("m, n", [(800, 700), (391, 717)])
def test_rank1_update(threads, m, n):
    """``c + alpha*(a @ d)`` (beta = 1) with ``a`` a strided transposed view; the caller's ``c``
    is not written."""
    rng = np.random.default_rng(m)
    c = rng.standard_normal((m, n)).astype(np.float32)
    c0 = c.copy()
    a = rng.standard_normal((3, 2 * m)).astype(np.float32)[1:2, ::2].T
    d = rng.standard_normal((1, n)).astype(np.float32)
    prog = _gemm_program([c.shape, (), a.shape, d.shape, ()])
    before = row_kernel_calls()
    got = prog([c, np.asarray(-0.25, np.float32), a, d, np.asarray(1.0, np.float32)])[0]
    assert row_kernel_calls() == before + 1
    c64, a64, d64 = _f64(c, a, d)
    np.testing.assert_allclose(got, c64 - 0.25 * (a64 @ d64), rtol=TOL, atol=TOL)
    np.testing.assert_array_equal(c, c0)


def _dot_update_program(m, n, donate: bool):
    vs = [Var.input(np.float32, s) for s in [(m, n), (), (m, 1), (1, n), (1, n)]]
    dx, upd = apply(DotUpdate(), *vs)
    fg = FunctionGraph(vs, [dx, upd])
    if donate:
        fg.donate = {1: 0}
    prog = link(fg)
    assert isinstance(prog.thunks[0], DotUpdateThunk)
    return prog


@pytest.mark.parametrize("m, n", [(1000, 1000), (37, 29), (1000, 10), (6, 3), (301, 517)])
@pytest.mark.parametrize("donate", [False, True])
def test_dot_update(threads, m, n, donate):
    """Both outputs vs NumPy (dx from the old W); row counts not a multiple of 4 and column
    counts not a multiple of 8; into the donated W, else the caller's W is left as it was."""
    rng = np.random.default_rng(m * n)
    w = rng.standard_normal((m, n)).astype(np.float32)
    w0 = w.copy()
    a = rng.standard_normal((1, m)).astype(np.float32).T
    d, g = (rng.standard_normal((1, n)).astype(np.float32) for _ in range(2))
    prog = _dot_update_program(m, n, donate)
    before = row_kernel_calls()
    dx, upd = prog([w, np.asarray(-0.01, np.float32), a, d, g])
    assert row_kernel_calls() == before + 1
    w64, a64, d64, g64 = _f64(w0, a, d, g)
    np.testing.assert_allclose(dx, g64 @ w64.T, rtol=TOL, atol=TOL * np.sqrt(n))
    # the update rounds as Gemm does (product, scaling, sum): NumPy's float32 expression
    np.testing.assert_array_equal(upd, w0 + np.float32(-0.01) * (a @ d))
    if donate:
        assert np.shares_memory(upd, w)
    else:
        np.testing.assert_array_equal(w, w0)
        assert not np.shares_memory(upd, w)


def test_dot_update_reference_perform_matches_unfused():
    """`DotUpdate.perform` (the reference VM's) gives `MatMul`'s and `Gemm`'s values."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((9, 13)).astype(np.float32)
    a = rng.standard_normal((9, 1)).astype(np.float32)
    d, g = (rng.standard_normal((1, 13)).astype(np.float32) for _ in range(2))
    alpha = np.float32(0.5)
    dx, upd = DotUpdate().perform(w, alpha, a, d, g)
    np.testing.assert_array_equal(dx, g @ w.T)
    np.testing.assert_array_equal(upd, Gemm().perform(w, alpha, a, d, np.float32(1.0)))


@pytest.mark.parametrize("m, n", [(600, 300), (800, 700)])  # gemm; ger (>= 2^19 elements)
def test_without_the_kernels_blas_runs(m, n):
    """No kernels (no C compiler): the row product goes to BLAS gemv, `DotUpdate` to BLAS gemv
    then gemm, still into the donated W; same values, the path count does not move."""
    if not dot_update.install():
        pytest.skip("no C compiler")
    lib = ccache.load(dot_update.SOURCE)
    addrs = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in dot_update._NAMES]
    rng = np.random.default_rng(2)
    w = rng.standard_normal((m, n)).astype(np.float32)
    a = rng.standard_normal((m, 1)).astype(np.float32)
    d, g = (rng.standard_normal((1, n)).astype(np.float32) for _ in range(2))
    x = rng.standard_normal((1, m)).astype(np.float32)
    one, lr = np.asarray(1.0, np.float32), np.asarray(-0.01, np.float32)
    row = _gemm_program([(n,), (), (1, m), (m, n), ()])
    both = _dot_update_program(m, n, donate=True)
    mine = w.copy()
    set_row_kernels(0, 0, 0)
    try:
        before = row_kernel_calls()
        y = row([d[0], one, x, w, one])[0]
        dx, upd = both([mine, lr, a, d, g])
        assert row_kernel_calls() == before
    finally:
        set_row_kernels(*addrs)
    w64, a64, d64, g64, x64 = _f64(w, a, d, g, x)
    np.testing.assert_allclose(y, d64[0] + x64 @ w64, rtol=TOL, atol=TOL * 30)
    np.testing.assert_allclose(dx, g64 @ w64.T, rtol=TOL, atol=TOL * 20)
    np.testing.assert_allclose(upd, w64 - 0.01 * (a64 @ d64), rtol=TOL, atol=TOL)
    assert np.shares_memory(upd, mine)


_BUILD_ON_NEED = """
import numpy as np
from lazyarr.array.ops.linalg import Gemm
from lazyarr.exec_cpu import dot_update, link
from lazyarr.graph import FunctionGraph, Var, apply

def program(shapes):
    vs = [Var.input(np.float32, s) for s in shapes]
    out, = apply(Gemm(), *vs)
    return link(FunctionGraph(vs, [out]))

program([(60, 500), (), (60, 784), (784, 500), ()])  # minibatch 60: no row kernel
print("after b60", "ok" in dot_update._state)
program([(1, 500), (), (1, 784), (784, 500), ()])  # one row of 392,000 elements
print("after b1", "ok" in dot_update._state)
"""


def test_kernels_are_built_only_when_a_program_needs_them(tmp_path):
    """Their source costs ~0.7 s of compiler on a cold cache: a program without a 1-row
    product, rank-1 update or DotUpdate (fig1's minibatch-60 step, whose cold compile has a
    0.5 s target) must not build them."""
    env = dict(os.environ, LAZYARR_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _BUILD_ON_NEED], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split("\n")
    assert out[0] == "after b60 False"
    assert out[1] == f"after b1 {ccache.available()}"
