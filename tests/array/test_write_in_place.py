"""``x[i] = scalar`` on an array that nothing else reads is written into its buffer
(`_front.write_in_place`): a loop filling an array element by element cost ~9.6 us a write
as a chain of functional updates, and costs 0.24-0.43 us (NumPy 0.07 us). A fill (``zeros``) is
made with NumPy at the first write; a buffer somebody else may hold is copied once first
when nobody can write it (a user's writable array stays functional: pending work reads it).
Whenever anybody could tell the difference (a pending node, a view, a second array on the
value, a gradient, a compiled function reading the old value) the update stays functional;
these tests hold each such reader and check it keeps the old value, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp


def _fresh(n=8, dtype=np.float64):
    x = xp.asarray(np.arange(n, dtype=dtype)) * 1  # realized below, its buffer lazyarr's own
    x._value()
    return x


def _in_place(x, key, value) -> bool:
    """Write ``x[key] = value``; whether it went into the buffer (the variable kept)."""
    before = id(x._v)
    x[key] = value
    return id(x._v) == before and x._v.owner is None


def test_a_filling_loop_writes_in_place_and_matches_numpy():
    x, want = _fresh(), np.arange(8.0)
    addr = x._v.data.ctypes.data
    for i in range(8):
        assert _in_place(x, i, i * 1.5)
        want[i] = i * 1.5
    assert _in_place(x, -1, 7)  # an int into a float array, a negative index
    want[-1] = 7
    assert x._v.data.ctypes.data == addr
    np.testing.assert_array_equal(np.asarray(x), want)
    assert not np.asarray(x).flags.writeable  # handed out read-only as before


@pytest.mark.parametrize("dtype, value", [(np.float32, 0.1), (np.int8, -128), (np.uint16, 65535),
                                          (np.complex64, 2.5), (np.bool_, True)])
def test_scalars_convert_as_numpy_does(dtype, value):
    x = _fresh(4, dtype) if dtype != np.bool_ else xp.asarray(np.zeros(4, bool)) == True  # noqa: E712
    x._value()
    want = np.array(np.asarray(x))
    assert _in_place(x, 2, value)
    want[2] = value
    np.testing.assert_array_equal(np.asarray(x), want)
    assert np.asarray(x).dtype == want.dtype


def test_two_dimensional_keys_and_rows():
    x = xp.asarray(np.zeros((3, 4))) + 0
    x._value()
    want = np.zeros((3, 4))
    assert _in_place(x, (1, 2), 5.0)
    assert _in_place(x, 0, 1.0)  # a whole row from one scalar, as NumPy broadcasts it
    assert _in_place(x, (-1,), 2.0)
    want[1, 2], want[0], want[-1] = 5.0, 1.0, 2.0
    np.testing.assert_array_equal(np.asarray(x), want)


@pytest.mark.parametrize("key, value", [(1.0, 1.0), (slice(0, 2), 1.0), ((0, 0), 1.0), (8, 1.0),
                                        (-9, 1.0), (0, np.float64(1.0)), (0, 1j), (0, 2**60)])
def test_other_keys_and_values_take_the_functional_path(key, value):
    x = _fresh()
    want = np.arange(8.0)
    try:
        want[key] = value
    except Exception as exc:  # noqa: BLE001 (the same error type as NumPy's)
        with pytest.raises(type(exc) if not isinstance(exc, TypeError) else (TypeError,
                                                                           IndexError)):
            x[key] = value
        return
    assert not _in_place(x, key, value)
    np.testing.assert_array_equal(np.asarray(x), want)


def test_an_int_out_of_a_dtypes_range_is_not_written_in_place():
    x = _fresh(4, np.int8)
    before = id(x._v)
    with pytest.raises((OverflowError, ValueError, TypeError)):
        x[0] = 300
        np.asarray(x)
    assert id(x._v) == before or x._v.owner is not None


def test_readers_of_the_old_value_keep_it():
    x = _fresh()
    pending = x * 2  # a node reading the old value
    held = np.asarray(x)  # a user's reference to the buffer
    assert not _in_place(x, 0, 100.0)
    del held
    np.testing.assert_array_equal(np.asarray(pending), np.arange(8.0) * 2)
    np.testing.assert_array_equal(np.asarray(x), [100.0, *range(1, 8)])


def test_views_follow_and_bases_are_written():
    x = _fresh()
    row = x[2:5]  # a live view: x's write must reach it
    assert not _in_place(x, 3, -1.0)
    np.testing.assert_array_equal(np.asarray(row), [2.0, -1.0, 4.0])
    v = row
    assert not _in_place(v, 0, -2.0)  # a write through a view goes into its base
    np.testing.assert_array_equal(np.asarray(x)[2:5], [-2.0, -1.0, 4.0])
    del row, v
    y = x[0]  # a 0-d view follows a later write of its base, as before
    assert not _in_place(x, 0, 9.0)
    assert float(y) == 9.0


def test_another_array_on_the_same_value_keeps_it():
    x = _fresh()
    y = xp.reshape(x, x.shape)  # a second array on x's variable (not a view of x)
    assert y._v is x._v
    assert not _in_place(x, 0, 50.0)
    assert float(y[0]) == 0.0 and float(x[0]) == 50.0
    held = np.asarray(x)  # a user's NumPy array of x's buffer keeps its values
    assert _in_place(x, 1, 60.0)  # written into a copy of the buffer, made once
    assert held[1] == 1.0 and float(x[1]) == 60.0
    addr = x._v.data.ctypes.data
    assert _in_place(x, 2, 70.0) and x._v.data.ctypes.data == addr


def test_a_fill_is_made_with_numpy_at_the_first_write():
    for make, fill in ((lambda: xp.zeros(1000), 0.0), (lambda: xp.full(1000, 2.5), 2.5),
                       (lambda: xp.zeros((10, 100), dtype=xp.float32), 0.0)):
        x = make()
        want = np.full(x.shape, fill, dtype=np.asarray(make()).dtype)
        for i in range(10):
            assert _in_place(x, (i, 3) if x.ndim == 2 else i * 7, i + 0.25)
            want[(i, 3) if x.ndim == 2 else i * 7] = i + 0.25
        np.testing.assert_array_equal(np.asarray(x), want)
    z = xp.zeros(5)
    doubled = z + 1  # a node reading the fill: it stays pending, the write functional
    assert not _in_place(z, 0, 3.0)
    np.testing.assert_array_equal(np.asarray(doubled), np.ones(5))
    np.testing.assert_array_equal(np.asarray(z), [3.0, 0, 0, 0, 0])


def test_gradients_and_compiled_functions_see_the_value_they_were_given():
    w = _fresh(4)

    def f(w):
        w[0] = 5.0
        return xp.sum(w * w)

    val, g = xp.value_and_grad(f)(w)
    assert float(val) == 25 + 1 + 4 + 9
    np.testing.assert_array_equal(np.asarray(g), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(np.asarray(w), [0.0, 1.0, 2.0, 3.0])  # the caller's

    c = _fresh(3)
    step = xp.compile(lambda a: a + c)
    first = np.asarray(step(xp.asarray(np.ones(3))))
    c[0] = 100.0  # the compiled function closed over c's old value or reads c: both as NumPy
    np.testing.assert_array_equal(first, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(c), [100.0, 1.0, 2.0])


def test_an_array_whose_size_the_run_decided():
    # a mask's result keeps a size known only at run time in its variable's shape
    x = xp.asarray(np.arange(5.0))
    m = x[x > 1.5]
    m._value()
    m[0] = 10.0
    m[-1] = 11.0
    np.testing.assert_array_equal(np.asarray(m), [10.0, 3.0, 11.0])
    assert [float(v) for v in m] == [10.0, 3.0, 11.0]
    with pytest.raises(IndexError):
        m[3] = 1.0
        np.asarray(m)


def test_a_fill_keeps_signed_zeros():
    for fill in (-0.0, complex(-0.0, 0.0), complex(0.0, -0.0)):
        a = xp.full(3, fill)
        a[0] = 1.0
        want = np.full(3, fill)
        want[0] = 1.0
        got = np.asarray(a)
        np.testing.assert_array_equal(np.signbit(got.real), np.signbit(want.real))
        np.testing.assert_array_equal(np.signbit(got.imag), np.signbit(want.imag))


def test_the_first_write_into_a_fresh_zeros_goes_in_place():
    x = xp.zeros(5)  # its variable is the pending list's last entry
    assert _in_place(x, 0, 1.0)
    np.testing.assert_array_equal(np.asarray(x), [1.0, 0, 0, 0, 0])


def test_a_users_writable_array_is_read_when_the_pending_write_runs():
    # asarray aliases a user's NumPy array: work not yet run sees the user's later writes to it
    u = np.arange(4.0)
    x = xp.asarray(u)
    assert not _in_place(x, 1, 9.0)
    u[2] = -1.0
    np.testing.assert_array_equal(np.asarray(x), [0.0, 9.0, -1.0, 3.0])
    base = np.arange(4.0)
    y = xp.asarray(base[:])  # the user holds the array the data views
    y[0] = 5.0
    base[3] = -3.0
    np.testing.assert_array_equal(np.asarray(y), [5.0, 1.0, 2.0, -3.0])
