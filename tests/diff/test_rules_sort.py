"""Derivative rules of sorting, searching, gathering and set ops (see ``test_rules_ext``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp

from .test_rules_ext import CPLX, FEW, check_rule, rand, seeds

# -- sorting, searching, sets ------------------------------------------------------------------

@pytest.mark.parametrize("descending", [False, True])
@FEW
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), axis=st.integers(-1, 0),
       seed=seeds)
def test_sort(descending, shape, axis, seed):
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 1.0
    check_rule(lambda v: xp.sort(v, axis=axis, descending=descending), x, seed=seed)


@FEW
@given(n=st.integers(1, 5), idx=st.lists(st.integers(-5, 4), min_size=1, max_size=6),
       seed=seeds)
def test_take_scatters_repeats(n, idx, seed):
    idx = np.array([i % n for i in idx])
    idx = np.where(np.arange(idx.size) % 2 == 1, idx - n, idx)  # some negative indices
    x = rand(np.random.default_rng(seed), (2, n), np.float64)
    check_rule(lambda v, i: xp.take(v, i, axis=1), x, idx, seed=seed)
    check_rule(lambda v, i: xp.take(v, i), x[0], idx, seed=seed)


@pytest.mark.parametrize("dtype", CPLX)
def test_take_along_axis_broadcast(dtype):
    rng = np.random.default_rng(0)
    x = rand(rng, (1, 4), dtype)
    idx = rng.integers(-4, 4, size=(3, 5))
    check_rule(lambda v, i: xp.take_along_axis(v, i, axis=1), x, idx)
    check_rule(lambda v, i: xp.take_along_axis(v, i, axis=1), rand(rng, (3, 4), dtype),
               rng.integers(0, 4, size=(1, 2)))


@pytest.mark.parametrize("fn", [xp.argsort, xp.argmax, xp.argmin, lambda v: xp.nonzero(v),
                                xp.count_nonzero, lambda v: xp.searchsorted(v, v),
                                lambda v: xp.isin(v, v)])
def test_integer_results_have_no_derivative(fn):
    g = check_rule(fn, np.array([3.0, 1.0, 2.0]), fd=False)
    assert all(c is None for c in g)


@pytest.mark.parametrize("kind", ["values", "counts", "inverse", "all"])
def test_unique_values_are_the_mean_of_their_elements(kind):
    x = np.array([[2.0, 1.0, 2.0], [3.0, 2.0, 1.0]])
    fn = getattr(xp, f"unique_{kind}")
    g = check_rule(fn, x, fd=False)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    rng = np.random.default_rng(0)
    rng.standard_normal(x.shape)  # the tangent comes first
    u = rng.standard_normal(3)
    np.testing.assert_allclose(g[0], (u / counts)[inv.reshape(x.shape)])
    check_rule(fn, np.array([0.5, -1.0, 2.0]))  # distinct values: a sort, checked by FD


def test_sort_and_expand_dims_of_run_time_sizes_under_compile():
    """The vjps of ``sort`` and of a reshape read no size known only at run time (inside
    `compile` it has no value): the gradient compiles and matches the eager one."""
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.5, 1.1, 0.4]])
    w = np.arange(6.0).reshape(2, 3)

    def f(v):
        m = v[v[:, 0] > 0]  # two rows at run time
        s = xp.sort(m, axis=1) * xp.arange(3.0) + xp.sort(m, axis=0) * xp.asarray(w)
        return xp.sum(s + xp.expand_dims(m, axis=0) ** 2)

    want = np.zeros_like(x)
    rows = x[x[:, 0] > 0]
    for i, r in zip(np.flatnonzero(x[:, 0] > 0), rows):
        want[i, np.argsort(r)] += np.arange(3.0)
    order = np.argsort(rows, axis=0)
    for j in range(3):
        want[np.flatnonzero(x[:, 0] > 0)[order[:, j]], j] += w[:, j]
    want[x[:, 0] > 0] += 2 * rows
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        np.testing.assert_allclose(np.asarray(g(xp.asarray(x))), want)


def test_second_derivative_of_sort_and_gathers_along_run_time_sizes_under_compile():
    """The vjp of ``take_along_axis`` (which the second derivative of ``sort`` meets) and of
    ``take`` scatter into zeros of x's shape, with positions along x's other axes: where
    x's sizes are known only at run time they are not read, eagerly or under `compile`."""
    x = np.array([1.0, -2.0, 3.0, 0.5])
    w = np.array([1.0, 2.0, 3.0])

    def h(a):  # grad of sum(sort(b)**3 * w) is 3 b**2 w[rank(b)]
        g = xp.grad(lambda b: xp.sum(xp.sort(b[b > 0]) ** 3 * xp.asarray(w)))(a)
        return xp.sum(g ** 2)

    pos = x > 0
    rank = np.argsort(np.argsort(x[pos]))
    want = np.zeros_like(x)
    want[pos] = 36 * x[pos] ** 3 * w[rank] ** 2
    for dh in (xp.grad(h), xp.compile(xp.grad(h))):
        np.testing.assert_allclose(np.asarray(dh(xp.asarray(x))), want)
    v = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.5, 1.1, 0.4], [0.2, 0.9, 1.3]])
    idx = np.array([[2, 0, 1], [0, 0, 2]])
    wv = np.arange(6.0).reshape(2, 3)

    def f(v):  # rows kept at run time, gathered along them and along the known axis
        m = v[v[:, 0] > 0]
        return (xp.sum(xp.take_along_axis(m, xp.asarray(idx), axis=0) ** 2 * xp.asarray(wv))
                + xp.sum(xp.take_along_axis(m, xp.asarray([[2, 2]]), axis=1) ** 3))

    rows = np.flatnonzero(v[:, 0] > 0)
    want = np.zeros_like(v)
    np.add.at(want, (rows[idx], np.arange(3)), 2 * v[rows[idx], np.arange(3)] * wv)
    want[rows, 2] += 2 * 3 * v[rows, 2] ** 2
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        np.testing.assert_allclose(np.asarray(g(xp.asarray(v))), want)
