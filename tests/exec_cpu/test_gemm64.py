"""Real gemm through NumPy's own OpenBLAS (``_blas64.pxi``, `native.use_numpy_gemm`) or
SciPy's: both agree with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk

from lazyarr.array.ops.linalg import Gemm, MatMul
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply


def _run(dt, a, b, c, alpha, beta):
    vs = [Var.input(dt, s) for s in (c.shape, (), a.shape, b.shape, ())]
    out, = apply(Gemm(), *vs)
    prog = link(FunctionGraph(vs, [out]))
    assert isinstance(prog.thunks[0], GemmThunk)
    args = [c, np.asarray(alpha, dt), a, b, np.asarray(beta, dt)]
    keep = [x.copy() for x in args]
    got = prog(args)[0]
    for x, y in zip(args, keep):  # the caller's arrays are never written
        np.testing.assert_array_equal(x, y)
    return got


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_numpy_and_scipy_gemm_agree(dt):
    """gemm through NumPy's OpenBLAS (`native.use_numpy_gemm`, when its wheel ships one) and
    through SciPy's: both equal NumPy's matmul, for plain and transposed operands."""
    from lazyarr.exec_cpu import native

    rng = np.random.default_rng(5)
    a = rng.standard_normal((37, 50)).astype(dt)
    b = rng.standard_normal((50, 29)).astype(dt)
    c = rng.standard_normal((37, 29)).astype(dt)
    tol = 2e-5 if dt == np.float32 else 1e-12
    want = 0.5 * c.astype(np.float64) + -2.0 * (a.astype(np.float64) @ b)
    try:
        for numpy_blas in (False, True):
            used = native.use_numpy_gemm(numpy_blas)
            if numpy_blas and not used:
                pytest.skip("NumPy's wheel ships no 64-bit OpenBLAS here")
            assert used == numpy_blas
            for x, y in ((a, b), (np.asfortranarray(a), np.asfortranarray(b))):
                got = _run(dt, x, y, c, -2.0, 0.5)
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    finally:
        native.use_numpy_gemm()


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["c", "f", "reversed x"])
def test_numpy_and_scipy_gemv_agree(dt, layout):
    """gemv (a row times a matrix, `Gemm` with one row; a matrix times a vector) runs in the
    same OpenBLAS as gemm (`native.use_numpy_gemm`): both libraries equal NumPy's products."""
    from lazyarr.exec_cpu import native

    rng = np.random.default_rng(6)
    a = rng.standard_normal((1, 300)).astype(dt)
    b = rng.standard_normal((300, 41)).astype(dt)
    c = rng.standard_normal((1, 41)).astype(dt)
    m = rng.standard_normal((41, 300)).astype(dt)
    x = rng.standard_normal(600).astype(dt)[::-2] if layout == "reversed x" else \
        rng.standard_normal(300).astype(dt)
    if layout == "f":
        b, m = np.asfortranarray(b), np.asfortranarray(m)
    tol = 2e-5 if dt == np.float32 else 1e-12
    vm, vx = Var.input(dt, m.shape), Var.input(dt, x.shape)
    mv = link(FunctionGraph([vm, vx], [apply(MatMul(), vm, vx)[0]]))
    try:
        for numpy_blas in (False, True):
            if native.use_numpy_gemm(numpy_blas) != numpy_blas:
                pytest.skip("NumPy's wheel ships no 64-bit OpenBLAS here")
            got = _run(dt, a, b, c, -2.0, 0.5)
            want = 0.5 * c.astype(np.float64) + -2.0 * (a.astype(np.float64) @ b)
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
            got = mv([m, x])[0]
            np.testing.assert_allclose(got, m.astype(np.float64) @ x, rtol=tol, atol=tol * 10)
    finally:
        native.use_numpy_gemm()
