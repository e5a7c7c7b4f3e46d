"""``x[key]`` and the functional ``x[key] = value`` against NumPy: basic slicing (negative
steps, ellipsis, new axes), integer arrays (multi-dimensional, non-adjacent), boolean masks
(data-dependent sizes) and broadcasting values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

from .la_helpers import ALL, arrays, check

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


def _array(data, shape_strategy=shapes):
    dt = data.draw(st.sampled_from(ALL), label="dtype")
    shape = data.draw(shape_strategy, label="shape")
    return data.draw(arrays(dt, shape, finite=True, small=True), label="x")


# ---- getitem --------------------------------------------------------------------------------

@given(data=st.data())
def test_basic_indexing(data):
    x = _array(data)
    key = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True),
                    label="key")
    check(xp.asarray(x)[key], x[key], x.dtype)


def test_basic_indexing_examples():
    x = np.arange(60).reshape(3, 4, 5)
    a = xp.asarray(x)
    for key in [(slice(None, None, -1),), (Ellipsis, slice(None, None, -2)),
                (1, Ellipsis, None), (-1, slice(3, 0, -1), 2), (None, Ellipsis, None),
                (slice(-100, 100),), (slice(5, 1),), (0, 0, 0), (Ellipsis,), (),
                (np.int64(1), slice(None), np.int8(-1)), (slice(None), None, 1)]:
        check(a[key], x[key])
    check(a[1][2][3], x[1][2][3])


@given(data=st.data())
def test_integer_array_indexing(data):
    x = _array(data, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    idx = data.draw(hnp.integer_array_indices(
        x.shape, result_shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
        label="int arrays")
    check(xp.asarray(x)[idx], x[idx], x.dtype)
    check(xp.asarray(x)[tuple(xp.asarray(i) for i in idx)], x[idx], x.dtype)


@given(data=st.data())
def test_mixed_advanced_indexing(data):
    """An index array, a slice and another index array: NumPy's placement rules (adjacent
    advanced indices stay in place, non-adjacent ones move to the front)."""
    x = _array(data, hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=4))
    rshape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label="idx shape")
    i0 = data.draw(hnp.arrays(np.int64, rshape, elements=st.integers(-x.shape[0],
                                                                     x.shape[0] - 1)))
    i2 = data.draw(hnp.arrays(np.int32, rshape[-1:], elements=st.integers(-x.shape[2],
                                                                         x.shape[2] - 1)))
    i1 = data.draw(hnp.arrays(np.int16, (), elements=st.integers(0, x.shape[1] - 1)))
    a = xp.asarray(x)
    for key in [(i0, slice(None), i2), (slice(None), i1, i2), (i0, i1),
                (Ellipsis, i2, slice(None)) if x.ndim == 4 else (Ellipsis, i2),
                (i0, None, slice(None, None, -1), i2)]:
        check(a[key], x[key], x.dtype)


def test_integer_index_arrays_of_every_integer_dtype_and_lists():
    x = np.arange(10) * 10
    a = xp.asarray(x)
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
               np.uint64):
        idx = np.array([[1, 3], [9, 0]], dt)
        check(a[xp.asarray(idx)], x[idx])
    check(a[[1, -1, 2]], x[[1, -1, 2]])


@given(data=st.data())
def test_boolean_mask(data):
    x = _array(data, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    k = data.draw(st.integers(1, x.ndim), label="mask dims")
    mask = data.draw(hnp.arrays(np.bool_, x.shape[:k]), label="mask")
    r = xp.asarray(x)[xp.asarray(mask)]
    expected = x[mask]
    assert r.shape == expected.shape  # computed on demand
    check(r, expected, x.dtype)
    # ops build on the data-dependent size (it is unknown until run time in the graph)
    m2 = xp.asarray(x)[xp.asarray(mask)]
    if x.dtype.kind in "iufc":
        acc = {"i": np.int64, "u": np.uint64}.get(x.dtype.kind, x.dtype)
        check(xp.sum(m2 * 2, axis=0), np.sum(expected * 2, axis=0, dtype=acc), acc)
    check(xp.asarray(x)[xp.asarray(mask)][..., None], expected[..., None], x.dtype)


def test_mask_size_is_symbolic_in_the_graph_and_known_on_demand():
    x = np.arange(10.0)
    a = xp.asarray(x)
    m = a[a > 4.5]
    assert m._v.shape == (None,)        # unknown when built
    y = m * 2 + 1                       # builds on it without computing
    assert y._v.owner is not None
    assert y.shape == (5,)              # computed on demand
    check(y, x[x > 4.5] * 2 + 1)
    z = xp.concat([m, a])               # joining keeps the unknown size symbolic
    check(z, np.concatenate([x[x > 4.5], x]))
    check(a[a > 100.0], np.zeros(0))
    check(a[xp.asarray(True)], x[True])  # a 0-d mask adds an axis
    check(a[xp.asarray(False)], x[False])


def test_mask_combined_with_slices():
    x = np.arange(24).reshape(2, 3, 4)
    a = xp.asarray(x)
    mask = np.array([True, False, True])
    check(a[:, mask], x[:, mask])
    check(a[1, mask, ::-1], x[1, mask, ::-1])
    m2 = x[0] > 5
    check(a[:, m2], x[:, m2])


def test_index_errors_at_build_time():
    a = xp.asarray(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        a[2]
    with pytest.raises(IndexError):
        a[0, -4]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        a[..., ...]
    with pytest.raises(IndexError):
        a[xp.asarray([1.0])]
    with pytest.raises(IndexError):
        a[xp.asarray(np.ones((3,), bool))]
    with pytest.raises(IndexError):
        a["x"]
    with pytest.raises(ValueError):
        a[::0]


# ---- setitem --------------------------------------------------------------------------------

@given(data=st.data())
def test_setitem_basic(data):
    x = _array(data, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    key = data.draw(hnp.basic_indices(x.shape, allow_newaxis=False, allow_ellipsis=True),
                    label="key")
    sel = x[key].shape
    vshape = data.draw(hnp.broadcastable_shapes(sel, max_dims=len(sel), min_side=0),
                       label="value shape")
    assume(np.broadcast_shapes(vshape, sel) == sel)  # (0,) broadcasts with (1,), not to it
    value = data.draw(arrays(x.dtype, vshape, finite=True, small=True), label="value")
    a = xp.asarray(x)
    before = a          # the same object: sees the update
    view = a[...]       # a view (as NumPy's): sees it too
    derived = xp.asarray(a, copy=True)  # built from the old value: keeps it
    a[key] = xp.asarray(value)
    expected = x.copy()
    expected[key] = value
    check(a, expected, x.dtype)
    assert before is a
    check(view, expected, x.dtype)
    check(derived, x, x.dtype)


def test_augmented_assignment_through_a_mask():
    """y[m] += v is y[m] = y[m] + v (Python's order): the masked read has a size known only
    at run time, which the in-place operator refused as a shape change ((None,) to (3,)).
    The size is computed to compare: a v of another length, or a one-element mask that v
    would broadcast into a longer array, is refused there, as NumPy refuses it."""
    base = np.arange(6.0)
    mask = np.array([True, False, True, True, False, False])
    y = xp.asarray(base.copy())
    y[xp.asarray(mask)] += xp.asarray([1.0, 2.0, 3.0])
    want = base.copy()
    want[mask] += [1.0, 2.0, 3.0]
    check(y, want)
    z = xp.asarray(base.copy())
    z[xp.asarray(mask)] *= 2.0
    want = base.copy()
    want[mask] *= 2.0
    check(z, want)
    bad = xp.asarray(base.copy())
    with pytest.raises(ValueError, match=r"from \(3,\) to \(2,\)"):
        bad[xp.asarray(mask)] += xp.asarray([1.0, 2.0])
    one = xp.asarray(base.copy())[xp.asarray(mask & (base == 2))]
    with pytest.raises(ValueError, match=r"from \(1,\) to \(3,\)"):
        one += xp.asarray([1.0, 2.0, 3.0])


def test_setitem_scalars_masks_and_int_arrays():
    x = np.arange(12.0).reshape(3, 4)
    a = xp.asarray(x)
    old = a * 1
    a[a > 5] = -1.0
    e = x.copy()
    e[e > 5] = -1.0
    check(a, e)
    a[xp.asarray([0, 2]), 1] = xp.asarray([10.0, 20.0])
    e[[0, 2], 1] = [10.0, 20.0]
    check(a, e)
    a[:, xp.asarray([True, False, True, False])] = xp.asarray([[7.0], [8.0], [9.0]])
    e[:, [True, False, True, False]] = [[7.0], [8.0], [9.0]]
    check(a, e)
    a[1] = 3            # a Python int into a float array
    e[1] = 3
    check(a, e)
    a[..., -1] = xp.asarray(np.array([1, 2, 3], np.int8))   # a smaller integer dtype casts
    e[..., -1] = [1, 2, 3]
    check(a, e)
    check(old, x)       # built before the updates: keeps the first value
    assert np.asarray(x).flags.writeable and (x == np.arange(12.0).reshape(3, 4)).all()


def test_setitem_values_and_errors():
    a = xp.asarray(np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError):
        a[0] = xp.asarray(np.ones(2, np.int32))
    with pytest.raises(ValueError):
        a[:, 0] = xp.asarray(np.ones((2, 2), np.int32))  # more dims than the selection
    with pytest.raises(TypeError):
        a[0] = xp.asarray(np.ones(3))                    # float64 into int32
    with pytest.raises(IndexError):
        a[5] = 1
    check(a, np.zeros((2, 3), np.int32))                 # failed updates change nothing
    b = xp.asarray(np.zeros(3, np.int32))
    b[b == 0] = 1.5    # a Python float is converted like NumPy does (truncated)
    check(b, np.ones(3, np.int32))


def test_setitem_chain_is_functional():
    a = xp.zeros(4)
    snapshots = []
    for i in range(4):
        a[i] = float(i + 1)
        snapshots.append(a * 1.0)
    views = [a[...], a[:2]]  # views (a[...] is one in NumPy too) follow later writes
    a[0] = -1.0
    for i, s in enumerate(snapshots):
        expected = np.zeros(4)
        expected[: i + 1] = np.arange(1, i + 2)
        check(s, expected)
    check(views[0], np.array([-1.0, 2.0, 3.0, 4.0]))
    check(views[1], np.array([-1.0, 2.0]))


def test_a_float_slice_bound_is_refused_before_and_after_an_int_one():
    """The index cache keys bounds by type too: 1.0 == 1 must not find a[1:3]'s op."""
    a = xp.asarray(np.arange(10.0))
    with pytest.raises(TypeError):
        a[1.0:3]
    np.testing.assert_array_equal(np.asarray(a[1:3]), [1.0, 2.0])
    with pytest.raises(TypeError):
        a[1.0:3]


def test_an_empty_list_index_selects_nothing():
    a = np.arange(12.0).reshape(3, 4)
    x = xp.asarray(a)
    np.testing.assert_array_equal(np.asarray(x[[]]), a[[]])
    np.testing.assert_array_equal(np.asarray(x[[], 1:]), a[[], 1:])
    x[[]] = 7.0
    np.testing.assert_array_equal(np.asarray(x), a)


def test_slice_bounds_beyond_the_c_range_are_clamped():
    a = np.arange(5.0)
    x = xp.asarray(a)
    np.testing.assert_array_equal(np.asarray(x[:10**30]), a[:10**30])
    np.testing.assert_array_equal(np.asarray(x[2**63::-1]), a[2**63::-1])
    np.testing.assert_array_equal(np.asarray(x[-10**30:2]), a[-10**30:2])


def test_setitem_accepts_a_value_with_leading_size_one_axes():
    a = np.zeros((4, 2))
    x = xp.asarray(a.copy())
    x[1:3] = xp.ones((1, 2))
    a[1:3] = np.ones((1, 2))
    x[0] = xp.full((1, 1, 2), 5.0)
    a[0] = np.full((1, 1, 2), 5.0)
    np.testing.assert_array_equal(np.asarray(x), a)


def test_a_write_through_a_view_keeps_the_bases_later_writes():
    """A view written after its base changed writes back only what it wrote: a[2] = 100 made
    after v = a[1:4] survives v[0] = -1 (NumPy's shared memory gives the same)."""
    def run(m):
        a = m.asarray(np.arange(6))
        v = a[1:4]
        a[2] = 100
        v[0] = -1
        b = m.asarray(np.arange(6))
        v1, v2 = b[0:3], b[2:5]
        v1[2] = 9
        v2[2] = 7
        c = m.asarray(np.arange(6.0))
        w = c[::2]
        c += 10
        w[1] = 0.5
        d = m.asarray(np.arange(6.0))
        u = d[1:5]
        uu = u[1:3]
        d[2] = 50.0
        uu += 1.0
        return [np.asarray(t).tolist() for t in (a, v, b, c, w, d, u, uu)]

    assert run(xp) == run(np)


def test_integers_among_advanced_indices_count_as_advanced():
    """NumPy: with an index array present, an integer is an advanced index too; the
    broadcast axes go first when the advanced indices are not next to each other."""
    x = np.arange(24.0).reshape(2, 3, 4)
    b = np.arange(96.0).reshape(2, 4, 4, 3)
    c = np.arange(32.0).reshape(2, 4, 4)
    cases = [(x, (0, slice(None), [0, 1])), (x, ([0, 1], slice(None), 0)),
             (x, (0, [0, 1], 2)), (x, (slice(None), 0, [1, 2])),
             (b, (None, [0, 1], 0, [1, 2])), (c, ([0, 1], Ellipsis, [1, 2], 0))]
    for a, key in cases:
        got = xp.asarray(a)[key]
        want = a[key]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(np.asarray(got), want)
    y = xp.asarray(x.copy())
    y[0, :, [0, 1]] = xp.ones((2, 3))
    x2 = x.copy()
    x2[0, :, [0, 1]] = np.ones((2, 3))
    np.testing.assert_array_equal(np.asarray(y), x2)


def test_an_ellipsis_of_no_axes_separates_advanced_indices():
    """NumPy puts the broadcast axes first when an Ellipsis stands between advanced indices,
    even one that covers no axis (lazyarr kept them in place: shape (3, 2), not (2, 3));
    reads, writes and the gradient agree."""
    x = np.arange(60.0).reshape(3, 4, 5)
    i, j = np.array([0, 1]), np.array([1, 2])
    for key in [(slice(None), i, ..., j), (i, ..., j), (slice(None), i, ..., 2),
                (slice(None), 1, ..., j), (0, ..., 1, j), (..., i, j), (i, j, ...),
                (0, ..., 1, 2)]:
        got = xp.asarray(x)[key]
        assert got.shape == x[key].shape, key
        np.testing.assert_array_equal(np.asarray(got), x[key])
    key = (slice(None), i, ..., j)
    w = np.arange(6.0).reshape(2, 3)
    g = xp.grad(lambda a: xp.sum(a[key] * xp.asarray(w)))(xp.asarray(x))
    want = np.zeros_like(x)
    np.add.at(want, key, w)
    np.testing.assert_array_equal(np.asarray(g), want)
    y = xp.asarray(x.copy())
    y[key] = -w
    x2 = x.copy()
    x2[key] = -w
    np.testing.assert_array_equal(np.asarray(y), x2)
    assert "..." in repr(xp.asarray(x)[key]._v.owner.op)  # the op's repr reads the entry

    def f(a):  # a write at such a key, differentiated (rewrites print the op they change)
        a = a * 1.0
        a[key] = 0.0
        return xp.sum(a * 2.0)

    want = np.full_like(x, 2.0)
    want[key] = 0.0
    np.testing.assert_array_equal(np.asarray(xp.grad(f)(xp.asarray(x))), want)
    with pytest.raises(IndexError, match="out of bounds"):
        np.asarray(xp.asarray(x)[:, i, ..., xp.asarray(j) * 5])


def test_an_index_array_is_bounds_checked_at_every_use_even_when_its_user_changes_it():
    """The bounds of read-only index data are remembered between uses; a user's own NumPy
    buffer (aliased by asarray) is checked again each time, so a write to it is seen."""
    x = xp.asarray(np.arange(5.0))
    owned = np.array([0, 4])
    idx = xp.asarray(owned)              # aliases the user's writable buffer
    check(x[idx], [0.0, 4.0])
    owned[1] = 5
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        x[idx]
    fixed = xp.asarray([1, -6])          # lazyarr's own (read-only) data: remembered
    for _ in range(2):
        with pytest.raises(IndexError, match="index -6 is out of bounds"):
            x[fixed]
    check(xp.asarray(np.arange(12.0).reshape(6, 2))[xp.asarray([5, 0])], [[10.0, 11.0], [0.0, 1.0]])


def test_writes_at_a_changing_integer_index_share_one_program():
    """``traj[t] = x`` with a check each step (a trajectory, a loss history): the index is a
    0-d input of the write, lifted to a run-time argument once it has changed (as a Python
    float constant is), not a new program per step (941 us a step, a miss each)."""
    def sim(m, steps):
        traj = m.zeros((steps, 50))
        x = m.asarray(np.linspace(0.0, 1.0, 50))
        checks = []
        for t in range(steps):
            x = x + 1e-2 * (m.sin(x) - 0.5 * x)
            traj[t] = x
            traj[t, 0] += 1.0
            checks.append(float(m.max(m.abs(x))))
        return np.asarray(traj), checks

    sim(xp, 6)
    before = xp.trace_cache_info()["misses"]
    got, got_checks = sim(xp, 40)
    assert xp.trace_cache_info()["misses"] - before <= 4
    want, want_checks = sim(np, 40)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(got_checks, want_checks, rtol=1e-14)


def test_a_write_at_an_integer_index_is_checked_when_built_and_compiles_to_a_fixed_index():
    a = xp.zeros((3, 4))
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        a[3] = 1.0
    with pytest.raises(IndexError, match="index -5 is out of bounds for axis 1 with size 4"):
        a[0, -5] = 1.0
    a[-1, 1:3] = 2.0
    a[0] = xp.arange(4.0)
    want = np.zeros((3, 4))
    want[-1, 1:3] = 2.0
    want[0] = np.arange(4.0)
    np.testing.assert_array_equal(np.asarray(a), want)

    def f(x, v):
        x[1, 2] = v
        x[-1] = v * 2.0
        return x

    g = xp.compile(f)
    got = g(xp.zeros((3, 4)), xp.asarray(5.0))
    want = np.zeros((3, 4))
    want[1, 2], want[-1] = 5.0, 10.0
    np.testing.assert_array_equal(np.asarray(got), want)
    ops = [repr(t.node.op) for t in g.program(xp.zeros((3, 4)), xp.asarray(5.0)).vm.thunks]
    assert "SetItem{1, 2}" in ops and "SetItem{-1, :}" in ops, ops


def test_gradients_through_writes_at_integer_indices():
    def f(x, v):
        y = x * 1.0
        y[1] = v * 3.0
        y[2, 0] = v[1]
        return xp.sum(y * y)

    x0, v0 = np.arange(12.0).reshape(3, 4), np.array([1.0, -2.0, 0.5, 4.0])
    gx, gv = xp.grad(f, argnums=(0, 1))(xp.asarray(x0), xp.asarray(v0))
    y = x0.copy()
    y[1] = 3 * v0
    y[2, 0] = v0[1]
    want_gx = 2 * y
    want_gx[1] = 0.0
    want_gx[2, 0] = 0.0
    want_gv = 2 * 3 * 3 * v0
    want_gv[1] += 2 * y[2, 0]
    np.testing.assert_allclose(np.asarray(gx), want_gx)
    np.testing.assert_allclose(np.asarray(gv), want_gv)


def test_a_negative_slice_start_reads_its_own_arrays_offset():
    """``x[-2:]`` of arrays of different lengths: each reads its own last elements (the start
    given as an input is normalized against each array's length, not the first one's)."""
    a, b = xp.asarray(np.arange(5.0)), xp.asarray(np.arange(7.0))
    assert np.asarray(a[-2:]).tolist() == [3.0, 4.0]
    assert np.asarray(b[-2:]).tolist() == [5.0, 6.0]
    M = xp.asarray(np.arange(30.0).reshape(3, 10))
    P = xp.asarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(np.asarray(M[:, -3:]), np.arange(30.0).reshape(3, 10)[:, -3:])
    assert float(xp.sum(P[:, -3:] ** 2)) == 426.0
    np.testing.assert_array_equal(np.asarray(xp.grad(lambda p: xp.sum(p[:, -3:] ** 2))(P))[0],
                                  [0.0, 2.0, 4.0, 6.0])
    c, d = xp.asarray(np.arange(10.0)), xp.asarray(np.arange(12.0))
    assert np.asarray(c[100:-4:-1]).tolist() == [9.0, 8.0, 7.0]
    assert np.asarray(d[100:-4:-1]).tolist() == [11.0, 10.0, 9.0]


def test_fixed_slice_starts_compile_to_native_views():
    """``u[1:-1] + u[2:] + u[:-2]``: a program built for fixed starts folds them back, so each
    slice is a native view (the starts given as inputs ran ``perform``)."""
    from tests.program_kinds import thunk_kinds

    u = xp.asarray(np.linspace(0.0, 1.0, 100))
    f = xp.compile(lambda u: u[1:-1] + u[2:] + u[:-2])
    program, _ = thunk_kinds(f, u)
    assert [k for k in program if k.startswith("GetItem")] == ["GetItem:SliceThunk"] * 3
    ops = sorted(repr(t.node.op) for t in f.program(u).vm.thunks
                 if repr(t.node.op).startswith("GetItem"))
    assert ops == ["GetItem{1:99}", "GetItem{2:100}", "GetItem{:-2}"], ops
    un = np.linspace(0.0, 1.0, 100)
    np.testing.assert_array_equal(np.asarray(f(u)), un[1:-1] + un[2:] + un[:-2])


def test_equal_indices_of_two_arrays_are_separate_inputs():
    """``A[i] + B[j]`` at random ``i``, ``j``: the cut's structure does not depend on whether
    ``i == j`` (one shared leaf would make it another key), so misses settle."""
    rng = np.random.default_rng(3)
    A, B = xp.asarray(rng.standard_normal((4, 3))), xp.asarray(rng.standard_normal((4, 3)))
    An, Bn = np.asarray(A), np.asarray(B)
    pairs = [(int(i), int(j)) for i, j in rng.integers(0, 4, (40, 2))]
    for k, (i, j) in enumerate(pairs):
        if k == 10:
            before = xp.trace_cache_info()["misses"]
        np.testing.assert_array_equal(np.asarray(A[i] + B[j]), An[i] + Bn[j])
    assert xp.trace_cache_info()["misses"] == before


def test_derivatives_of_a_slice_start_beside_a_mask_use_plain_writes():
    """``x[2:5, mask]``: the start input is not an index array, so the selection's adjoint is
    a plain write (a repeated index is impossible), not a scatter-add with a last-write
    mask; the values are the analytic ones."""
    from lazyarr.diff.rules_index import _has_int_arrays

    spec = (("t", 3, 1), ("a",))
    assert not _has_int_arrays(spec, [np.array(1), np.array([True, False, True])])
    assert _has_int_arrays((("t", 3, 1), ("a",)), [np.array(1), np.array([0, 2])])
    x0 = np.arange(24.0).reshape(6, 4)
    mask = np.array([True, False, True, True])

    def f(x):
        y = x * 1.0
        y[1:3, mask] = x[2:4, mask] * 2.0
        return xp.sum(y[2:5, mask] ** 2)

    g = np.asarray(xp.grad(f)(xp.asarray(x0)))
    y = x0.copy()
    y[1:3, mask] = x0[2:4, mask] * 2.0
    dy = np.zeros_like(y)
    dy[2:5, mask] = 2 * y[2:5, mask]
    want = dy.copy()
    want[1:3, mask] = 0.0
    want[2:4, mask] += 2.0 * dy[1:3, mask]
    np.testing.assert_allclose(g, want)


def test_a_basic_key_seen_before_is_answered_per_shape_and_by_type():
    """The second round of each key is answered by the index cache (`_front.basic_view`):
    per indexed shape, a bool never taken for an int, an unhashable bound still refused."""
    na, nb = np.arange(10.0), np.arange(4.0)
    a, b = xp.asarray(na), xp.asarray(nb)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(a[1:8]), na[1:8])
        np.testing.assert_array_equal(np.asarray(b[1:8]), nb[1:8])
        np.testing.assert_array_equal(np.asarray(a[-3]), na[-3])
        np.testing.assert_array_equal(np.asarray(a[True]), na[True])
        np.testing.assert_array_equal(np.asarray(a[..., None][2:4, 0]), na[..., None][2:4, 0])
        np.testing.assert_array_equal(np.asarray(a[::-3]), na[::-3])
        with pytest.raises(TypeError):
            a[[1]:3]


def test_bounds_of_a_read_only_view_of_a_writable_index_buffer_are_read_again():
    """Bounds are remembered only for index data nobody can write: a read-only view of a
    writable buffer changes with it (its stale bounds refused a corrected index)."""
    x = xp.asarray(np.arange(10.0))
    buf = np.array([1, 40])
    idx = buf.view()
    idx.flags.writeable = False
    with pytest.raises(IndexError):
        x[idx]
    buf[1] = 4
    np.testing.assert_array_equal(np.asarray(x[idx]), [1.0, 4.0])


@pytest.mark.parametrize("shape, key", [((7,), 3), ((7,), -7), ((3, 4), (2, -1)), ((3, 4), 1),
                                        ((2, 3, 4), (1,)), ((2, 3, 4), (1, 2)),
                                        ((2, 3, 4), (-2, 0, 3))])
def test_int_keys_build_the_parsed_keys_node_by_shape_not_value(shape, key):
    """``x[ints]`` comes from a cache by the number of ints and the shape (`_front._int_view`:
    a loop over ``x[i]`` missed a cache by key, 5.6 -> 1.2 us a view), and is the node the
    parsing path builds: the same op, the same view region, NumPy's values."""
    from lazyarr.array.functions.indexing import _twin
    from lazyarr.array.ops.index import parse_key

    data = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    x = xp.asarray(data)
    y = x[key]
    spec, _, out_shape = parse_key(key, shape, None)
    dspec, ints = _twin(spec, shape)
    op = y._v.owner.op
    assert (op.spec, op.out_shape) == (dspec, out_shape) and y._base[1] == spec
    assert [int(v.data) for v in y._v.owner.inputs[1:]] == list(ints)
    other = tuple(0 for _ in ints) if len(ints) > 1 else 0
    assert x[other]._v.owner.op is op  # one op for every value of the ints
    np.testing.assert_array_equal(np.asarray(y), data[key])
    x[key] = -1.0  # the view follows its base's write
    np.testing.assert_array_equal(np.asarray(y), np.full(out_shape, -1.0))


def test_an_int_key_out_of_bounds_still_raises_index_error():
    x = xp.asarray(np.arange(4.0))
    with pytest.raises(IndexError):
        x[4]
    with pytest.raises(IndexError):
        x[(0, 0)]


@pytest.mark.parametrize("dtype", ["float32", "int8", "bool", "complex128", "uint64"])
def test_elements_of_a_realized_array_as_python_scalars(dtype):
    """``float``/``int``/``bool``/``complex`` of ``x[i, j, k]`` (an `_int_view` node): NumPy's
    values and dtype; the element stays a view of ``x``."""
    data = (np.arange(24).reshape(2, 3, 4) % 5 - 2).astype(dtype)
    x = xp.asarray(data)
    for key in [(0, 0, 0), (1, -1, 3), (-2, 1, -4)]:
        got = x[key]
        want = data[key]
        if dtype == "complex128":
            assert complex(got) == complex(want)
        else:
            assert float(got) == float(want) and int(got) == int(want)
            assert bool(got) == bool(want)
        assert np.asarray(got).dtype == data.dtype
    y = x[0, 1, 2]
    x[0, 1, 2] = 1  # the element is a view: it follows its base's write
    assert (complex(y) if dtype == "complex128" else int(y)) == 1


def test_an_element_through_views_of_int_keys():
    data = np.arange(60.0).reshape(3, 4, 5)
    x = xp.asarray(data)
    assert float(x[1][2][3]) == data[1][2][3]
    assert float(x[-1, 0][-2]) == data[-1, 0][-2]
    assert float(x[2][-3, 4]) == data[2][-3, 4]
    assert [float(r[0][1]) for r in x] == [float(r[0][1]) for r in data]
    assert float(x[1:][0][0][0]) == data[1:][0][0][0]
