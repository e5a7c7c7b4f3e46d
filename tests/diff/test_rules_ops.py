"""Reductions, cumulative ops, matrix products, shape ops, indexing, creation and fused ops:
finite differences and forward/reverse adjointness on hypothesis shapes (0-d included)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp
from lazyarr.array.ops.composite import Composite, FusedReduce
from lazyarr.array.ops.creation import Alloc
from lazyarr.array.ops.linalg import Gemm, Gemv
from lazyarr.array.ops.reduce import Reduce
from lazyarr.array.ops.rowprog import RowProgram
from lazyarr.array.ops.scatter import AddAt
from lazyarr.diff.util import apply_op

from .rule_checks import SEEDS, SHAPES, check, values


@st.composite
def shape_and_axes(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=3))
    axes = draw(st.none() | st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True,
                                     max_size=len(shape)).map(tuple))
    return shape, axes


@pytest.mark.parametrize("kind", ["sum", "mean", "prod", "max", "min"])
@settings(max_examples=5)
@given(sa=shape_and_axes(), keep=st.booleans(), seed=SEEDS)
def test_reductions(kind, sa, keep, seed):
    shape, axes = sa
    fn = getattr(xp, kind)
    lo, hi = (0.5, 1.5) if kind == "prod" else (-2, 2)
    check(lambda x: fn(x, axis=axes, keepdims=keep), [values(seed, shape, lo, hi, True)])


def test_prod_with_zeros_and_max_with_ties():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    g = xp.grad(lambda x: xp.sum(xp.prod(x, axis=1)))(x)
    np.testing.assert_array_equal(np.asarray(g), [[6, 0, 0], [0, 0, 0], [6, 3, 2]])
    check(lambda x: xp.prod(x, axis=1), [x])
    t = np.array([1.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(np.asarray(xp.grad(lambda x: xp.max(x))(t)), [0, .5, .5, 0])
    xp.check_vjp_jvp(lambda x: xp.max(x) * x, [t])


def test_sum_with_wider_dtype_and_all_any_have_no_derivative():
    x32 = np.linspace(0, 1, 5, dtype=np.float32)
    g = xp.grad(lambda x: xp.sum(x, dtype=xp.float64))(x32)
    assert g.dtype == xp.float32 and np.all(np.asarray(g) == 1)
    g = xp.grad(lambda x: xp.sum(xp.astype(xp.any(x > 0.5), xp.float64) * x))(np.ones(3))
    np.testing.assert_array_equal(np.asarray(g), np.ones(3))


@pytest.mark.parametrize("kind", ["sum", "prod"])
@settings(max_examples=5)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       data=st.data(), include=st.booleans(), seed=SEEDS)
def test_cumulative(kind, shape, data, include, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    fn = getattr(xp, f"cumulative_{kind}")
    x = values(seed, shape, 0.5, 1.5, True)
    if kind == "prod" and x.size > 1:
        x.flat[x.size // 2] = 0.0  # exact at zeros
    check(lambda x: fn(x, axis=axis, include_initial=include), [x])


@settings(max_examples=12)
@given(shapes=st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)),
                               ((2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2)),
                               ((3,), (2, 3, 4)), ((2, 2, 3), (3,))]),
       seed=SEEDS)
def test_matmul_shapes(shapes, seed):
    sa, sb = shapes
    check(lambda a, b: xp.matmul(a, b), [values(seed, sa), values(seed + 1, sb)])


def test_matmul_complex_tensordot_vecdot():
    a = values(1, (2, 3), complex_=True)
    b = values(2, (3, 2), complex_=True)
    check(lambda a, b: a @ b, [a, b])
    check(lambda a, b: a @ b, [values(7, (3,), complex_=True), b])  # vector @ matrix
    check(lambda a, b: a @ b, [a, values(8, (3,), complex_=True)])  # matrix @ vector
    check(lambda a, b: xp.tensordot(a, b, axes=([1], [0])), [values(3, (2, 3)),
                                                              values(4, (3, 2))])
    check(lambda a, b: xp.vecdot(a, b), [values(5, (4, 3), complex_=True),
                                         values(6, (3,), complex_=True)])


def test_gemm_gemv():
    c, a, b = values(1, (1, 3)), values(2, (2, 4)), values(3, (4, 3))

    def gemm(c, alpha, a, b, beta):
        return apply_op(Gemm(), c, alpha, a, b, beta)

    check(gemm, [c, np.array(0.7), a, b, np.array(-1.3)])
    check(lambda y, al, a, x, be: apply_op(Gemv(), y, al, a, x, be),
          [values(4, (2,)), np.array(1.1), a, values(5, (4,)), np.array(0.4)])


@st.composite
def shape_and_perm(draw):
    shape = draw(SHAPES)
    return shape, tuple(draw(st.permutations(range(len(shape)))))


@settings(max_examples=6)
@given(sp=shape_and_perm(), seed=SEEDS)
def test_reshape_transpose(sp, seed):
    shape, perm = sp
    x = values(seed, shape)
    check(lambda x: xp.permute_dims(x, perm) * 2.0, [x])
    check(lambda x: xp.reshape(x, (-1,)), [x])
    check(lambda x: xp.reshape(x, (1,) + shape + (1,)), [x])


@settings(max_examples=6)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3),
       seed=SEEDS)
def test_broadcast_to(shapes, seed):
    (s,), out = shapes.input_shapes, shapes.result_shape
    check(lambda x: xp.broadcast_to(x, out), [values(seed, s)])


@settings(max_examples=6)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data(),
       seed=SEEDS)
def test_concat_flip_roll(shape, data, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    other = shape[:axis] + (2,) + shape[axis + 1:]
    a, b = values(seed, shape), values(seed + 1, other)
    check(lambda a, b: xp.concat([a, b, a], axis=axis), [a, b])
    check(lambda a: xp.flip(a, axis=axis), [a])
    check(lambda a: xp.roll(a, 2, axis=axis), [a])
    check(lambda a: xp.roll(a, -1), [a])
    check(lambda a, b: xp.stack([a, a * b[(slice(None),) * axis + (slice(0, 1),)]]), [a, b])


@settings(max_examples=6)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data(),
       seed=SEEDS)
def test_repeat_tile_tri(shape, data, seed):
    axis = data.draw(st.integers(0, len(shape) - 1))
    reps = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple))
    x = values(seed, shape)
    check(lambda x: xp.repeat(x, 2, axis=axis), [x])
    check(lambda x: xp.repeat(x, 3), [x])
    check(lambda x: xp.tile(x, reps), [x])
    counts = np.arange(shape[axis]) % 3
    check(lambda x: xp.repeat(x, xp.asarray(counts), axis=axis), [x])
    if len(shape) >= 2:
        check(lambda x: xp.tril(x, k=-1) + xp.triu(x, k=1) * 2.0, [x])


def test_repeat_with_counts_and_no_axis():
    x = values(1, (2, 2))
    check(lambda x: xp.repeat(x, xp.asarray(np.array([1, 0, 2, 3]))), [x])


KEYS = [
    (slice(None), 1), (0,), (slice(None, None, -1),), (Ellipsis, None, slice(1, None)),
    (np.array([0, 2, 0, 0]),),  # repeated integer indices accumulate
    (slice(None), np.array([[1, 0], [1, 1]])),
    (np.array([True, False, True]),),
]


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_getitem(key):
    x = values(1, (3, 3))
    check(lambda x: x[key] * 1.5, [x])


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_setitem(key):
    x = values(2, (3, 3))
    sel = np.asarray(x[key]).shape

    def f(x, v):
        y = x * 1.0
        y[key] = v * v
        return y

    check(f, [x, values(3, sel)])  # repeated indices: the last write wins
    check(f, [x, values(3, sel[-1:])])  # value broadcast to the selection


def test_setitem_gradient_wrt_the_overwritten_array_is_masked():
    g = xp.grad(lambda x: xp.sum(_set(x, 1, 5.0) * x))(np.ones(3))
    np.testing.assert_array_equal(np.asarray(g), [2, 5, 2])


def _set(x, k, v):
    y = x * 1.0
    y[k] = v
    return y


def test_addat():
    idx = np.array([0, 2, 0, 1])

    def f(x, v):
        return apply_op(AddAt((("a",),)), x, v, xp.asarray(idx))

    check(f, [values(1, (3, 2)), values(2, (4, 2))])


def test_creation():
    check(lambda v: apply_op(Alloc((2, 3)), v), [np.array(1.5)])
    check(lambda x: x * xp.arange(3.0) + xp.linspace(0, 1, 3) + xp.eye(3)[0], [values(1, (3,))])
    check(lambda x: x * xp.ones_like(x) + xp.zeros((3,)), [values(1, (3,))])


def test_composite_and_fused_reduce():
    f64 = np.dtype(np.float64)
    # exp(x - y) * x + 2, and its sum over axis 1
    comp = Composite((f64, f64), (("subtract", (0, 1), f64, None), ("exp", (2,), f64, None),
                                  ("multiply", (3, 0), f64, None), ("const", (), f64, 2.0),
                                  ("add", (4, 5), f64, None)), (6, 3))
    x, y = values(1, (2, 3)), values(2, (3,))
    check(lambda x, y: apply_op(Composite(*comp.params[:2], (6,)), x, y), [x, y])
    xp.check_vjp_jvp(lambda x, y: sum(xp.sum(o) for o in _outs(comp, x, y)), [x, y])
    fused = FusedReduce(Composite(*comp.params[:2], (6,)), Reduce("sum", (1,), False, f64))
    check(lambda x, y: apply_op(fused, x, y), [x, y])
    same = Composite((f64, f64), (("multiply", (0, 1), f64, None),), (2,))
    check(lambda x: apply_op(same, x, x), [x])  # one input given twice


def test_row_program():
    """A row program's rules are its members': a row max, the shifted exp and its row sum
    (two of them returned), against finite differences and the adjoint identity."""
    from lazyarr.array.coerce import as_var, build_many

    f64 = np.dtype(np.float64)
    r, c = 3, 4
    shift = Composite((f64, f64), (("subtract", (0, 1), f64, None), ("exp", (2,), f64, None)),
                      (3,))
    prog = RowProgram(1, ((Reduce("max", (1,), True, f64), (0,), ((f64, (r, 1)),)),
                          (shift, (0, 1), ((f64, (r, c)),)),
                          (Reduce("sum", (1,), True, f64), (2,), ((f64, (r, 1)),))), (2, 3))

    def f(x):
        e, s = build_many(prog, as_var(x))
        return e / s

    check(f, [values(3, (r, c))])


def _outs(comp, x, y):
    from lazyarr.array.coerce import as_var, build_many

    return build_many(comp, as_var(x), as_var(y))


@pytest.mark.parametrize("fn", [
    lambda z: xp.sum(z, axis=0), lambda z: xp.mean(z, axis=1, keepdims=True),
    lambda z: xp.prod(z, axis=1), lambda z: xp.cumulative_prod(z, axis=1),
    lambda z: xp.cumulative_sum(z, axis=0, include_initial=True),
    lambda z: z[np.array([1, 0, 1])] * z[0], lambda z: xp.flip(xp.permute_dims(z, (1, 0))),
], ids=["sum", "mean", "prod", "cumprod", "cumsum", "getitem", "flip"])
def test_complex_values(fn):
    check(fn, [values(9, (2, 3), 0.5, 1.5, True, complex_=True)])
