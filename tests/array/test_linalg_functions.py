"""Linear-algebra functions beyond what the conformance suite asks: NumPy's leniencies and
the operators' protocol with other libraries' matrices."""

import array
import collections

import numpy as np
import pytest
import scipy.sparse as sp

import lazyarr as xp


def test_cross_takes_a_positive_axis_as_numpy_does():
    """The standard asks for a negative axis; NumPy also takes the positive one, counted
    in the broadcast shape, and so does lazyarr (an out-of-range one still raises)."""
    a = np.eye(3)[:, :2] + 1.0
    b = a[::-1].copy()
    for axis in (0, -2):
        np.testing.assert_array_equal(np.asarray(xp.linalg.cross(a, b, axis=axis)),
                                      np.linalg.cross(a, b, axis=axis))
    c = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(np.asarray(xp.linalg.cross(c, c[::-1].copy(), axis=1)),
                                  np.linalg.cross(c, c[::-1], axis=1))
    for axis in (2, 3, -4):
        with pytest.raises(ValueError):
            xp.linalg.cross(c, c, axis=axis)
    # operands of different ndim: NumPy counts a positive axis in each of them
    u, v = np.arange(9.0).reshape(3, 3), np.arange(27.0).reshape(3, 3, 3) % 5
    np.testing.assert_array_equal(np.asarray(xp.linalg.cross(u, v, axis=0)),
                                  np.linalg.cross(u, v, axis=0))
    with pytest.raises(ValueError):
        xp.linalg.cross(np.ones((4, 3)), np.ones(3), axis=1)  # axis 1 of a 1-d operand


def test_matmul_defers_to_an_operand_it_cannot_convert():
    """``dense @ csr``: an object lazyarr cannot take as an array but that has its own
    reflected operator gets the call (Python's protocol: NotImplemented, not TypeError)."""
    s = sp.random(3, 4, density=0.5, random_state=0, format="csr")
    b = np.arange(6.0).reshape(2, 3)
    got = xp.asarray(b) @ s
    np.testing.assert_allclose(np.asarray(got), b @ s.toarray())
    got = s.T @ xp.asarray(b.T)
    np.testing.assert_allclose(np.asarray(got), s.T.toarray() @ b.T)
    with pytest.raises(TypeError):
        xp.matmul(xp.asarray(b), s)  # the function itself still refuses it
    with pytest.raises(TypeError):
        xp.asarray(b) @ object()
    m = xp.asarray(np.eye(3))  # buffers and sequences are still arrays to @
    for other in (memoryview(np.arange(3.0)), array.array("d", [1.0, 2.0, 3.0]), range(3),
                  collections.deque([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]):
        np.testing.assert_array_equal(np.asarray(m @ other), np.asarray(other, dtype=float))
        np.testing.assert_array_equal(np.asarray(other @ m), np.asarray(other, dtype=float))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("ord", [2, 1, np.inf, -np.inf, 0, 3, 1.5, -1, -2.0])
def test_vector_norm_runs_as_fused_reductions_with_numpys_values(ord, dtype):  # noqa: A002
    """vector_norm ran as one Python call to NumPy with a tuple axis (14 us a step of a
    compiled power iteration, against 0.7 for sqrt(sum(w*w))); it now becomes native
    reductions, with NumPy's values: unscaled (1e200's norm is inf, 1e-200's is 0)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5))
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape)
    x = x.astype(dtype)
    x[0, 1] = 0.0
    tol = 1e-5 if dtype is np.float32 else 1e-12
    for axis in (None, 0, -1, (0, 2), (2, 0, 1)):
        for keepdims in (False, True):
            fn = xp.compile(lambda a, axis=axis, keepdims=keepdims: xp.linalg.vector_norm(
                a, axis=axis, keepdims=keepdims, ord=ord))
            got = np.asarray(fn(x))
            with np.errstate(divide="ignore"):
                want = np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol)
            assert not any(type(t.node.op).__name__ == "Linalg"
                           for t in fn.program(x).vm.thunks)
    if np.dtype(dtype) == np.float64:
        for v in (np.array([1e200, 1e200, 0.0]), np.array([1e-200, 3e-200, 0.0])):
            with np.errstate(all="ignore"):
                want = np.linalg.vector_norm(v, ord=ord)
            np.testing.assert_allclose(np.asarray(xp.linalg.vector_norm(xp.asarray(v), ord=ord)),
                                       want, rtol=1e-12)
