"""Float32 matrix-product nodes linked alone, and operands laid out as BLAS and the few-rows
kernels meet them (for the tests of `_blas.pxi`'s product paths)."""

from __future__ import annotations

import numpy as np

from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

F32 = np.float32


def one_node_program(op, shapes, thunk):
    """The linked program of one ``op`` node over float32 inputs of ``shapes``; its thunk must
    be a ``thunk``."""
    vs = [Var.input(F32, s) for s in shapes]
    out, = apply(op, *vs)
    prog = link(FunctionGraph(vs, [out]))
    assert isinstance(prog.thunks[0], thunk)
    return prog


def operand(rng, shape, how, pad=5):
    """Float32 values laid out in C order (``"c"``), as a transposed view (``"T"``), or as the
    rows of an array ``pad`` columns wider (``"pad"``)."""
    v = rng.standard_normal(shape).astype(F32)
    if how == "T":
        return np.ascontiguousarray(v.T).T
    if how == "pad":
        base = np.zeros((shape[0], shape[1] + pad), F32)
        base[:, :shape[1]] = v
        return base[:, :shape[1]]
    return v


#: (alpha, beta, c's shape as a function of the output's (m, n)): a bias row, a full
#: accumulator scaled down, beta 0 (c never read), a (1, n) row at beta 0.5
GEMM_FORMS = ((1.0, 1.0, lambda m, n: (n,)), (-0.01, 1.0, lambda m, n: (m, n)),
              (2.5, 0.0, lambda m, n: (m, n)), (0.5, 0.5, lambda m, n: (1, n)))


def run_gemm(rng, a, b, alpha, beta, c_shape, thunk, counter):
    """``beta * c + alpha * (a @ b)`` by one `Gemm` node (``c`` random, of ``c_shape``); checks
    that no operand was written. Returns the result, float64 NumPy's, and how far
    ``counter()`` moved."""
    from lazyarr.array.ops.linalg import Gemm

    c = rng.standard_normal(c_shape).astype(F32)
    prog = one_node_program(Gemm(), [c.shape, (), a.shape, b.shape, ()], thunk)
    args = [c, np.asarray(alpha, F32), a, b, np.asarray(beta, F32)]
    keep = [x.copy() for x in args]
    before = counter()
    got = prog(args)[0]
    moved = counter() - before
    for x, x0 in zip(args, keep):  # operands read, never written
        np.testing.assert_array_equal(x, x0)
    return got, beta * c.astype(np.float64) + alpha * (a.astype(np.float64) @ b), moved
