"""Views (basic indexing, ``reshape(copy=False)``) follow NumPy: a read of a view sees every
write made to its base before the read, and writes through a view reach the base."""

from __future__ import annotations

import gc
import weakref

import numpy as np

import lazyarr as xp


def _vals(*arrays) -> list:
    return [np.asarray(a).tolist() for a in arrays]


def test_a_view_reads_its_bases_later_writes_and_writes_from_them():
    """a = zeros(4); v = a[1:3]; a[:] = 1: sum(v) is 2 (it was 0), and v += 1 then gives 4
    by way of 2 (it went 0 -> 4: the write started from the new base, the read did not)."""
    def run(m):
        a = m.zeros(4)
        v = a[1:3]
        a[:] = 1.0
        s1 = float(m.sum(v))
        v += 1.0
        s2 = float(m.sum(v))
        return s1, s2, _vals(a, v)

    assert run(xp) == run(np)
    assert run(xp)[0] == 2.0


def test_every_read_of_a_view_sees_an_in_place_write_to_its_base():
    """As an operand, through np.asarray, DLPack, float() and a reduction."""
    def run(m):
        a = m.asarray(np.arange(6.0))
        v = a[::2]
        r = m.reshape(a, (2, 3), copy=False)
        a *= 2.0
        a += 1.0
        return (_vals(v, r, v + 1.0, m.sum(r, axis=0)) + [float(v[1])]
                + [np.from_dlpack(v).tolist()])

    assert run(xp) == run(np)


def test_sibling_views_see_each_others_writes():
    def run(m):
        a = m.asarray(np.arange(8.0))
        v1, v2 = a[0:5], a[3:8]
        w = m.reshape(a, (2, 4), copy=False)
        v1[4] = -1.0
        out = _vals(v2, w)
        v2 += 10.0
        out += _vals(v1, w, a)
        w[0, 3] = 99.0
        return out + _vals(v1, v2, a)

    assert run(xp) == run(np)


def test_views_of_views_follow_writes_to_any_array_of_the_chain():
    def run(m):
        a = m.asarray(np.arange(24.0).reshape(4, 6))
        v = a[:, ::2]
        vv = v[1:3]
        leaf = vv[0]
        a[0] = -1.0
        out = _vals(v, vv, leaf)
        vv += 100.0
        out += _vals(a, v, leaf)
        v[:, 0] = 7.0
        out += _vals(a, vv, leaf)
        leaf[1] = 0.5
        a[3, 5] = 55.0
        return out + _vals(a, v, vv, leaf)

    assert run(xp) == run(np)


def test_writes_through_a_view_after_base_writes_keep_both():
    """The NumPy sequence: base write, view write, base write, view read."""
    def run(m):
        u = m.zeros((4, 4))
        inner = u[1:-1, 1:-1]
        u[1:-1, 1:-1] = 1.0
        inner[0, :] = 2 * inner[1, :]
        u[2, 2] = 5.0
        inner *= 3.0
        return _vals(u, inner)

    assert run(xp) == run(np)


def test_a_graph_built_from_a_view_keeps_the_value_it_read():
    """Functional updates still: an expression built from a view before the base's write
    keeps the view's value of then (as an expression of NumPy arrays computed then)."""
    a = xp.asarray(np.arange(4.0))
    v = a[1:3]
    before = v * 1.0
    a[:] = 0.0
    assert np.asarray(before).tolist() == [1.0, 2.0]
    assert np.asarray(v).tolist() == [0.0, 0.0]


def test_dropped_views_are_not_kept_alive():
    a = xp.zeros(16)
    v = a[2:5]
    ref = weakref.ref(v)
    del v
    gc.collect()
    assert ref() is None
    for i in range(1000):  # views read and dropped in a loop cost no memory in the base
        float(a[i % 16])
    a[0] = 1.0
    assert a._views is None or len(a._views.refs) < 64


def test_stencil_with_held_views_matches_numpy():
    """Red-black Gauss-Seidel with the interior, red and black views kept across sweeps
    (it drifted 8e-5 from NumPy when the views read stale values)."""
    n = 18
    f = np.ones((n, n)) / (n - 1) ** 2

    def gs(m, f, iters=8):
        u = m.zeros((n, n))
        inner = u[1:-1, 1:-1]
        red, black = u[1:-1:2, 1:-1:2], u[2:-1:2, 2:-1:2]
        hist = []
        for _ in range(iters):
            u[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]
                                    + f[1:-1, 1:-1])
            red *= 1.5
            black += 0.25
            hist.append(float(m.sum(inner)))
            inner[0, :] = 0.5 * inner[1, :]
        return np.asarray(u), hist

    un, hn = gs(np, f)
    ul, hl = gs(xp, xp.asarray(f))
    np.testing.assert_allclose(ul, un, rtol=1e-13, atol=0)
    np.testing.assert_allclose(hl, hn, rtol=1e-13, atol=0)


def test_views_written_inside_a_compiled_function_match_numpy():
    """Views made inside a traced function and their bases written there: the program
    computes what NumPy computes, on every call."""
    def body(m, x):
        a = x * 1.0
        v = a[1:4]
        w = m.reshape(a, (2, 3), copy=False)
        a[2] = 10.0
        v += 1.0
        w[1, 2] = -5.0
        a *= 2.0
        return a, v, w, v[0] + w[0, 0]

    f = xp.compile(lambda x: body(xp, x))
    for k in range(3):
        x = np.arange(6.0) + k
        got = f(xp.asarray(x))
        want = body(np, x)
        assert _vals(*got) == _vals(*want)
    assert f.n_traces == 1


def test_transposes_are_views():
    """``.T``, ``.mT`` and ``permute_dims`` view their argument, as NumPy's do: t = a.T;
    t += 10 changes a (it did not), and they follow a's later writes."""
    def run(m):
        a = m.asarray(np.arange(6.0).reshape(2, 3))
        t, mt, p = a.T, a.mT, m.permute_dims(a, (1, 0))
        t += 10.0
        out = _vals(a, mt, p)
        a[0, 1] = -1.0
        out += _vals(t, mt, p)
        mt[2, 1] = 7.0
        row = t[1]
        row *= 2.0
        out += _vals(a, t, p, row)
        b = m.asarray(np.arange(24.0).reshape(2, 3, 4))
        pb, tb = m.permute_dims(b, (2, 0, 1)), b.T
        pb[1] *= 2.0
        tb[0, 0, 0] = 100.0
        b -= 1.0
        x1 = m.asarray(np.arange(3.0))
        t1 = x1.T
        t1 += 1.0
        same = m.permute_dims(b, (0, 1, 2))
        same[0, 0, 0] = -50.0
        return out + _vals(b, pb, tb, x1, t1, same)

    assert run(xp) == run(np)


def test_slices_at_changing_offsets_share_one_program():
    """Minibatches sliced from a dataset (``X[i:i + B]``, ``X[i, ::2]``, ``X[i, 1]``) take
    their offsets as inputs: after a few offsets, one program serves every offset (each
    offset was its own trace-cache key: every step of an epoch missed the cache)."""
    data = np.arange(150.0).reshape(50, 3)
    X = xp.asarray(data)
    for k, i in enumerate(range(0, 48, 2)):
        if k == 3:  # two offsets baked, the third lifted: then every offset hits
            before = xp.trace_cache_info()["misses"]
        np.testing.assert_array_equal(np.asarray(X[i:i + 2]), data[i:i + 2])
        np.testing.assert_array_equal(np.asarray(X[i, ::2]), data[i, ::2])
        assert float(X[i, 1]) == data[i, 1]
        assert float(X[-i - 1, -1]) == data[-i - 1, -1]
    assert xp.trace_cache_info()["misses"] == before
    w = xp.asarray(np.ones(3))
    before = xp.trace_cache_info()["misses"]
    sums = [float(xp.sum(X[i:i + 4] @ w)) for i in range(0, 40, 4)]
    assert sums == [float(np.sum(data[i:i + 4] @ np.ones(3))) for i in range(0, 40, 4)]
    assert xp.trace_cache_info()["misses"] - before <= 3


def test_an_eager_training_loop_over_slices_hits_the_trace_cache():
    """value_and_grad over minibatch slices of realized arrays: one program for the epoch."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((80, 5)), rng.standard_normal(80)
    vg = xp.value_and_grad(lambda w, x, y: xp.mean((x @ w - y) ** 2))
    w, wn = xp.zeros(5), np.zeros(5)
    Xl, Yl = xp.asarray(X), xp.asarray(Y)
    for i in range(0, 80, 8):
        before = xp.trace_cache_info()["misses"]
        loss, g = vg(w, Xl[i:i + 8], Yl[i:i + 8])
        w = w - 0.1 * g
        x, y = X[i:i + 8], Y[i:i + 8]
        r = x @ wn - y
        np.testing.assert_allclose(float(loss), np.mean(r ** 2), rtol=1e-13)
        wn = wn - 0.1 * (2 * x.T @ r / 8)
        if i >= 32:  # two offsets baked, the third lifted: then one program serves
            assert xp.trace_cache_info()["misses"] == before
    np.testing.assert_allclose(np.asarray(w), wn, rtol=1e-13)


def test_symbolic_gradients_reach_a_realized_array_through_its_slices():
    """``gradient(cost, a)`` (and Lop, Rop) of a cost built from slices of a realized ``a``:
    the slices are nodes reading ``a``, so the path is there (not silently zero)."""
    a = xp.asarray(np.arange(5.0))
    c = xp.sum(a[1:4] ** 2)
    assert np.asarray(xp.gradient(c, a)).tolist() == [0.0, 2.0, 4.0, 6.0, 0.0]
    b = xp.asarray(np.arange(5.0))
    assert np.asarray(xp.Lop(b[1:4] * 2.0, b, xp.ones(3))).tolist() == [0, 2, 2, 2, 0]
    d = xp.asarray(np.arange(5.0))
    assert np.asarray(xp.Rop(d[::2] * 3.0, d, xp.ones(5))).tolist() == [3.0, 3.0, 3.0]
    e = xp.asarray(np.arange(6.0).reshape(2, 3))
    assert np.asarray(xp.gradient(xp.sum(e[1, 1:] * e[0, 2]), e)).tolist() == [
        [0.0, 0.0, 9.0], [0.0, 2.0, 2.0]]


def test_a_slice_of_a_realized_array_follows_writes_and_is_differentiable_through_its_base():
    a = xp.asarray(np.arange(6.0))
    v = a[2:5]
    kept = v * 1.0
    a[3] = -1.0
    assert np.asarray(v).tolist() == [2.0, -1.0, 4.0]
    assert np.asarray(kept).tolist() == [2.0, 3.0, 4.0]
    v[0] = 7.0
    assert np.asarray(a).tolist() == [0.0, 1.0, 7.0, -1.0, 4.0, 5.0]
    g = xp.grad(lambda t: xp.sum(t[1:4] ** 2))(xp.asarray(np.arange(5.0)))
    assert np.asarray(g).tolist() == [0.0, 2.0, 4.0, 6.0, 0.0]


def test_compiled_calls_on_slices_at_changing_offsets_add_few_programs():
    X = xp.asarray(np.arange(96.0).reshape(24, 4))
    f = xp.compile(lambda x: xp.sum(x * 2.0, axis=0))
    before = xp.trace_cache_info()["misses"]
    for i in range(0, 24, 2):
        np.testing.assert_array_equal(np.asarray(f(X[i:i + 2])),
                                      np.sum(np.arange(96.0).reshape(24, 4)[i:i + 2] * 2, 0))
    assert xp.trace_cache_info()["misses"] - before <= 3
    assert f.n_traces == 1
