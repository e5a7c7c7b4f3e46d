"""Reading one value also writes back the live arrays whose graphs meet its program: an eager
SGD loop that reads only ``float(loss)`` keeps its parameters as leaves and hits the trace cache.
"""

import numpy as np
import pytest

import lazyarr as xp


def _loss(w, x, y):
    z = x @ w
    m = xp.max(z, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True)) + m
    return xp.mean(xp.sum(y * (lse - z), axis=1))


def _numpy_step(w, x, y, lr):
    z = x @ w
    e = np.exp(z - z.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    loss = np.mean(np.sum(-y * np.log(p), axis=1))
    return w - lr * (x.T @ (p - y)) / x.shape[0], loss


def test_eager_sgd_reading_only_the_loss_runs_on_the_trace_cache():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    y = np.eye(3)[rng.integers(0, 3, 4)]
    w_np = rng.standard_normal((5, 3)) * 0.1
    w = xp.asarray(w_np)
    vg = xp.value_and_grad(_loss)
    xa, ya = xp.asarray(x), xp.asarray(y)
    xp.trace_cache.clear()
    for _ in range(12):
        loss, g = vg(w, xa, ya)
        w = w - 0.5 * g
        w_np, loss_np = _numpy_step(w_np, x, y, 0.5)
        assert abs(float(loss) - loss_np) < 1e-12
        assert w._v.owner is None  # the new parameters were computed with the loss
    info = xp.trace_cache_info()
    assert info["misses"] <= 2 and info["hits"] >= 10
    np.testing.assert_allclose(np.asarray(w), w_np, rtol=1e-12)


def test_a_live_array_that_shares_no_node_stays_pending():
    x = xp.asarray(np.arange(3.0))
    a = xp.exp(x) + 1.0
    b = xp.sin(x) * 3.0  # same leaf, no shared node
    c = a * 2.0          # reads a node of a's program
    np.asarray(a)
    assert b._v.owner is not None
    assert c._v.owner is None
    np.testing.assert_allclose(np.asarray(c), (np.exp(np.arange(3.0)) + 1) * 2)
    np.testing.assert_allclose(np.asarray(b), np.sin(np.arange(3.0)) * 3)


def test_many_unrelated_pending_arrays_stay_pending():
    x = xp.asarray(np.arange(4.0))
    held = [x * float(i) for i in range(2000)]  # share only the leaf x with what is read
    y = xp.exp(x) + 1.0
    z = y * 2.0  # meets y's program, but found only if the walk gets to it
    np.testing.assert_allclose(np.asarray(y), np.exp(np.arange(4.0)) + 1)
    assert all(h._v.owner is not None for h in held)
    np.testing.assert_allclose(np.asarray(z), (np.exp(np.arange(4.0)) + 1) * 2)


def test_holding_many_pending_arrays_is_not_quadratic(monkeypatch):
    """The registry of live pending variables is pruned when it grows past a bound; when most
    entries are alive the bound grows with it, so building n held arrays prunes O(log n) times
    (it used to prune on every new array once past the bound: quadratic)."""
    from lazyarr.array import coerce, materialize

    calls = []
    real = materialize.prune_live

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(coerce, "prune_live", counting)
    monkeypatch.setattr(coerce, "LIVE_PRUNE_AT", 64)
    monkeypatch.setattr(coerce, "_prune_at", 64)
    x = xp.asarray(np.arange(4.0))
    held = [x + float(i) for i in range(2000)]
    assert len(calls) <= 12
    assert float(xp.sum(held[-1])) == float(np.sum(np.arange(4.0) + 1999.0))


def test_the_live_registry_empties_when_only_the_asked_array_was_held():
    from lazyarr.array import materialize as M

    saved = M.live_pending[:]                     # pending arrays other tests still hold
    del M.live_pending[:]
    try:
        _registry_empties(M)
    finally:
        M.live_pending[:0] = saved


def _registry_empties(M):
    xn = np.linspace(-1.0, 1.0, 7)
    x = xp.asarray(xn)
    for _ in range(3):
        out = xp.exp(-x * x / 2) * xp.sin(x) + 0.5 * x * xp.cos(x)
        assert len(M.live_pending) >= 1
        got = np.asarray(out)                     # nothing else pending is held
        assert M.live_pending == []
        np.testing.assert_allclose(got, np.exp(-xn * xn / 2) * np.sin(xn)
                                   + 0.5 * xn * np.cos(xn), rtol=1e-12)
    held = xp.sin(x)                              # held, pending, not asked
    out = xp.cos(x) * 2.0
    np.testing.assert_allclose(np.asarray(out), np.cos(xn) * 2.0, rtol=1e-12)
    assert held._v.owner is not None and M.live_pending[0] is held._v   # kept
    np.testing.assert_allclose(np.asarray(held), np.sin(xn), rtol=1e-12)


def test_a_held_array_that_fails_does_not_stop_the_others_sharing_its_graph():
    """``inv`` of a singular matrix fails when run; reading an array that only shares a
    subexpression with it computes that array alone (the error stays with ``inv``)."""
    m = xp.asarray(np.zeros((3, 3)))
    s = m * 2.0
    inv = xp.linalg.inv(s)
    other = s + 1.0
    for _ in range(2):  # the trace, then the cached programs
        np.testing.assert_array_equal(np.asarray(other), np.ones((3, 3)))
        np.testing.assert_array_equal(np.asarray(s), np.zeros((3, 3)))
        with pytest.raises(np.linalg.LinAlgError):
            np.asarray(inv)
        s = m * 2.0
        inv = xp.linalg.inv(s)
        other = s + 1.0


def test_a_pending_array_is_listed_once_however_often_it_is_wrapped_again():
    """Functions that wrap a pending operand again (``stack`` expands each one, ``reshape`` to
    its own shape returns it) list its variable once: the registry every realization and every
    freeing of dropped graphs walks stays the size of what user arrays hold."""
    from lazyarr.array import materialize as M

    saved = M.live_pending[:]
    del M.live_pending[:]
    try:
        h = xp.asarray(np.arange(6.0).reshape(2, 3)) + 1.0
        for _ in range(300):
            xp.stack([h, h])
            xp.reshape(h, (2, 3))
        assert sum(v is h._v for v in M.live_pending) == 1
        assert len(M.live_pending) <= 200     # the dropped ones, freed every 64
        np.testing.assert_array_equal(np.asarray(xp.stack([h, h])),
                                      np.stack([np.arange(6.0).reshape(2, 3) + 1.0] * 2))
    finally:
        M.live_pending[:0] = saved
