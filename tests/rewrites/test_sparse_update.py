"""The sparse-update rewrite: an SGD step through a gather updates only the gathered rows."""

import numpy as np

import lazyarr as xp
from lazyarr.array.ops.creation import Alloc
from lazyarr.array.ops.scatter import AddAt
from lazyarr.diff import grad
from lazyarr.rewrites import options, rewrite

from .rw_helpers import graph_of, run

RNG = np.random.default_rng(3)


def _sgd_step(lr):
    U = RNG.standard_normal((7, 3))
    w = RNG.standard_normal((4, 3))
    idx = np.array([1, 5, 1, 0])  # row 1 twice: its two terms accumulate
    Ux = xp.asarray(U)
    g = grad(lambda u: xp.sum(xp.take(u, xp.asarray(idx), axis=0) * xp.asarray(w)))(Ux)
    expected = U.copy()
    np.add.at(expected, idx, -lr * w)
    return U, Ux - lr * g, expected


def _rewritten(new):
    fg, args = graph_of(new)
    with options(exclude={"fusion"}):
        rewrite(fg)
    return fg, args


def test_sgd_step_through_a_gather_scatters_into_the_table():
    U, new, expected = _sgd_step(0.25)
    fg, args = _rewritten(new)
    nodes = fg.toposort()
    (scatter,) = [n for n in nodes if isinstance(n.op, AddAt)]
    assert scatter.inputs[0] in fg.inputs  # into the table itself, not into zeros
    assert not [n for n in nodes if isinstance(n.op, Alloc)]  # no dense zero gradient
    assert len(nodes) <= 3  # -(lr * w) (one or two elementwise nodes) and the scatter
    np.testing.assert_allclose(run(fg, args)[0], expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(new), expected, rtol=1e-14, atol=1e-15)


def test_not_applied_with_a_non_constant_rate():
    U, _, _ = _sgd_step(0.25)
    lr = xp.asarray(np.array(0.25))
    Ux = xp.asarray(U)
    idx = xp.asarray(np.array([2, 2]))
    g = grad(lambda u: xp.sum(xp.take(u, idx, axis=0)))(Ux)
    fg, args = _rewritten(Ux - lr * g)
    scatters = [n for n in fg.toposort() if isinstance(n.op, AddAt)]
    assert scatters and scatters[0].inputs[0] not in fg.inputs
    expected = U.copy()
    expected[2] -= 0.5
    np.testing.assert_allclose(run(fg, args)[0], expected, rtol=1e-14)
