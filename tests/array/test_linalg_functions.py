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
