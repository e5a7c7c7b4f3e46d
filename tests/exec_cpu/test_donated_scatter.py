"""A scatter-add into a donated argument (an SGD step on an embedding table under
``lazyarr.compile``) writes into the donated buffer at its last reader: no copy of the table."""

import numpy as np

import lazyarr as xp
from lazyarr.diff import grad

RNG = np.random.default_rng(11)


def _step(w, with_sum: bool):
    def step(U, idx):
        g = grad(lambda u: xp.sum(xp.take(u, idx, axis=0) * w))(U)
        new = U - 0.5 * g
        return (new, xp.sum(U)) if with_sum else new
    return step


def _in_place(f) -> int:
    return len([t for t in f._last.vm.thunks if getattr(t.fn, "__name__", "") == "perform_into"])


def _expected(U0, w, idx, steps):
    out = U0.copy()
    for _ in range(steps):
        np.add.at(out, idx, -0.5 * np.asarray(w))
    return out


def test_sparse_update_of_a_donated_table_runs_in_place():
    U0 = RNG.standard_normal((6, 3))
    w = xp.asarray(RNG.standard_normal((3, 3)))
    idx = np.array([1, 4, 1])
    f = xp.compile(_step(w, False), donate_argnums=(0,))
    U = f(xp.asarray(U0.copy()), idx)
    U = f(U, idx)
    assert _in_place(f) == 1
    np.testing.assert_allclose(np.asarray(U), _expected(U0, w, idx, 2), rtol=1e-14)


def test_a_later_reader_of_the_table_sees_its_old_value():
    U0 = RNG.standard_normal((6, 3))
    w = xp.asarray(RNG.standard_normal((3, 3)))
    idx = np.array([2, 0, 2])
    f = xp.compile(_step(w, True), donate_argnums=(0,))
    U, s0 = f(xp.asarray(U0.copy()), idx)
    U, s1 = f(U, idx)
    np.testing.assert_allclose(np.asarray(U), _expected(U0, w, idx, 2), rtol=1e-14)
    np.testing.assert_allclose(float(s0), U0.sum(), rtol=1e-13)
    np.testing.assert_allclose(float(s1), _expected(U0, w, idx, 1).sum(), rtol=1e-13)


def test_without_donation_the_argument_is_left_alone():
    U0 = RNG.standard_normal((6, 3))
    w = xp.asarray(RNG.standard_normal((3, 3)))
    idx = np.array([0, 0, 5])
    f = xp.compile(_step(w, False))
    arg = U0.copy()
    U = f(arg, idx)
    np.testing.assert_array_equal(arg, U0)
    assert _in_place(f) == 0
    np.testing.assert_allclose(np.asarray(U), _expected(U0, w, idx, 1), rtol=1e-14)
