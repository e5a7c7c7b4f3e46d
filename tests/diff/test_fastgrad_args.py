"""`_fastgrad.Args`: a differentiated argument that is a list of Arrays (an eager step's
parameters) skips the generic pytree code; the fresh inputs, the structures and the rebuilt
gradients must be exactly those of the generic path, and gradients of any pytree must equal
NumPy's hand-derived ones."""

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.diff import _fastgrad
from lazyarr.graph.pytree import flatten


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return [xp.asarray(rng.standard_normal((3, k + 1))) for k in range(n)]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_a_list_of_arrays_has_the_generic_structure(n):
    ps = _arrays(n)
    a = _fastgrad.Args((ps, 2.0), (0,), "grad")
    assert a.structs == [flatten(list(range(n)))[1]]
    new = a.args[0]
    assert type(new) is list and len(new) == n
    for p, q, v in zip(ps, new, a.flat):
        assert q._v is v and v is not p._v and v.data is None
        assert (v.dtype, v.shape) == (p._v.dtype, p._v.shape)
    assert [id(v) for v in a.primals] == [id(p._v) for p in ps]
    assert a.args[1] == 2.0


def test_rebuild_of_a_list_is_a_new_list():
    ps = _arrays(2)
    a = _fastgrad.Args((ps,), (0,), "grad")
    flat = ["g0", "g1"]
    out = a.rebuild(flat, True)
    assert out == flat and type(out) is list and out is not flat
    assert a.rebuild(flat, False) == (flat,)


@pytest.mark.parametrize("tree", [
    lambda ps: tuple(ps),
    lambda ps: {"w": ps[0], "b": ps[1]},
    lambda ps: [ps[0], [ps[1]]],
    lambda ps: [ps[0], np.asarray(ps[1])],  # a NumPy leaf: not a list of Arrays
])
def test_other_pytrees_take_the_generic_path(tree):
    t = tree(_arrays(2))
    a = _fastgrad.Args((t,), (0,), "grad")
    leaves, struct = flatten(t)
    assert a.structs == [struct]
    assert flatten(a.args[0])[1] == struct
    rebuilt = a.rebuild(["g0", "g1"], True)
    assert flatten(rebuilt) == (["g0", "g1"], struct)


def _loss(ps, x):
    w, b = ps
    return xp.sum(xp.tanh(x @ w + b) ** 2)


def _numpy_grads(w, b, x):
    t = np.tanh(x @ w + b)
    d = 2 * t * (1 - t * t)
    return np.sum(t * t), [x.T @ d, d.sum(axis=0)]


@pytest.mark.parametrize("wrap", [list, tuple])
def test_gradients_equal_numpy_for_lists_and_tuples(wrap):
    rng = np.random.default_rng(1)
    w, b, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((5, 4))
    vg = xp.value_and_grad(_loss)
    want_v, want_g = _numpy_grads(w, b, x)
    ps = wrap([xp.asarray(w), xp.asarray(b)])
    for _ in range(3):  # a miss, then hits of the gradient cache
        v, g = vg(ps, xp.asarray(x))
        assert type(g) is wrap
        np.testing.assert_allclose(float(v), want_v, rtol=1e-12)
        for gi, wi in zip(g, want_g):
            np.testing.assert_allclose(np.asarray(gi), wi, rtol=1e-12)


def test_an_integer_leaf_in_a_list_is_rejected():
    ps = [xp.asarray(np.ones(3)), xp.asarray(np.arange(3))]
    with pytest.raises(TypeError, match="int64"):
        xp.grad(lambda ps: xp.sum(ps[0]))(ps)
