"""Small escaping outputs of elementwise thunks are recycled like large ones: the array handed
out last call is written again once nothing holds it (also through a view the caller dropped,
fig1's loss), a held one never is, and a caller's `call_into` target comes first."""

from __future__ import annotations

import numpy as np

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.shape import Reshape
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

F32 = np.dtype(np.float32)


def _program():
    """``reshape(exp(x), ())`` of a (1,) float32 input: the exp output escapes through a
    view."""
    x = Var.input(F32, (1,))
    e, = apply(Elemwise("exp"), x)
    r, = apply(Reshape(()), e)
    return link(FunctionGraph([x], [r, e]))


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_dropped_small_output_is_written_again_held_one_never():
    prog = _program()
    xs = [np.array([v], F32) for v in (0.5, -1.0, 2.0, 3.0)]
    r, e = prog([xs[0]])
    p = _ptr(e)
    del r, e
    r, e = prog([xs[1]])  # the caller dropped both results: the same buffer again
    assert _ptr(e) == p
    np.testing.assert_allclose(e, np.exp(xs[1]), rtol=1e-6)
    held = r  # the view holds the buffer
    del e, r
    r2, e2 = prog([xs[2]])
    assert not np.shares_memory(held, e2)
    np.testing.assert_allclose(held, np.exp(xs[1]).reshape(()), rtol=1e-6)
    np.testing.assert_allclose(e2, np.exp(xs[2]), rtol=1e-6)


def test_call_into_target_comes_before_the_recycled_array():
    prog = _program()
    x = np.array([0.25], F32)
    r, e = prog([x])
    del r, e  # recyclable now
    target = np.empty((1,), F32)
    r, e = prog.call_into([x], [None, target])
    assert e is target
    np.testing.assert_allclose(target, np.exp(x), rtol=1e-6)
