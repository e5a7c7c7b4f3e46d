"""``x[key] = v`` writes into ``x``'s buffer where nothing else can see it (a buffer the
program made and nothing else reads, or a donated one at its last reader), so that a chain of
updates copies ``x`` once at most, not once per update (a row-by-row fill was quadratic)."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import _donate
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.index import SetItem
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

RNG = np.random.default_rng(21)


def _kinds(prog) -> list[str]:
    """``perform``/``perform_into`` per update thunk of a linked program, in order."""
    return [t.fn.__name__ for t in prog.thunks if isinstance(t.node.op, SetItem)]


def _writes(ns, c, idx, mask):
    """A chain of updates of every key kind, with broadcast values."""
    c[0] = 1.5
    c[2:5] = ns.asarray([10.0, 20.0, 30.0, 40.0])
    c[idx] = -1.0
    c[mask] = c[mask] * 0.0 + 7.0 if ns is np else 7.0
    c[1, 1:3] = ns.asarray([[8.0, 9.0]])[0]
    return c


def test_a_chain_of_updates_copies_the_argument_once():
    x = RNG.standard_normal((6, 4))
    idx, mask = np.array([5, 3]), x[:, 0] > 0.3
    f = xp.compile(lambda c, i, m: _writes(xp, c, i, m))
    arg = x.copy()
    got = np.asarray(f(arg, idx, mask))
    np.testing.assert_array_equal(arg, x)  # the caller's array is left alone
    np.testing.assert_array_equal(got, _writes(np, x.copy(), idx, mask))
    kinds = _kinds(f.program(arg, idx, mask).vm)
    assert kinds == ["perform"] + ["perform_into"] * 4


def test_updates_after_a_view_is_read_copy():
    """A view of the array (``c[0]``) was read: the next update writes into a copy."""
    x = RNG.standard_normal((6, 4))

    def f(ns, c):
        c[1] = 3.0
        c[-1] = c[0] * 2.0
        c[2] = c[-1] + 1.0
        return c

    g = xp.compile(lambda c: f(xp, c))
    want = f(np, x.copy())
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(g(x)), want)
    assert _kinds(g.program(x).vm).count("perform") == 3


def test_a_donated_argument_takes_every_update():
    x = RNG.standard_normal((6, 4))
    idx, mask = np.array([0, 4]), x[:, 1] > 0.0
    f = xp.compile(lambda c, i, m: _writes(xp, c, i, m), donate_argnums=0)
    c = f(xp.asarray(x.copy()), idx, mask)
    c = f(c, idx, mask)
    np.testing.assert_array_equal(np.asarray(c), _writes(np, _writes(np, x.copy(), idx, mask),
                                                         idx, mask))
    assert set(_kinds(f._last.vm)) == {"perform_into"}


@pytest.mark.parametrize("donate", [(), (0,)])
def test_an_old_value_read_after_the_update_keeps_its_value(donate):
    """The old array is read after the write (by a node that needs the write's result): the
    write must go into a copy."""
    x = RNG.standard_normal((5, 3))

    def f(c):
        old = c * 1.0  # rewritten to ``c`` itself: the old value, read below
        c[1:3] = 0.0
        return c, old * xp.sum(c)

    g = xp.compile(f, donate_argnums=donate)
    for _ in range(2):
        c, r = g(xp.asarray(x.copy()))
        want = x.copy()
        want[1:3] = 0.0
        np.testing.assert_array_equal(np.asarray(c), want)
        np.testing.assert_allclose(np.asarray(r), x * want.sum(), rtol=1e-14)


def test_an_update_of_a_buffer_read_later_copies():
    x = Var.input(np.dtype(np.float64), (4, 3))
    v = Var.leaf(np.asarray(5.0), const=True)
    y, = apply(Elemwise("multiply"), x, x)  # a buffer the program made
    spec = (("s", 1, 3, None),)
    s1, = apply(SetItem(spec), y, v)
    later, = apply(Elemwise("add"), s1, y)  # reads y after the update
    prog = link(FunctionGraph([x], [later]))
    assert _kinds(prog) == ["perform"]
    a = RNG.standard_normal((4, 3))
    b = a * a
    b[1:3] = 5.0
    np.testing.assert_array_equal(prog([a])[0], b + a * a)
    # the same update with no later reader writes in place, and a chain carries on
    s2, = apply(SetItem((("i", 0),)), s1, v)
    prog = link(FunctionGraph([x], [apply(Elemwise("negative"), s2)[0]]))
    assert _kinds(prog) == ["perform_into", "perform_into"]
    b[0] = 5.0
    for _ in range(2):
        np.testing.assert_array_equal(prog([a])[0], -b)


def test_eager_row_writes_and_an_array_of_the_old_value(monkeypatch):
    monkeypatch.setattr(_donate, "MIN_BYTES", 1024)
    n = 512
    b, ref = xp.zeros((n, 4)), np.zeros((n, 4))
    for r in range(3):
        before = b + 1.0  # an array built from the old value keeps it
        for i in range(0, n, 7):
            b[i] = float(i + r)
            ref[i] = float(i + r)
        np.testing.assert_array_equal(np.asarray(b), ref)
        np.testing.assert_array_equal(np.asarray(before) - 1.0,
                                      np.where(np.arange(n)[:, None] % 7 == 0,
                                               np.arange(n)[:, None] + r - 1.0 if r else 0.0,
                                               0.0) * np.ones((1, 4)))
