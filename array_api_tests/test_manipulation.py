"""Manipulation functions against array_api_strict on hypothesis inputs: broadcast_arrays,
broadcast_to, concat, expand_dims, flip, moveaxis, permute_dims, repeat, reshape, roll,
squeeze, stack, tile, unstack."""

from __future__ import annotations

import math

import array_api_strict as S
from _support import NONEMPTY, SHAPES, assert_equal, hh, run_both, to_lazy
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as L


def _x(data, shapes=SHAPES):
    return data.draw(hh.arrays(hh.scalar_dtypes(), shapes), label="x")


def _cmp(fs, fl):
    want, got = run_both(fs, fl)
    if want is not None:
        if isinstance(want, (list, tuple)):
            assert_equal(tuple(got), tuple(want), approx=False)
        else:
            assert_equal(got, want, approx=False)


@given(data=st.data())
def test_reshape_permute_flip_roll(data):
    x = _x(data)
    shapes = [s for s in [(x.size,), (1, x.size), (-1,), (x.size, 1, 1)] if x.size]
    shape = data.draw(st.sampled_from(shapes or [(0,)]), label="shape")
    _cmp(lambda: S.reshape(x, shape), lambda: L.reshape(to_lazy(x), shape))
    perm = tuple(data.draw(st.permutations(range(x.ndim)), label="perm"))
    _cmp(lambda: S.permute_dims(x, perm), lambda: L.permute_dims(to_lazy(x), perm))
    axis = data.draw(st.none() | st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)
                     if x.ndim else st.none(), label="axis")
    _cmp(lambda: S.flip(x, axis=axis), lambda: L.flip(to_lazy(x), axis=axis))
    shift = data.draw(st.integers(-5, 5), label="shift")
    _cmp(lambda: S.roll(x, shift, axis=axis), lambda: L.roll(to_lazy(x), shift, axis=axis))


@given(data=st.data())
def test_expand_squeeze_moveaxis(data):
    x = _x(data)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim), label="axis")
    _cmp(lambda: S.expand_dims(x, axis=axis), lambda: L.expand_dims(to_lazy(x), axis=axis))
    ones = tuple(i for i, d in enumerate(x.shape) if d == 1)
    sq = data.draw(st.sampled_from([ones, ones[:1]]) if ones else st.just(()), label="sq")
    _cmp(lambda: S.squeeze(x, axis=sq), lambda: L.squeeze(to_lazy(x), axis=sq))
    if x.ndim:
        src = data.draw(st.integers(-x.ndim, x.ndim - 1), label="src")
        dst = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dst")
        _cmp(lambda: S.moveaxis(x, src, dst), lambda: L.moveaxis(to_lazy(x), src, dst))


@given(data=st.data())
def test_concat_stack_unstack(data):
    dts = data.draw(st.lists(hh.scalar_dtypes(), min_size=1, max_size=3), label="dtypes")
    shape = data.draw(NONEMPTY, label="shape")
    xs = [data.draw(hh.arrays(dt, shape), label="x") for dt in dts]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    _cmp(lambda: S.concat(xs, axis=axis), lambda: L.concat(to_lazy(xs), axis=axis))
    _cmp(lambda: S.concat(xs, axis=None), lambda: L.concat(to_lazy(xs), axis=None))
    _cmp(lambda: S.stack(xs, axis=axis), lambda: L.stack(to_lazy(xs), axis=axis))
    _cmp(lambda: S.unstack(xs[0], axis=axis), lambda: L.unstack(to_lazy(xs[0]), axis=axis))


@given(data=st.data())
def test_broadcast_repeat_tile(data):
    shapes = data.draw(hh.mutually_broadcastable_shapes(2, max_dims=3, max_side=3))
    a = data.draw(hh.arrays(hh.scalar_dtypes(), shapes.input_shapes[0]), label="a")
    b = data.draw(hh.arrays(hh.scalar_dtypes(), shapes.input_shapes[1]), label="b")
    _cmp(lambda: S.broadcast_arrays(a, b), lambda: L.broadcast_arrays(to_lazy(a), to_lazy(b)))
    _cmp(lambda: S.broadcast_to(a, shapes.result_shape),
         lambda: L.broadcast_to(to_lazy(a), shapes.result_shape))
    reps = data.draw(st.lists(st.integers(0, 3), max_size=3).map(tuple), label="reps")
    _cmp(lambda: S.tile(a, reps), lambda: L.tile(to_lazy(a), reps))
    r = data.draw(st.integers(0, 3), label="repeats")
    axis = data.draw(st.none() | st.integers(0, max(a.ndim - 1, 0)) if a.ndim else st.none(),
                     label="axis")
    _cmp(lambda: S.repeat(a, r, axis=axis), lambda: L.repeat(to_lazy(a), r, axis=axis))
    if a.ndim == 1 and axis is None and math.prod(a.shape) <= 4:
        rs = data.draw(hh.arrays(S.int64, a.shape, elements=st.integers(0, 3)), label="rs")
        _cmp(lambda: S.repeat(a, rs), lambda: L.repeat(to_lazy(a), to_lazy(rs)))


def test_shape_errors():
    import pytest

    with pytest.raises(ValueError):
        L.reshape(L.ones(6), (4, 2))
    with pytest.raises(ValueError):
        L.broadcast_to(L.ones(3), (2, 4))
    with pytest.raises(ValueError):
        L.concat([L.ones((2, 3)), L.ones((2, 4))])
    with pytest.raises(ValueError):
        L.squeeze(L.ones((2, 3)), axis=0)
