"""The C reductions and ``matmul`` (`array/ops/_calls.pyx`) remember their last call; a call
that differs in any way (axis, keepdims, dtype argument, input dtype, shape or rank) must give
what the Python rules give. NumPy is the oracle for values, dtypes and shapes; errors keep
their types and name this file's line; nodes take the user's line as their site."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.graph.userline import site_location

_RNG = np.random.default_rng(7)


def _data(shape, dt):
    if np.dtype(dt) == np.bool_:
        return _RNG.random(shape) > 0.5
    return (_RNG.random(shape) * 4 + 1).astype(dt)


# consecutive calls: the same arguments (a memo hit), then one thing changed at a time
_SEQUENCE = [
    ((3, 4), np.float32, {"axis": 1}),
    ((3, 4), np.float32, {"axis": 1}),
    ((5, 4), np.float32, {"axis": 1}),            # other shape
    ((5, 4), np.float64, {"axis": 1}),            # other dtype
    ((5, 4), np.float64, {"axis": 1, "keepdims": True}),
    ((5, 4), np.float64, {"axis": 0, "keepdims": True}),  # other axis
    ((5, 4), np.float64, {"axis": -1, "keepdims": True}),
    ((5, 4, 2), np.float64, {"axis": -1, "keepdims": True}),  # other rank
    ((5, 4, 2), np.float64, {"axis": (0, 2)}),
    ((5, 4, 2), np.float64, {"axis": (0, 2)}),
    ((5, 4, 2), np.float64, {}),
    ((7,), np.float64, {}),
    ((7,), np.int32, {}),
    ((), np.float32, {}),
    ((2, 3), np.bool_, {"axis": 0}),
    ((2, 3), np.bool_, {"axis": 0}),
]

_REDUCTIONS = ["sum", "prod", "mean", "max", "min", "all", "any"]


@pytest.mark.parametrize("name", _REDUCTIONS)
def test_reductions_after_other_calls_equal_numpy(name):
    f, ref = getattr(xp, name), getattr(np, name)
    for shape, dt, kw in _SEQUENCE * 2:
        if name == "mean" and dt == np.bool_:
            continue
        xn = _data(shape, dt)
        got = f(xp.asarray(xn), **kw)
        want = np.asarray(ref(xn, **kw))
        if name in ("sum", "prod") and xn.dtype.kind in "bi":
            want = want.astype(np.int64)
        if name == "mean" and xn.dtype.kind == "i":
            want = want.astype(np.float64)
        assert got.shape == want.shape, (name, shape, dt, kw)
        assert got.dtype == want.dtype, (name, shape, dt, kw)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_sum_dtype_argument_is_part_of_the_memo():
    xn = _data((3, 4), np.float32)
    x = xp.asarray(xn)
    for dt in (None, xp.float64, xp.float64, None, xp.float32):
        got = xp.sum(x, axis=0, dtype=dt)
        want = np.sum(xn, axis=0, dtype=dt)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_axis_equal_in_value_but_not_in_type_misses():
    """``1.0 == 1``: a float axis must not find the int axis's node (it is a TypeError)."""
    x = xp.asarray(_data((3, 4), np.float64))
    xp.sum(x, axis=1)
    with pytest.raises(TypeError, match="axis must be an int"):
        xp.sum(x, axis=1.0)


def _line_after() -> int:
    return inspect.currentframe().f_back.f_lineno + 1


def test_errors_after_a_memo_hit_keep_types_and_the_user_line():
    here = __file__
    x2 = xp.asarray(_data((3, 4), np.float64))
    xp.sum(x2, axis=1)
    xp.sum(x2, axis=1)
    line = _line_after()
    with pytest.raises(ValueError) as e:  # AxisError is a ValueError (and an IndexError)
        xp.sum(xp.asarray(_data((4,), np.float64)), axis=1)
    assert f"{here}, line {line + 1}" in str(e.value)
    xp.max(x2, axis=0)
    with pytest.raises(ValueError, match="empty"):
        xp.max(xp.asarray(np.ones((0, 4))), axis=0)
    with pytest.raises(TypeError, match="mean"):
        xp.mean(x2, dtype=xp.float32)
    with pytest.raises(TypeError):
        xp.mean(xp.asarray(np.ones(3, dtype=bool)))


def test_nodes_take_the_users_line():
    x = xp.asarray(_data((3, 4), np.float32))
    w = xp.asarray(_data((4, 2), np.float32))
    for _ in range(2):  # a miss, then a hit
        line = _line_after()
        s, m = xp.sum(x, axis=1), x @ w
        assert site_location(s._v.owner.site) == (__file__, line)
        assert site_location(m._v.owner.site) == (__file__, line)


_PAIRS = [
    ((2, 3), (3, 4), np.float32),
    ((2, 3), (3, 4), np.float32),
    ((2, 3), (3, 5), np.float32),     # other second shape
    ((6, 3), (3, 5), np.float32),     # other first shape
    ((6, 3), (3, 5), np.float64),     # other dtype
    ((3,), (3, 5), np.float64),       # 1-d operands
    ((6, 3), (3,), np.float64),
    ((3,), (3,), np.float64),
    ((4, 6, 3), (3, 5), np.float64),  # batched
    ((4, 6, 3), (1, 3, 5), np.float64),
    ((2, 3), (3, 4), np.int32),
    ((2, 3), (3, 4), np.complex64),
]


def test_matmul_after_other_calls_equals_numpy():
    for s1, s2, dt in _PAIRS * 2:
        an, bn = _data(s1, dt), _data(s2, dt)
        for got in (xp.asarray(an) @ xp.asarray(bn), xp.matmul(xp.asarray(an), xp.asarray(bn))):
            want = np.matmul(an, bn)
            assert got.shape == want.shape and got.dtype == want.dtype, (s1, s2, dt)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_matmul_other_operands_and_errors_after_a_memo_hit():
    an, bn = _data((2, 3), np.float32), _data((3, 4), np.float64)
    a, b = xp.asarray(an), xp.asarray(bn)
    a @ xp.asarray(an.T)  # fills the memo with float32 (2, 3) @ (3, 2)
    got = a @ b  # promotion: the Python path
    assert got.dtype == np.float64
    np.testing.assert_allclose(np.asarray(got), an.astype(np.float64) @ bn, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(a @ an.T), an @ an.T, rtol=1e-6)  # NumPy operand
    np.testing.assert_allclose(np.asarray(an.T @ a), an.T @ an, rtol=1e-6)  # reflected
    a @ xp.asarray(an.T)
    line = _line_after()
    with pytest.raises(ValueError) as e:
        a @ xp.asarray(an)
    assert f"{__file__}, line {line + 1}" in str(e.value)
    with pytest.raises(ValueError):
        xp.matmul(a, xp.asarray(np.float32(2.0)))
    m = xp.asarray(np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError):
        m @ m


def test_two_alternating_reductions_and_products_equal_numpy():
    """A loss takes two different sums per step and an MLP one product per layer: the
    reductions keep two memos and ``matmul`` a table of result shapes; alternating calls
    still give NumPy's values and shapes, and a bad pair still raises."""
    e, y = _data((4, 6), np.float64), _data((4, 6), np.float64)
    x, w1, w2 = _data((4, 5), np.float64), _data((5, 6), np.float64), _data((6, 3), np.float64)
    for _ in range(3):
        s1 = xp.sum(xp.asarray(e), axis=1, keepdims=True)
        s2 = xp.sum(xp.asarray(y), axis=1)
        s3 = xp.sum(xp.asarray(e), axis=0)
        np.testing.assert_allclose(np.asarray(s1), e.sum(1, keepdims=True))
        np.testing.assert_allclose(np.asarray(s2), y.sum(1))
        np.testing.assert_allclose(np.asarray(s3), e.sum(0))
        h = xp.asarray(x) @ xp.asarray(w1)
        z = h @ xp.asarray(w2)
        assert h.shape == (4, 6) and z.shape == (4, 3)
        np.testing.assert_allclose(np.asarray(z), x @ w1 @ w2)
        with pytest.raises(ValueError):
            xp.asarray(x) @ xp.asarray(w2)


@pytest.mark.parametrize("fn", [xp.sum, xp.prod, xp.mean, xp.max, xp.min, xp.all, xp.any])
def test_an_axis_object_changed_between_calls_is_read_again(fn):
    """The memo compared ``axis`` by identity: a list or 0-d NumPy axis written between two
    calls gave the first call's reduction."""
    x = np.arange(1.0, 13.0).reshape(3, 4)
    a = xp.asarray(x)
    npfn = {xp.sum: np.sum, xp.prod: np.prod, xp.mean: np.mean, xp.max: np.max,
            xp.min: np.min, xp.all: np.all, xp.any: np.any}[fn]
    for ax in ([0], np.array(0)):
        fn(a, axis=ax)
        ax[0 if isinstance(ax, list) else ...] = 1
        np.testing.assert_array_equal(np.asarray(fn(a, axis=ax)), npfn(x, axis=1))
