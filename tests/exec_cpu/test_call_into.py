"""`LinearProgram.call_into` writes outputs into the arrays a caller places (the rows of a
scan's stacked results) where the thunk can, and a `Gemv`/`Gemm` whose accumulator is a -0.0
scalar (a bare product; filled in C, not by NumPy) gives the reference's results, signed zeros
included (BLAS beta = 0 would not)."""

import numpy as np
import pytest

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.linalg import Gemm, Gemv
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

RNG = np.random.default_rng(9)


def _c(x, dt):
    return Var.leaf(np.asarray(x, dt), const=True)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_call_into_writes_targets_and_matches_a_plain_call(dt):
    a = Var.input(np.dtype(dt), (4, 3))
    x = Var.input(np.dtype(dt), (3,))
    p, = apply(Gemv(), _c(-0.0, dt), _c(1, dt), a, x, _c(1, dt))
    e, = apply(Elemwise("tanh"), p)
    prog = link(FunctionGraph([a, x], [p, e, x]))
    A, X = RNG.standard_normal((4, 3)).astype(dt), RNG.standard_normal(3).astype(dt)
    ref = prog([A, X])
    tp, te, tx = np.empty(4, dt), np.empty(4, dt), np.empty(3, dt)
    got = prog.call_into([A, X], [tp, te, tx])
    assert got[0] is tp and got[1] is te  # the BLAS and the elementwise thunk took them
    assert got[2] is X                     # an input is returned as it is, tx untouched
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)
    # targets of another shape or dtype, or read-only, are not written
    bad = [np.empty(5, dt), np.empty(4, np.complex128), None]
    ro = np.empty(4, dt)
    ro.flags.writeable = False
    for t in (bad, [ro, None, None]):
        got = prog.call_into([A, X], t)
        assert all(g is not b for g, b in zip(got, t) if b is not None)
        np.testing.assert_array_equal(got[0], ref[0])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_negative_zero_accumulator_keeps_signed_zeros_and_nan(dt):
    a = Var.input(np.dtype(dt), (3, 2))
    b = Var.input(np.dtype(dt), (2, 2))
    out, = apply(Gemm(), _c(-0.0, dt), _c(-1.0, dt), a, b, _c(1, dt))
    prog = link(FunctionGraph([a, b], [out]))
    ref_prog = link(FunctionGraph([a, b], [out]), reference=True)
    A = np.array([[0.0, 0.0], [1.0, np.nan], [-0.0, 2.0]], dt)
    B = np.array([[1.0, -0.0], [0.0, 3.0]], dt)
    got, = prog([A, B])
    ref, = ref_prog([A, B])
    np.testing.assert_array_equal(got, ref)
    assert np.array_equal(np.signbit(got), np.signbit(ref))
