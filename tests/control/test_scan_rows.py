"""The scan step loop's row windows and in-place stacked outputs (`_loop.run_scan`): bodies
that hand back their sequence row or their carry, stacked outputs that are also carries,
non-contiguous sequences, reverse scans, and programs with and without ``call_into`` give
NumPy's results."""

import numpy as np
import pytest
from lazyarr.control._loop import run_scan

import lazyarr as xp

RNG = np.random.default_rng(3)


def _np_scan(f, c, xs, reverse=False):
    ys = []
    order = range(len(xs))[::-1] if reverse else range(len(xs))
    out = [None] * len(xs)
    for t in order:
        c, y = f(c, xs[t])
        out[t] = y
    ys = np.stack(out)
    return c, ys


@pytest.mark.parametrize("reverse", [False, True])
def test_stacked_output_that_is_the_carry(reverse):
    x = RNG.standard_normal((6, 4))
    W = RNG.standard_normal((4, 4)) * 0.3

    def step(h, v):
        h = xp.tanh(v + h @ W)
        return h, h

    c, ys = xp.scan(step, xp.zeros(4), xp.asarray(x), reverse=reverse)
    rc, rys = _np_scan(lambda h, v: (np.tanh(v + h @ W),) * 2, np.zeros(4), x, reverse)
    np.testing.assert_allclose(np.asarray(ys), rys, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(c), rc, rtol=1e-12)
    assert not np.shares_memory(np.asarray(c), np.asarray(ys))


def test_body_returning_its_row_and_its_previous_carry():
    x = RNG.standard_normal((5, 3))

    def step(c, v):  # new carry: this step's row (a window); ys: the old carry and 2*row
        return (v, c[1] + 1.0), (c[0], v * 2.0, c[1])

    (cv, cn), (old, dbl, ns) = xp.scan(step, (xp.zeros(3), xp.asarray(0.0)), xp.asarray(x))
    np.testing.assert_array_equal(np.asarray(cv), x[-1])
    np.testing.assert_array_equal(np.asarray(old), np.vstack([np.zeros(3), x[:-1]]))
    np.testing.assert_array_equal(np.asarray(dbl), 2 * x)
    np.testing.assert_array_equal(np.asarray(ns), np.arange(5.0))
    assert float(cn) == 5.0


def test_carry_passed_through_beside_a_stacked_output():
    x = RNG.standard_normal((7, 2))

    def step(c, v):  # carry (a, b) -> (a + v, a): b reads the row written the step before
        a, b = c
        n = a + v
        return (n, a), n

    (a, b), ys = xp.scan(step, (xp.zeros(2), xp.zeros(2)), xp.asarray(x))
    cs = np.cumsum(x, 0)
    np.testing.assert_allclose(np.asarray(ys), cs, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(a), cs[-1], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(b), cs[-2], rtol=1e-12)


def test_non_contiguous_and_one_dimensional_sequences():
    xt = np.asfortranarray(RNG.standard_normal((6, 3)))  # rows are strided
    v1 = RNG.standard_normal(6)
    c, ys = xp.scan(lambda c, x: (c + x[0] * x[1], c * x[1]), xp.zeros(3),
                    (xp.asarray(xt), xp.asarray(v1)))
    rc, rys = _np_scan(lambda c, x: (c + x[0] * x[1], c * x[1]), np.zeros(3),
                       list(zip(xt, v1)))
    np.testing.assert_allclose(np.asarray(ys), rys, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(c), rc, rtol=1e-12)


class _Plain:
    """A program without ``call_into``: outputs copied into the stacked arrays."""

    def __call__(self, args):
        c, x = args
        return [c + x, (c + x) * 2]


class _Into(_Plain):
    """A program with ``call_into`` that writes its stacked output into the target it got."""

    def __init__(self):
        self.hits = 0

    def call_into(self, args, targets):
        c, x = args
        n = c + x
        t = targets[1]
        if t is not None:
            np.multiply(n, 2, out=t)
            self.hits += 1
            return [n, t]
        return [n, n * 2]


@pytest.mark.parametrize("prog", [_Plain(), _Into()])
def test_run_scan_with_and_without_call_into(prog):
    xs = RNG.standard_normal((5, 3))
    ys = np.empty((5, 3))
    c = run_scan(prog, [np.zeros(3)], [xs], [], [ys], (False,), 5, False)
    np.testing.assert_allclose(c[0], xs.sum(0), rtol=1e-12)
    np.testing.assert_allclose(ys, 2 * np.cumsum(xs, 0), rtol=1e-12)
    if isinstance(prog, _Into):
        assert prog.hits == 5
