"""NumPy data a user can still write: ``asarray`` aliases it (documented, as NumPy's does), but
a copy, a computed value and an operand taken into an expression do not change when the user
writes the array afterwards."""

import copy

import numpy as np
import pytest

import lazyarr as xp


@pytest.mark.parametrize("make", [
    lambda a: a.copy(),
    lambda a: xp.astype(a, xp.float64),
    lambda a: xp.asarray(a, copy=True),
    lambda a: xp.reshape(a, (2, 2), copy=True),
    lambda a: copy.copy(a),
    lambda a: copy.deepcopy(a),
], ids=["copy", "astype", "asarray-copy", "reshape-copy", "copy.copy", "deepcopy"])
def test_copies_of_an_aliasing_array_keep_their_value(make):
    user = np.arange(4.0)
    c = make(xp.asarray(user))
    user[:] = -5.0
    np.testing.assert_array_equal(np.asarray(c).ravel(), np.arange(4.0))


@pytest.mark.parametrize("make", [copy.copy, copy.deepcopy], ids=["copy.copy", "deepcopy"])
def test_copies_do_not_follow_later_writes_to_the_array(make):
    """copy.copy/deepcopy returned the array itself, so a write to it (setitem, an in-place
    operator) showed in the "copy", and a parameter snapshot followed training."""
    w = xp.ones(3)
    saved = make(w) if make is copy.copy else make({"w": w})["w"]
    w -= 0.5
    w[0] = 5.0
    np.testing.assert_array_equal(np.asarray(saved), [1.0, 1.0, 1.0])
    saved[1] = 7.0
    np.testing.assert_array_equal(np.asarray(w), [5.0, 0.5, 0.5])
    base = xp.arange(4.0)
    c = make(base[1:3])  # a copy of a view is not a view
    c[0] = 9.0
    np.testing.assert_array_equal(np.asarray(base), np.arange(4.0))


@pytest.mark.parametrize("op", [
    lambda a: a * 1, lambda a: a - 0, lambda a: a / 1, lambda a: +a, lambda a: xp.negative(-a),
    lambda a: xp.sum(a, axis=()), lambda a: xp.concat([a]), lambda a: xp.clip(a),
], ids=["mul1", "sub0", "div1", "pos", "negneg", "sum()", "concat", "clip"])
def test_a_realized_value_does_not_share_the_users_buffer(op):
    """The rewrites may hand the input back as the result: the value read is then a copy."""
    user = np.arange(4.0)
    for _ in range(2):  # the trace, then the cached program
        user[:] = np.arange(4.0)
        b = op(xp.asarray(user))
        got = np.asarray(b)
        assert not np.shares_memory(got, user)
        user[:] = -5.0
        np.testing.assert_array_equal(np.asarray(b), np.arange(4.0))


def test_a_numpy_operand_is_read_when_the_expression_is_written():
    a = xp.asarray(np.zeros(3))
    n = np.array([1.0, 2.0, 3.0])
    b = a + n
    c = xp.zeros(3)
    c[:] = n
    d = xp.where(a > 0, a, n)
    n[:] = 100.0
    for r in (b, c, d):
        np.testing.assert_array_equal(np.asarray(r), [1.0, 2.0, 3.0])


def test_asarray_still_aliases_and_lazyarr_owned_data_is_not_copied():
    m = np.array([1.0, 2.0, 3.0])
    d = xp.asarray(m)
    m[0] = -1.0
    assert float(d[0]) == -1.0  # documented: asarray aliases, later writes are seen
    r = xp.asarray(np.ones(3)) * 2.0
    data = np.asarray(r)
    assert np.asarray(r.copy()) is data or np.shares_memory(np.asarray(r.copy()), data)


def test_complex_scalar_constants_keep_the_sign_of_their_zero_parts():
    """Constants are shared by value, and complex(1, 0.0) == complex(1, -0.0): such constants
    are not shared, as float zeros are not."""
    u = np.zeros(2, np.complex128)
    u.real = [-0.0, 1.0]
    u.imag = [-0.0, -0.0]
    a = xp.asarray(u)
    for s in (complex(1.0, -0.0), complex(1.0, 0.0), complex(1.0, -0.0),
              np.complex128(complex(1.0, 0.0)), np.complex128(complex(1.0, -0.0))):
        got = np.asarray(a + s)
        np.testing.assert_array_equal(np.signbit(got.imag), np.signbit((u + s).imag))


def test_float_zero_constants_are_shared_by_sign():
    """0.0 and -0.0 are equal keys: a zero constant is shared with zeros of its own sign only
    (``where(m, x, 0.0)`` and ``maximum(x, 0.0)`` make no new leaf per call)."""
    from lazyarr.array.coerce import const

    f64 = np.dtype(np.float64)
    assert const(0.0, f64) is const(0.0, f64)
    assert const(-0.0, f64) is const(-0.0, f64)
    assert const(0.0, f64) is not const(-0.0, f64)
    assert const(1.0, f64) is not const(0.0, f64) and float(const(1.0, f64).data) == 1.0
    assert float(const(-1.0, f64).data) == -1.0
    x = np.array([-1.0, 2.0, -3.0])
    a = xp.asarray(x)
    for z in (0.0, -0.0, 0.0, -0.0):
        for got, want in ((xp.where(a > 0, a, z), np.where(x > 0, x, z)),
                          (xp.maximum(a, z), np.maximum(x, z)), (a * 0.0 + z, x * 0.0 + z)):
            np.testing.assert_array_equal(np.signbit(np.asarray(got)), np.signbit(want))
            np.testing.assert_array_equal(np.asarray(got), want)
