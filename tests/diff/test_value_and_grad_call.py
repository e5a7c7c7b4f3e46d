"""`value_and_grad`'s call in C (`diff/_fastgrad.pyx`): the pending-depth bound is lifted
while differentiating and put back afterwards (also when ``f`` raises), a long chain inside
``f`` is differentiated whole (finite differences as the oracle), and ``f``'s bad results
raise the same errors as before, on a cache miss and on a hit."""

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import _front, coerce
from lazyarr.diff import cache
from lazyarr.diff.engine import deep_graphs


@pytest.fixture
def shallow(monkeypatch):
    """A small pending-depth bound (8), so that a chain of 30 ops would be cut under it."""
    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)


def _chain(x, n=30):
    for _ in range(n):
        x = xp.sin(x) * 1.01
    return x


def test_deep_graphs_lifts_the_bound_and_puts_it_back(shallow):
    z = xp.asarray(np.zeros(3))
    with deep_graphs():
        assert _front.depth_bound_lifted()
        with deep_graphs():
            pass
        assert _front.depth_bound_lifted()
        for _ in range(30):
            z = z + 1.0
        assert z._v.depth == 30  # nothing realized on its own
    assert not _front.depth_bound_lifted()
    with pytest.raises(RuntimeError), deep_graphs():
        raise RuntimeError
    assert not _front.depth_bound_lifted()
    assert coerce.MAX_PENDING_DEPTH == 8  # the process-wide bound is never written
    for _ in range(30):
        z = z + 1.0
        assert z._v.depth <= 9  # the C copy `wrap` reads is back too
    np.testing.assert_array_equal(np.asarray(z), np.full(3, 60.0))


@pytest.mark.parametrize("cached", [False, True])
def test_a_chain_deeper_than_the_bound_is_differentiated_whole(shallow, cached):
    old = cache.set_enabled(cached)
    try:
        vg = xp.value_and_grad(lambda v: xp.sum(_chain(v)))
        x0 = np.linspace(-1.0, 1.0, 4)
        for _ in range(2):  # a miss, then (cache on) a hit
            val, g = vg(xp.asarray(x0))
            eps = 1e-6
            fd = [(float(xp.sum(_chain(xp.asarray(x0 + eps * e))))
                   - float(xp.sum(_chain(xp.asarray(x0 - eps * e))))) / (2 * eps)
                  for e in np.eye(4)]
            np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-5, atol=1e-8)
            np.testing.assert_allclose(float(val), float(xp.sum(_chain(xp.asarray(x0)))))
            assert not _front.depth_bound_lifted()
    finally:
        cache.set_enabled(old)


def test_errors_of_f_and_of_its_result_put_the_bound_back(shallow):
    x = xp.asarray(np.ones(3))

    def boom(v):
        raise KeyError("inside f")

    with pytest.raises(KeyError, match="inside f"):
        xp.value_and_grad(boom)(x)
    assert not _front.depth_bound_lifted()
    for _ in range(2):  # the second call with the cache's template of the first shape
        with pytest.raises(TypeError, match="scalar"):
            xp.value_and_grad(lambda v: v * 2.0)(x)
        with pytest.raises(TypeError, match="real floating-point"):
            xp.value_and_grad(lambda v: xp.sum(v > 0))(x)
        with pytest.raises(ValueError):  # has_aux: a result that is not a pair
            xp.value_and_grad(lambda v: (xp.sum(v), 1, 2), has_aux=True)(x)
        assert not _front.depth_bound_lifted()


def test_has_aux_gives_the_aux_value_on_a_miss_and_a_hit():
    vg = xp.value_and_grad(lambda v: (xp.sum(v * v), {"n": 3}), has_aux=True)
    for _ in range(2):
        (val, aux), g = vg(xp.asarray(np.arange(3.0)))
        assert aux == {"n": 3}
        assert float(val) == 5.0
        np.testing.assert_array_equal(np.asarray(g), 2 * np.arange(3.0))
