"""Native gather/scatter thunks (`Take`, `TakeAlongAxis`, `AddAt`, `Alloc`, `Concat`:
``_gather.pxi``)
agree with NumPy, write into their input only when the linker allows it, and fall back to the
op's ``perform`` (and its errors) for anything else."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import AddAtThunk, AllocThunk, ConcatThunk, TakeAlongAxisThunk, TakeThunk

from lazyarr.array.ops.creation import Alloc
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.scatter import AddAt
from lazyarr.array.ops.search import Take, TakeAlongAxis
from lazyarr.array.ops.shape import Concat
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

RNG = np.random.default_rng(5)


def _program(op, *args: np.ndarray):
    vs = [Var.input(a.dtype, a.shape) for a in args]
    out, = apply(op, *vs)
    return link(FunctionGraph(vs, [out]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex128, np.bool_])
@pytest.mark.parametrize("shape,axis", [((7, 3), 0), ((4, 7), 1), ((2, 7, 3), 1), ((7,), 0)])
def test_take_matches_numpy(dtype, shape, axis):
    x = (RNG.standard_normal(shape) * 10).astype(dtype)
    idx = np.array([0, 6, -1, 3, 3, -7])
    prog = _program(Take(axis), x, idx)
    assert isinstance(prog.thunks[0], TakeThunk)
    np.testing.assert_array_equal(prog([x, idx])[0], np.take(x, idx, axis=axis))
    # non-contiguous x and int32 indices go through perform
    xt = np.asfortranarray(x)
    np.testing.assert_array_equal(prog([xt, idx])[0], np.take(x, idx, axis=axis))
    i32 = idx.astype(np.int32)
    np.testing.assert_array_equal(prog([x, i32])[0], np.take(x, idx, axis=axis))
    with pytest.raises(IndexError, match="out of bounds"):
        prog([x, np.array([0, 7])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int8])
@pytest.mark.parametrize("shape,ishape,axis", [((5, 9), (5, 1), 1), ((5, 9), (5, 4), 1),
                                               ((5, 9), (3, 9), 0), ((2, 5, 3), (2, 2, 3), 1)])
def test_take_along_axis_matches_numpy(dtype, shape, ishape, axis):
    x = (RNG.standard_normal(shape) * 10).astype(dtype)
    n = shape[axis]
    idx = RNG.integers(-n, n, ishape)
    prog = _program(TakeAlongAxis(axis), x, idx)
    assert isinstance(prog.thunks[0], TakeAlongAxisThunk)
    for _ in range(2):  # the second call reuses nothing it must not
        np.testing.assert_array_equal(prog([x, idx])[0], np.take_along_axis(x, idx, axis))
    bad = idx.copy()
    bad.flat[0] = n
    with pytest.raises(IndexError, match="out of bounds"):
        prog([x, bad])


def test_take_along_axis_broadcast_falls_back():
    x = RNG.standard_normal((1, 6))
    idx = np.array([[0], [5], [-2]])
    prog = _program(TakeAlongAxis(1), x, idx)
    ref = np.take_along_axis(np.broadcast_to(x, (3, 6)), idx, 1)
    np.testing.assert_array_equal(prog([x, idx])[0], ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_add_at_rows_matches_numpy_and_leaves_x(dtype):
    x = RNG.standard_normal((6, 4)).astype(dtype)
    idx = np.array([1, 5, 1, -1, 0])
    v = RNG.standard_normal((5, 4)).astype(dtype)
    prog = _program(AddAt((("a",),)), x, v, idx)
    if dtype != np.int64:
        assert isinstance(prog.thunks[0], AddAtThunk)
    x0 = x.copy()
    ref = x.copy()
    np.add.at(ref, idx, v)
    got = prog([x, v, idx])[0]
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(x, x0)  # a caller's array is never written
    assert not np.shares_memory(got, x)
    # broadcast values and 2-d indices fall back to perform
    vb = v[:1]
    ref = x.copy()
    np.add.at(ref, idx, vb)
    np.testing.assert_array_equal(prog([x, vb, idx])[0], ref)
    with pytest.raises(IndexError):
        prog([x, v, np.array([0, 1, 2, 3, 6])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_at_points_matches_numpy(dtype):
    x = RNG.standard_normal((5, 7)).astype(dtype)
    i0 = np.array([[0], [4], [0], [-1]])
    i1 = np.array([[6], [0], [6], [-7]])
    for v in (RNG.standard_normal((4, 1)).astype(dtype), np.asarray(2.5, dtype)):
        prog = _program(AddAt((("a",), ("a",))), x, v, i0, i1)
        assert isinstance(prog.thunks[0], AddAtThunk)
        ref = x.copy()
        np.add.at(ref, (i0, i1), v)
        np.testing.assert_array_equal(prog([x, v, i0, i1])[0], ref)


def test_add_at_writes_into_a_dead_alloc_in_place():
    # zeros -> scatter -> negative: the scatter takes the zeros' buffer (kept by Alloc), and the
    # zeros are refilled on every call
    from lazyarr.array.ops.elemwise import Elemwise
    z = Var.leaf(np.asarray(0.0), const=True)
    v = Var.input(np.dtype(np.float64), (3,))
    i0 = Var.input(np.dtype(np.int64), (3,))
    i1 = Var.input(np.dtype(np.int64), (3,))
    zs, = apply(Alloc((4, 5)), z)
    s, = apply(AddAt((("a",), ("a",))), zs, v, i0, i1)
    out, = apply(Elemwise("negative"), s)
    prog = link(FunctionGraph([v, i0, i1], [out]))
    kinds = [type(t) for t in prog.thunks]
    assert AllocThunk in kinds and AddAtThunk in kinds
    add = prog.thunks[kinds.index(AddAtThunk)]
    assert add.fn.__name__ == "perform_into"
    for k in range(3):
        a = np.array([1.0, 2.0, 3.0]) + k
        b, c = np.array([0, 3, 0]), np.array([4, 0, 4])
        ref = np.zeros((4, 5))
        np.add.at(ref, (b, c), a)
        np.testing.assert_array_equal(prog([a, b, c])[0], -ref)


@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, np.nan])
def test_alloc_fills_like_numpy(value):
    for dt in (np.float32, np.float64, np.int64, np.int8):
        if dt in (np.int64, np.int8) and not np.isfinite(value):
            continue
        c = np.asarray(value, dtype=dt)
        prog = _program(Alloc((3, 4)), c)
        got = prog([c])[0]
        ref = np.full((3, 4), c)
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)
        assert np.array_equal(np.signbit(got), np.signbit(ref))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex128, np.bool_])
@pytest.mark.parametrize("shapes,axis", [([(2,), (3,), (1,)], 0), ([(2, 3), (4, 3)], 0),
                                         ([(3, 2), (3, 0), (3, 5)], 1),
                                         ([(2, 1, 3), (2, 4, 3)], 1), ([(2, 3, 1), (2, 3, 2)], 2)])
def test_concat_matches_numpy(dtype, shapes, axis):
    xs = [(RNG.standard_normal(s) * 10).astype(dtype) for s in shapes]
    prog = _program(Concat(axis), *xs)
    assert isinstance(prog.thunks[0], ConcatThunk)
    np.testing.assert_array_equal(prog(xs)[0], np.concatenate(xs, axis))
    # strided and Fortran-ordered inputs are copied into their regions, not memcpy'd
    odd = [np.asfortranarray(x) if x.ndim > 1 else x for x in xs]
    odd[0] = (np.repeat(xs[0], 2, axis=-1)[..., ::2] if xs[0].ndim else xs[0])
    np.testing.assert_array_equal(prog(odd)[0], np.concatenate(xs, axis))


def test_concat_of_other_shapes_or_dtypes_falls_back_to_numpy():
    a, b = np.ones((2, 3)), np.zeros((4, 3))
    prog = _program(Concat(0), a, b)
    with pytest.raises(ValueError):  # NumPy's own error, from perform
        prog([a, np.zeros((4, 2))])
    got = prog([a, b.astype(np.float32)])[0]  # a mixed call runs perform, which promotes
    np.testing.assert_array_equal(got, np.concatenate([a, b]))


def test_concat_keeps_its_buffer_between_calls_only_when_private():
    """A concat read by a later node keeps its output buffer; the next call's values are its
    own (nothing of the previous call's survives in the result)."""
    a, b = Var.input(np.dtype(np.float64), (2, 3)), Var.input(np.dtype(np.float64), (1, 3))
    c, = apply(Concat(0), a, b)
    out, = apply(Elemwise("negative"), c)
    prog = link(FunctionGraph([a, b], [out]))
    assert any(isinstance(t, ConcatThunk) for t in prog.thunks)
    for _ in range(3):
        xa, xb = RNG.standard_normal((2, 3)), RNG.standard_normal((1, 3))
        np.testing.assert_array_equal(prog([xa, xb])[0], -np.concatenate([xa, xb]))
