"""Manipulation and linear-algebra functions against NumPy on hypothesis-generated shapes
(0-d and empty arrays included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

from ..finite_differences import central_differences as _fd
from .la_helpers import ALL, COMPLEX, FLOATS, INTS, NUMERIC, arrays, check

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
dtypes = st.sampled_from(ALL)


def _array(data, min_dims=0, max_dims=4, min_side=0, max_side=4, dtype=None, label="x"):
    dt = dtype if dtype is not None else data.draw(dtypes, label=label + " dtype")
    shape = data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                       max_side=max_side), label=label + " shape")
    return data.draw(arrays(dt, shape, finite=True, small=True), label=label)


# ---- shapes and axes ------------------------------------------------------------------------

@given(data=st.data())
def test_reshape(data):
    x = _array(data)
    n = x.size
    dims = data.draw(st.lists(st.integers(1, 6), max_size=4), label="dims")
    target = list(dims)
    if n == 0:
        target = target + [0]
    elif math.prod(dims) != n:
        target = [n] + target if math.prod(dims) == 1 else [n]
    if data.draw(st.booleans(), label="use -1") and target:
        i = data.draw(st.integers(0, len(target) - 1), label="where -1")
        assume(target[i] != 0)
        target[i] = -1
    try:
        expected = np.reshape(x, tuple(target))
    except ValueError:  # -1 with a zero-size dimension elsewhere is ambiguous
        with pytest.raises(ValueError):
            xp.reshape(xp.asarray(x), tuple(target))
        return
    check(xp.reshape(xp.asarray(x), tuple(target)), expected, x.dtype)


def test_reshape_errors_and_int_shape():
    a = xp.asarray(np.arange(6))
    check(xp.reshape(a, 6), np.arange(6))
    check(xp.reshape(a, (3, -1)), np.arange(6).reshape(3, -1))
    with pytest.raises(ValueError):
        xp.reshape(a, (4, -1))
    with pytest.raises(ValueError):
        xp.reshape(a, (-1, -1))
    with pytest.raises(ValueError):
        xp.reshape(a, (5,))


def test_reshape_copy_false_is_a_view():
    """copy=False never copies: writes to the result (setitem, in-place operators, views of
    it) go through to the array it reshapes, as NumPy's view does; copy=True and None give
    values of their own."""
    base = np.arange(6.0)
    b = xp.asarray(base.copy())
    r = xp.reshape(b, (2, 3), copy=False)
    r[1, 2] = -1.0
    r += 1.0
    v = r[0]
    v[1] = 42.0
    want = base.copy()
    want[5] = -1.0
    want += 1.0
    want[1] = 42.0
    check(b, want)
    check(r, want.reshape(2, 3))
    assert xp.reshape(b, (6,), copy=False) is b
    # a base whose size is known only at run time (a masked read)
    masked = xp.asarray(base.copy())[xp.asarray(base > 1)]
    col = xp.reshape(masked, (-1, 1), copy=False)
    col += 1.0
    check(masked, base[base > 1] + 1.0)
    for copy in (True, None):
        c = xp.reshape(b, (3, 2), copy=copy)
        c[0, 0] = 55.0
        check(b, want)


@given(data=st.data())
def test_permute_dims_and_transposes(data):
    x = _array(data)
    perm = data.draw(st.permutations(range(x.ndim)), label="perm")
    a = xp.asarray(x)
    check(xp.permute_dims(a, tuple(perm)), np.transpose(x, perm), x.dtype)
    check(a.T, x.T, x.dtype)  # lazyarr (like NumPy) reverses all axes, whatever the rank
    if x.ndim >= 2:
        check(a.mT, np.swapaxes(x, -1, -2), x.dtype)
        check(xp.matrix_transpose(a), np.matrix_transpose(x), x.dtype)
    else:
        with pytest.raises(ValueError):
            xp.matrix_transpose(a)
        with pytest.raises(ValueError):
            _ = a.mT


@given(data=st.data())
def test_expand_dims_squeeze(data):
    x = _array(data, max_dims=3)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim), label="axis")
    e = xp.expand_dims(xp.asarray(x), axis=axis)
    check(e, np.expand_dims(x, axis), x.dtype)
    ones = tuple(i for i, d in enumerate(e.shape) if d == 1)
    sq = data.draw(st.sets(st.sampled_from(ones), min_size=1), label="squeeze axes")
    sq = tuple(sorted(sq))
    check(xp.squeeze(e, axis=sq), np.squeeze(np.expand_dims(x, axis), axis=sq), x.dtype)


def test_squeeze_errors():
    with pytest.raises(ValueError):
        xp.squeeze(xp.asarray(np.ones((2, 1))), axis=0)
    with pytest.raises(ValueError):
        xp.expand_dims(xp.asarray(np.ones(2)), axis=3)


@given(data=st.data())
def test_broadcast_to_and_arrays(data):
    bshapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=4,
                                                          max_side=3), label="shapes")
    xs = [data.draw(arrays(np.float64, s, small=True)) for s in bshapes.input_shapes]
    outs = xp.broadcast_arrays(*[xp.asarray(x) for x in xs])
    for o, e in zip(outs, np.broadcast_arrays(*xs)):
        check(o, e)
    check(xp.broadcast_to(xp.asarray(xs[0]), bshapes.result_shape),
          np.broadcast_to(xs[0], bshapes.result_shape))


def test_broadcast_errors():
    with pytest.raises(ValueError):
        xp.broadcast_to(xp.asarray(np.ones(3)), (2, 4))
    with pytest.raises(ValueError):
        xp.broadcast_to(xp.asarray(np.ones((2, 3))), (3,))
    with pytest.raises(ValueError):
        xp.broadcast_arrays(xp.asarray(np.ones(3)), xp.asarray(np.ones(2)))


def test_broadcast_to_a_size_known_only_at_run_time():
    """A mask's size may meet any target size (1 or equal at run time, as NumPy checks when
    it runs); known sizes are still checked at once."""
    x = np.array([1.0, -2.0, 3.0])
    a = xp.asarray(x)
    check(xp.broadcast_to(a[a > 2], (4, 1)), np.broadcast_to(x[x > 2], (4, 1)))
    check(xp.broadcast_to(a[a > 2], (2, 3)), np.broadcast_to(x[x > 2], (2, 3)))
    check(xp.broadcast_to(a[a > 0], (3, 2)), np.broadcast_to(x[x > 0], (3, 2)))
    m = xp.reshape(a, (3, 1))[xp.asarray([True, False, True])]  # (None, 1)
    check(xp.broadcast_to(m, (2, 2, 4)), np.broadcast_to(x[[0, 2], None], (2, 2, 4)))
    with pytest.raises(ValueError):
        np.asarray(xp.broadcast_to(a[a > 0], (4, 3)))  # 2 elements at run time
    with pytest.raises(ValueError):
        np.asarray(xp.broadcast_to(m, (4, 3)))
    rows = xp.ones((2, 3))[xp.asarray([True, False])]  # (None, 3)
    with pytest.raises(ValueError, match="cannot broadcast"):
        xp.broadcast_to(rows, (2, 4))
    with pytest.raises(ValueError, match="cannot broadcast"):
        xp.broadcast_to(rows, (3,))


# ---- joining and splitting ------------------------------------------------------------------

@given(data=st.data())
def test_concat(data):
    base = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3),
                     label="shape")
    axis = data.draw(st.integers(-len(base), len(base) - 1), label="axis")
    k = data.draw(st.integers(1, 3), label="count")
    xs = []
    for i in range(k):
        s = list(base)
        s[axis] = data.draw(st.integers(0, 3), label=f"size {i}")
        dt = data.draw(st.sampled_from(NUMERIC), label=f"dtype {i}")
        xs.append(data.draw(arrays(dt, tuple(s), finite=True, small=True), label=f"x{i}"))
    dt = np.result_type(*xs)
    r = xp.concat([xp.asarray(x) for x in xs], axis=axis)
    check(r, np.concatenate(xs, axis=axis), dt)
    r = xp.concat([xp.asarray(x) for x in xs], axis=None)
    check(r, np.concatenate([x.ravel() for x in xs]), dt)


def test_concat_errors():
    with pytest.raises(ValueError):
        xp.concat([])
    with pytest.raises(ValueError):
        xp.concat([xp.asarray(np.ones((2, 3))), xp.asarray(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError):
        xp.concat([xp.asarray(np.ones((2, 3))), xp.asarray(np.ones(3))])
    with pytest.raises(ValueError):
        xp.concat([xp.asarray(1.0), xp.asarray(2.0)])


@given(data=st.data())
def test_stack_unstack(data):
    x0 = _array(data, max_dims=3, dtype=data.draw(st.sampled_from(NUMERIC)))
    k = data.draw(st.integers(1, 3), label="count")
    xs = [x0] + [data.draw(arrays(x0.dtype, x0.shape, finite=True, small=True))
                 for _ in range(k - 1)]
    axis = data.draw(st.integers(-x0.ndim - 1, x0.ndim), label="axis")
    s = xp.stack([xp.asarray(x) for x in xs], axis=axis)
    expected = np.stack(xs, axis=axis)
    check(s, expected, x0.dtype)
    parts = xp.unstack(s, axis=axis)
    assert isinstance(parts, tuple) and len(parts) == k
    for p, x in zip(parts, xs):
        check(p, x, x0.dtype)


def test_stack_errors():
    with pytest.raises(ValueError):
        xp.stack([xp.asarray(np.ones(2)), xp.asarray(np.ones(3))])
    with pytest.raises(ValueError):
        xp.unstack(xp.asarray(1.0))


# ---- reordering ---------------------------------------------------------------------------

@given(data=st.data())
def test_flip(data):
    x = _array(data)
    axis = None
    if x.ndim and data.draw(st.booleans(), label="axis given"):
        axis = data.draw(st.one_of(st.integers(-x.ndim, x.ndim - 1),
                                   hnp.valid_tuple_axes(x.ndim, min_size=1)), label="axis")
    check(xp.flip(xp.asarray(x), axis=axis), np.flip(x, axis=axis), x.dtype)


@given(data=st.data())
def test_roll(data):
    x = _array(data)
    if x.ndim == 0 or data.draw(st.booleans(), label="flat"):
        shift = data.draw(st.integers(-7, 7), label="shift")
        check(xp.roll(xp.asarray(x), shift), np.roll(x, shift), x.dtype)
        return
    axes = data.draw(hnp.valid_tuple_axes(x.ndim, min_size=1), label="axes")
    shifts = data.draw(st.lists(st.integers(-7, 7), min_size=len(axes), max_size=len(axes)),
                       label="shifts")
    check(xp.roll(xp.asarray(x), tuple(shifts), axis=axes), np.roll(x, shifts, axis=axes),
          x.dtype)
    check(xp.roll(xp.asarray(x), shifts[0], axis=axes[0]), np.roll(x, shifts[0], axis=axes[0]),
          x.dtype)


@given(data=st.data())
def test_moveaxis(data):
    x = _array(data, min_dims=1)
    k = data.draw(st.integers(1, x.ndim), label="count")
    src = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=k, max_size=k,
                             unique_by=lambda a: a % x.ndim), label="source")
    dst = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=k, max_size=k,
                             unique_by=lambda a: a % x.ndim), label="destination")
    check(xp.moveaxis(xp.asarray(x), tuple(src), tuple(dst)), np.moveaxis(x, src, dst),
          x.dtype)
    check(xp.moveaxis(xp.asarray(x), src[0], dst[0]), np.moveaxis(x, src[0], dst[0]), x.dtype)


# ---- repeating ----------------------------------------------------------------------------

@given(data=st.data())
def test_repeat(data):
    x = _array(data, max_dims=3)
    axis = None
    if x.ndim and data.draw(st.booleans(), label="axis given"):
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    if data.draw(st.booleans(), label="int repeats"):
        reps = data.draw(st.integers(0, 3), label="repeats")
        check(xp.repeat(xp.asarray(x), reps, axis=axis), np.repeat(x, reps, axis=axis),
              x.dtype)
        return
    n = x.size if axis is None else x.shape[axis]
    reps = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3)), label="repeats")
    r = xp.repeat(xp.asarray(x), xp.asarray(reps), axis=axis)
    expected = np.repeat(x, reps, axis=axis)
    assert r.shape == expected.shape  # a data-dependent size, computed on demand
    check(r, expected, x.dtype)
    check(r * 1 if x.dtype != np.bool_ else r & True, expected, x.dtype)  # ops build on it


@given(data=st.data())
def test_tile(data):
    x = _array(data, max_dims=3)
    reps = data.draw(st.lists(st.integers(0, 3), max_size=4), label="reps")
    check(xp.tile(xp.asarray(x), tuple(reps)), np.tile(x, reps), x.dtype)


def test_repeat_tile_errors():
    with pytest.raises(ValueError):
        xp.repeat(xp.asarray([1, 2]), -1)
    with pytest.raises(TypeError):
        xp.repeat(xp.asarray([1, 2]), xp.asarray([1.0, 2.0]))
    with pytest.raises(ValueError):
        xp.tile(xp.asarray([1, 2]), (-1,))


def test_errors_of_known_repeat_counts_and_gather_indices_raise_where_built():
    """As ``x[idx]`` does: repeats of the wrong shape or with a negative count, and ``take``
    / ``take_along_axis`` indices out of bounds, when their values are known (a list, a
    NumPy or realized array), raise at the call (they raised when the value was read)."""
    a = xp.ones((2, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        xp.repeat(a, xp.asarray([1, 2]), axis=1)
    with pytest.raises(ValueError, match="do not broadcast"):
        xp.repeat(a, xp.asarray([[1, 2, 1]]), axis=1)
    with pytest.raises(ValueError, match="non-negative"):
        xp.repeat(a, xp.asarray([1, -2, 1]), axis=1)
    with pytest.raises(IndexError, match="out of bounds"):
        xp.take(a, xp.asarray([5]), axis=1)
    with pytest.raises(IndexError, match="out of bounds"):
        xp.take(a, [-4], axis=1)
    with pytest.raises(IndexError, match="out of bounds"):
        xp.take_along_axis(a, xp.asarray([[5]]), axis=1)
    x = np.arange(6.0).reshape(2, 3)
    for reps, axis in (([2], 1), (2, 1), ([1, 2, 1, 1, 1, 1], None), ([0, 1, 2], 1)):
        np.testing.assert_array_equal(np.asarray(xp.repeat(xp.asarray(x), xp.asarray(reps),
                                                           axis=axis)),
                                      np.repeat(x, reps, axis=axis))
    np.testing.assert_array_equal(np.asarray(xp.take(xp.asarray(x), [-3, 2], axis=1)),
                                  np.take(x, [-3, 2], axis=1))



@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64"])
def test_searchsorted_takes_a_sorter_of_any_integer_dtype(dtype):
    """The standard allows any integer dtype for ``sorter``; NumPy refuses uint64 ones (a
    build that succeeded, then "could not parse sorter argument" when read)."""
    x1, x2 = np.array([3.0, 1.0, 2.0, 2.0]), np.array([[2.5, 0.0], [2.0, 9.0]])
    order = np.argsort(x1, kind="stable")
    for side in ("left", "right"):
        got = xp.searchsorted(xp.asarray(x1), xp.asarray(x2), side=side,
                              sorter=xp.asarray(order.astype(dtype)))
        assert got.dtype == xp.int64
        np.testing.assert_array_equal(np.asarray(got), np.searchsorted(
            x1, x2, side=side, sorter=order.astype(np.int64)))


# ---- products -----------------------------------------------------------------------------

def _mm_shapes(data):
    """Operands of matmul: 1-d or batched, broadcasting batch dims, with matching inner dims."""
    n, k, m = (data.draw(st.integers(0, 4), label=s) for s in "nkm")
    b = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
                  label="batch").input_shapes
    left = data.draw(st.sampled_from(["vec", "mat"]), label="left")
    right = data.draw(st.sampled_from(["vec", "mat"]), label="right")
    s1 = (k,) if left == "vec" else b[0] + (n, k)
    s2 = (k,) if right == "vec" else b[1] + (k, m)
    return s1, s2


@given(data=st.data())
def test_matmul(data):
    s1, s2 = _mm_shapes(data)
    d1 = data.draw(st.sampled_from(NUMERIC), label="dtype1")
    d2 = data.draw(st.sampled_from([d1] + NUMERIC), label="dtype2")
    a = data.draw(arrays(d1, s1, finite=True, small=True), label="a")
    b = data.draw(arrays(d2, s2, finite=True, small=True), label="b")
    dt = np.result_type(d1, d2)
    expected = np.matmul(a.astype(dt), b.astype(dt))
    tol = 8 * float(np.finfo(dt).eps) * 100 * 100 * max(s1[-1], 1) if dt.kind in "fc" else 0
    check(xp.matmul(xp.asarray(a), xp.asarray(b)), expected, dt, atol=tol)
    check(xp.asarray(a) @ xp.asarray(b), expected, dt, atol=tol)


def test_matmul_errors():
    with pytest.raises(ValueError):
        xp.matmul(xp.asarray(np.ones((2, 3))), xp.asarray(np.ones((4, 2))))
    with pytest.raises(ValueError):
        xp.matmul(xp.asarray(1.0), xp.asarray(np.ones(2)))
    with pytest.raises(ValueError):
        xp.matmul(xp.asarray(np.ones((2, 2, 3))), xp.asarray(np.ones((3, 3, 2))))
    with pytest.raises(TypeError):
        xp.matmul(xp.asarray(np.ones((2, 2), bool)), xp.asarray(np.ones((2, 2), bool)))


@given(data=st.data())
def test_tensordot(data):
    dt = data.draw(st.sampled_from(FLOATS + INTS + COMPLEX), label="dtype")
    free1 = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label="free1")
    free2 = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label="free2")
    shared = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                       label="contracted")
    a = data.draw(arrays(dt, free1 + shared, finite=True, small=True), label="a")
    b = data.draw(arrays(dt, shared + free2, finite=True, small=True), label="b")
    k = len(shared)
    tol = 8 * float(np.finfo(dt).eps) * 1e4 * max(math.prod(shared), 1) if dt.kind in "fc" else 0
    check(xp.tensordot(xp.asarray(a), xp.asarray(b), axes=k), np.tensordot(a, b, axes=k), dt,
          atol=tol)
    # pair form: contract in a shuffled order, with negative axes on one side
    order = data.draw(st.permutations(range(k)), label="order")
    ax1 = [len(free1) + i for i in order]
    ax2 = [i - b.ndim for i in order]
    check(xp.tensordot(xp.asarray(a), xp.asarray(b), axes=(ax1, ax2)),
          np.tensordot(a, b, axes=(ax1, ax2)), dt, atol=tol)


def test_tensordot_errors():
    with pytest.raises(ValueError):
        xp.tensordot(xp.asarray(np.ones((2, 3))), xp.asarray(np.ones((2, 3))), axes=1)
    with pytest.raises(ValueError):
        xp.tensordot(xp.asarray(np.ones(2)), xp.asarray(np.ones(2)), axes=2)
    with pytest.raises(ValueError):
        xp.tensordot(xp.asarray(np.ones(2)), xp.asarray(np.ones(2)), axes=([0], []))


@given(data=st.data())
def test_vecdot(data):
    dt = data.draw(st.sampled_from(FLOATS + INTS + COMPLEX), label="dtype")
    s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                         max_side=3), label="shapes").input_shapes
    n = data.draw(st.integers(0, 4), label="n")
    s1, s2 = s1[:-1] + (n,), s2[:-1] + (n,)
    a = data.draw(arrays(dt, s1, finite=True, small=True), label="a")
    b = data.draw(arrays(dt, s2, finite=True, small=True), label="b")
    nd = max(len(s1), len(s2))
    axis = data.draw(st.sampled_from([-1, nd - 1]), label="axis")
    # the axis counts in the broadcast shape (NumPy's counts per operand): broadcast first
    ab, bb = np.broadcast_arrays(a, b)
    expected = np.vecdot(ab, bb, axis=axis)  # conjugates the first operand
    tol = 8 * float(np.finfo(dt).eps) * 1e4 * max(n, 1) if dt.kind in "fc" else 0
    check(xp.vecdot(xp.asarray(a), xp.asarray(b), axis=axis), expected, dt, atol=tol)


def test_vecdot_complex_conjugates_the_first_operand():
    a = np.array([1 + 2j, 3 - 1j])
    b = np.array([2 - 1j, 1j])
    r = xp.vecdot(xp.asarray(a), xp.asarray(b))
    check(r, np.sum(np.conj(a) * b))
    assert complex(r) != complex(np.sum(a * b))


def test_vecdot_errors():
    with pytest.raises(ValueError):
        xp.vecdot(xp.asarray(np.ones(3)), xp.asarray(np.ones(2)))
    with pytest.raises(ValueError):
        xp.vecdot(xp.asarray(1.0), xp.asarray(1.0))


def test_stack_and_expand_dims_of_a_run_time_sized_array():
    """A mask's result has a size known only at run time; a new axis beside it is a reshape
    whose target holds that unknown size."""
    x = np.arange(10.0)
    a = xp.asarray(x)
    for _ in range(2):
        b = a[xp.asarray(x > 6)]
        np.testing.assert_array_equal(np.asarray(xp.stack([b, b])), np.stack([x[x > 6]] * 2))
        np.testing.assert_array_equal(np.asarray(xp.expand_dims(b, axis=0)), x[x > 6][None])
        np.testing.assert_array_equal(np.asarray(xp.stack([b, b], axis=1)),
                                      np.stack([x[x > 6]] * 2, axis=1))
    m = xp.asarray(x > 7)
    outer = a[m][:, None] * a[m][None, :]  # (None, None)
    np.testing.assert_array_equal(np.asarray(xp.expand_dims(outer, axis=0)),
                                  np.outer(x[x > 7], x[x > 7])[None])


def test_stack_of_a_run_time_sized_array_with_a_static_one():
    """A size known only at run time matches any size: stacking a mask's result with an array
    of the same (static) shape works, in either order and on any axis, as in NumPy."""
    x = np.arange(12.0).reshape(6, 2)
    a = xp.asarray(x)
    b = a[xp.asarray(x[:, 0] > 5)]  # (None, 2), 3 rows at run time
    c = xp.ones((3, 2))
    want = x[x[:, 0] > 5]
    for axis in (0, 1, 2, -1):
        np.testing.assert_array_equal(np.asarray(xp.stack([c, b], axis=axis)),
                                      np.stack([np.ones((3, 2)), want], axis=axis))
        np.testing.assert_array_equal(np.asarray(xp.stack([b, c, b], axis=axis)),
                                      np.stack([want, np.ones((3, 2)), want], axis=axis))
    assert xp.stack([c, b]).shape == (2, 3, 2)
    with pytest.raises(ValueError):
        xp.stack([b, xp.ones((3, 3))])


def test_squeeze_of_a_run_time_sized_axis():
    """A mask's result whose run-time size is 1 squeezes as NumPy's (scipy.stats.ttest_1samp
    with nan_policy='omit' squeezes one); a size other than 1 raises ValueError."""
    x = np.arange(1.0, 7.0).reshape(2, 3)
    a = xp.asarray(x)
    one_row = a[xp.asarray(x[:, 0] > 2)]  # (None, 3), one row at run time
    np.testing.assert_array_equal(np.asarray(xp.squeeze(one_row, axis=0)), x[1])
    np.testing.assert_array_equal(np.asarray(xp.squeeze(a[a > 5], axis=0)), 6.0)
    w = xp.asarray(x.ravel())
    outer = w[w > 5][:, None] * w[w > 3][None, :]  # (None, None): (1, 3) at run time
    np.testing.assert_array_equal(np.asarray(xp.squeeze(outer, axis=0)), 6.0 * x.ravel()[3:])
    with pytest.raises(ValueError):
        xp.squeeze(w[w > 4][:, None] * w[w > 3][None, :], axis=0)
    with pytest.raises(ValueError):
        np.asarray(xp.squeeze(a[xp.asarray(x[:, 0] > 0)], axis=0))


def test_meshgrid_and_broadcast_arrays_of_run_time_sized_arrays():
    x = np.array([0.5, -1.0, 2.0, 3.0, -4.0])
    a = xp.asarray(x)
    m = a[a > 0]
    mn = x[x > 0]
    for indexing in ("xy", "ij"):
        got = xp.meshgrid(m, a[:2], indexing=indexing)
        for g, w in zip(got, np.meshgrid(mn, x[:2], indexing=indexing)):
            np.testing.assert_array_equal(np.asarray(g), w)
    got = xp.broadcast_arrays(m[:, None], a[:3])
    for g, w in zip(got, np.broadcast_arrays(mn[:, None], x[:3])):
        np.testing.assert_array_equal(np.asarray(g), w)
    with pytest.raises(ValueError, match="broadcast"):
        np.asarray(xp.broadcast_arrays(m, a[:2])[0])  # 3 and 2 elements


def test_vecdot_and_tensordot_of_a_run_time_sized_array():
    """A contracted axis whose size only the run knows (a mask's result) meets a known one:
    the sizes are compared when the program runs, and tensordot builds no read of the
    value (it works inside grad)."""
    x = np.arange(12.0).reshape(6, 2) - 5
    y = np.arange(6.0).reshape(3, 2) + 1
    a = xp.asarray(x)
    s = a[a[:, 0] > 0]  # 3 rows
    sn = x[x[:, 0] > 0]
    np.testing.assert_array_equal(np.asarray(xp.vecdot(s, xp.asarray(y), axis=0)),
                                  np.sum(sn * y, axis=0))
    np.testing.assert_array_equal(np.asarray(xp.tensordot(s, xp.asarray(y), axes=([0], [0]))),
                                  np.tensordot(sn, y, axes=([0], [0])))
    np.testing.assert_array_equal(np.asarray(xp.tensordot(s, s, axes=([1], [1]))),
                                  np.tensordot(sn, sn, axes=([1], [1])))

    def f(v):
        m = v[v[:, 0] > 0]
        return xp.sum(xp.tensordot(m, m, axes=([0], [0])))

    def f_ref(v):
        m = v[v[:, 0] > 0]
        return xp.sum(m.T @ m)

    np.testing.assert_allclose(np.asarray(xp.grad(f)(x)), np.asarray(xp.grad(f_ref)(x)))
    with pytest.raises(ValueError):
        np.asarray(xp.vecdot(s, xp.asarray(np.ones((4, 2))), axis=0))  # 3 rows against 4


def _stacked(ns, m):
    """``(2, K)`` rows ``m`` and ``2 m`` of a 1-d ``m`` (K known only at run time in lazyarr)."""
    return ns.stack([m, 2 * m])


#: name -> (tensordot of a masked x (K positive elements) and y, y's shape)
_SEVERAL_RUN_TIME_AXES = {
    "known sizes": (lambda ns, x, y: ns.tensordot(_stacked(ns, x[x > 0]), y,
                                                  axes=([0, 1], [0, 1])), (2, 3)),
    "known 1": (lambda ns, x, y: ns.tensordot(_stacked(ns, x[x > 0]), y,
                                              axes=([0, 1], [0, 1])), (2, 1)),
    "both run time": (lambda ns, x, y: ns.tensordot(_stacked(ns, x[x > 0]), _stacked(ns, y),
                                                    axes=([1, 0], [1, 0])), (3,)),
    "outer": (lambda ns, x, y: ns.tensordot(x[x > 0][:, None] * x[x > 0], y, axes=2), (3, 3)),
    "free axes": (lambda ns, x, y: ns.tensordot(ns.stack([_stacked(ns, x[x > 0])] * 3), y,
                                                axes=([0, 2], [1, 0])), (3, 3, 2)),
    "free run time": (lambda ns, x, y: ns.tensordot(x[x > 0][:, None] * x[x > 0][None, :],
                                                    ns.stack([y, y]), axes=([1], [1])),
                      (3, 4)),
}


@pytest.mark.parametrize("positive", [1, 3])
@pytest.mark.parametrize("name", sorted(_SEVERAL_RUN_TIME_AXES))
def test_tensordot_of_several_run_time_sized_axes(name, positive):
    """Several contracted axes, sizes known only at run time (K = 1 or 3 elements of a mask):
    NumPy's values, or its ValueError where the sizes differ (a run-time 1 was once
    stretched by broadcasting and summed, and a known 1 refused even against a 1)."""
    f, y_shape = _SEVERAL_RUN_TIME_AXES[name]
    x = np.array([-1.0, 2.0, -3.0, 0.5, 4.0])
    if positive == 1:
        x = np.where(x > 3, x, -np.abs(x))
    y = np.arange(1.0, 1.0 + math.prod(y_shape)).reshape(y_shape)
    try:
        want = f(np, x, y)
    except ValueError:
        with pytest.raises(ValueError):
            np.asarray(f(xp, xp.asarray(x), xp.asarray(y)))
        return
    np.testing.assert_allclose(np.asarray(f(xp, xp.asarray(x), xp.asarray(y))), want)
    weights = np.arange(np.size(want), dtype=np.float64).reshape(np.shape(want)) - 2

    def loss(ns, x, y):
        return ns.sum(f(ns, x, y) * weights)

    gx, gy = xp.grad(lambda a, b: loss(xp, a, b), argnums=(0, 1))(xp.asarray(x), xp.asarray(y))
    np.testing.assert_allclose(np.asarray(gx), _fd(lambda v: loss(np, v, y), x), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gy), _fd(lambda v: loss(np, x, v), y), atol=1e-6)


def test_contractions_of_a_run_time_size_against_one_raise():
    """A contracted size only the run knows against a known 1 (or 1 row against 3): NumPy
    raises, and so do vecdot and tensordot (they once broadcast the 1 and summed)."""
    x = np.arange(12.0).reshape(6, 2) - 5
    a = xp.asarray(x)
    s = a[a[:, 0] > 0]  # 3 rows at run time
    one = a[a[:, 0] > 4]  # 1 row at run time
    with pytest.raises(ValueError):
        np.asarray(xp.vecdot(s, xp.asarray(np.ones((1, 2))), axis=0))
    with pytest.raises(ValueError):
        np.asarray(xp.vecdot(one, xp.asarray(np.ones((3, 2))), axis=0))
    with pytest.raises(ValueError):
        np.asarray(xp.tensordot(s, xp.asarray(np.ones((1, 2))), axes=([0], [0])))
    np.testing.assert_array_equal(  # equal sizes: the values
        np.asarray(xp.vecdot(one, xp.asarray(np.full((1, 2), 2.0)), axis=0)),
        np.sum(x[x[:, 0] > 4] * 2.0, axis=0))
    big = xp.asarray(np.arange(2000.0).reshape(1000, 2))
    rows = big[big[:, 0] >= 0]  # (None, 2): a matmul, no (1000, 2, n) temporary
    w = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(np.asarray(xp.tensordot(rows, xp.asarray(w), axes=1)),
                               np.arange(2000.0).reshape(1000, 2) @ w)


# ---- sorting and unique ---------------------------------------------------------------------

@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.bool_, np.float64, np.float32])
def test_sort_values_match_a_stable_numpy_sort(dtype, descending, monkeypatch):
    """A values-only sort of integers or bools cannot show stability, so it takes NumPy's
    default (~10x faster) kind; floats stay stable: -0.0 and +0.0 keep their order."""
    rng = np.random.default_rng(3)
    if np.dtype(dtype).kind == "f":
        x = rng.choice(np.array([-0.0, 0.0, 1.5, -2.0], dtype), (40, 30))
    else:
        x = rng.integers(0, 2 if dtype is np.bool_ else 50, (40, 30)).astype(dtype)
    kinds = []
    real = np.sort
    monkeypatch.setattr(np, "sort", lambda a, axis=-1, kind=None, **k: (
        kinds.append(kind), real(a, axis=axis, kind=kind, **k))[1])
    for axis in (0, 1):
        got = np.asarray(xp.sort(xp.asarray(x), axis=axis, descending=descending))
        if descending:
            want = np.flip(real(np.flip(x, axis), axis=axis, kind="stable"), axis)
        else:
            want = real(x, axis=axis, kind="stable")
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    assert kinds and set(kinds) == {"stable" if np.dtype(dtype).kind == "f" else None}


@pytest.mark.parametrize("kind", ["values", "counts", "inverse", "all"])
def test_unique_computes_only_the_outputs_it_returns(kind, monkeypatch):
    """unique_values asked np.unique for first indices, inverse indices and counts and
    dropped them (37 ms against 0.7 ms on 512x512); each flavour now asks for its own."""
    x = np.array([[3.0, np.nan, 1.0], [3.0, 2.0, np.nan]])
    calls = []
    real = np.unique
    monkeypatch.setattr(np, "unique", lambda *a, **k: (calls.append(k), real(*a, **k))[1])
    got = getattr(xp, f"unique_{kind}")(xp.asarray(x))
    got = [np.asarray(g) for g in (got if isinstance(got, tuple) else (got,))]
    vals, idx, inv, cnt = real(x.reshape(-1), return_index=True, return_inverse=True,
                               return_counts=True, equal_nan=False)
    want = {"values": [vals], "counts": [vals, cnt], "inverse": [vals, inv.reshape(x.shape)],
            "all": [vals, idx, inv.reshape(x.shape), cnt]}[kind]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    asked = {f for f in ("return_index", "return_inverse", "return_counts") if calls[-1].get(f)}
    assert asked == {"values": set(), "counts": {"return_counts"},
                     "inverse": {"return_inverse"}, "all": {"return_index", "return_inverse",
                                                            "return_counts"}}[kind]
