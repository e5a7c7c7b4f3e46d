"""Real gemm through NumPy's own OpenBLAS (``_blas64.pxi``, `native.use_numpy_gemm`) or
SciPy's: both agree with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk

from lazyarr.array.ops.linalg import Gemm
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
