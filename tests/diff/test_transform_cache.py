"""The gradient cache (`lazyarr.diff.cache`): transforms that reuse recorded derivative nodes
give exactly what the rules give (the cache switched off), use each call's own values, and miss
where the structure differs."""

import warnings

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.diff import _fastgrad, cache
from lazyarr.graph.scalar_families import LIFT_AFTER
from lazyarr.graph.userline import site_location

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _fresh_cache():
    old = cache.set_enabled(True)
    cache.cache_clear()
    yield
    cache.set_enabled(old)
    cache.cache_clear()


def _both(run):
    """``run()`` with the cache off, then on (cleared): the two results, and the counters."""
    cache.set_enabled(False)
    off = run()
    cache.set_enabled(True)
    cache.cache_clear()
    on = run()
    return off, on, cache.cache_info()


def _equal(a, b):
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _mlp_loss(ps, x, y):
    h = xp.tanh(x @ ps["w1"] + ps["b1"])
    z = h @ ps["w2"] + ps["b2"]
    m = xp.max(z, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True)) + m
    return xp.mean(xp.sum(y * (lse - z), axis=1))


def _np_mlp_grad(ps, x, y):
    h = np.tanh(x @ ps["w1"] + ps["b1"])
    z = h @ ps["w2"] + ps["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = (e / e.sum(axis=1, keepdims=True) - y) / x.shape[0]
    dh = dz @ ps["w2"].T * (1 - h ** 2)
    return {"w1": x.T @ dh, "b1": dh.sum(0), "w2": h.T @ dz, "b2": dz.sum(0)}


def _mlp_data(n=3):
    ps = {"w1": RNG.standard_normal((6, 5)) * 0.5, "b1": np.zeros(5),
          "w2": RNG.standard_normal((5, 4)) * 0.5, "b2": np.zeros(4)}
    xs = [RNG.standard_normal((n, 6)) for _ in range(4)]
    ys = [np.eye(4)[RNG.integers(0, 4, n)] for _ in range(4)]
    return ps, xs, ys


def test_eager_sgd_loop_equals_uncached_and_numpy():
    ps0, xs, ys = _mlp_data()
    vg = xp.value_and_grad(_mlp_loss)

    def run():
        ps = {k: xp.asarray(v) for k, v in ps0.items()}
        out = []
        for i in range(6):
            loss, g = vg(ps, xp.asarray(xs[i % 4]), xp.asarray(ys[i % 4]))
            if i == 0:
                want = _np_mlp_grad(ps0, xs[0], ys[0])
                for k in ps0:
                    np.testing.assert_allclose(np.asarray(g[k]), want[k], rtol=1e-10,
                                               atol=1e-12)
            ps = {k: ps[k] - 0.1 * g[k] for k in ps}
            out.append(float(loss))
        return out + [ps[k] for k in sorted(ps)]

    off, on, info = _both(run)
    assert off[:6] == on[:6]
    _equal(off[6:], on[6:])
    assert info["misses"] == 1 and info["hits"] == 5 and info["size"] == 1


def test_results_stay_lazy_and_compose():
    vg = xp.value_and_grad(lambda w, x: xp.sum(xp.tanh(x @ w) ** 2))
    w, x = RNG.standard_normal((3, 2)), RNG.standard_normal((4, 3))
    vg(xp.asarray(w), xp.asarray(x))
    loss, g = vg(xp.asarray(w), xp.asarray(x))
    assert cache.cache_info()["hits"] == 1
    assert g._v.owner is not None and loss._v.owner is not None  # pending graphs
    t = np.tanh(x @ w)
    np.testing.assert_allclose(np.asarray(xp.sum(g * 2.0)),
                               np.sum(2 * x.T @ (2 * t * (1 - t ** 2))), rtol=1e-12)


def test_argnums_has_aux_grad():
    def f(a, b, c):
        s = xp.sum(a * b + xp.sin(c))
        return s, {"mean": xp.mean(a)}

    def run():
        out = []
        gf = xp.grad(f, argnums=(0, 2), has_aux=True)
        for k in range(3):
            a, b, c = (xp.asarray(RNG.standard_normal(4) + k) for _ in range(3))
            (ga, gc), aux = gf(a, b, c)
            np.testing.assert_allclose(np.asarray(ga), np.asarray(b), rtol=1e-15)
            np.testing.assert_allclose(np.asarray(gc), np.cos(np.asarray(c)), rtol=1e-14)
            np.testing.assert_allclose(float(aux["mean"]), np.mean(np.asarray(a)))
            out += [ga, gc]
        return out

    state = RNG.bit_generator.state
    cache.set_enabled(False)
    off = run()
    RNG.bit_generator.state = state
    cache.set_enabled(True)
    cache.cache_clear()
    on = run()
    _equal(off, on)
    assert cache.cache_info()["hits"] == 2


def test_closure_uses_new_values_of_captured_arrays():
    w = RNG.standard_normal((3, 3))
    box = {}

    def loss(v):
        return xp.sum(xp.exp(v @ w) * box["c"])

    gs, cs = [], []
    for _ in range(3):
        c_np = RNG.standard_normal(3)
        box["c"] = xp.asarray(c_np)                # same shape, new value each call
        g = xp.grad(loss)(xp.asarray(np.ones(3)))
        gs.append(np.asarray(g))
        cs.append(c_np)
    for g, c_np in zip(gs, cs):
        e = np.exp(np.ones(3) @ w)
        np.testing.assert_allclose(g, w @ (e * c_np), rtol=1e-12)
    assert cache.cache_info()["hits"] == 2


def test_other_shape_dtype_or_small_constant_misses():
    gf = xp.grad(lambda v: xp.sum(v ** 3))
    for v in (np.arange(3.0), np.arange(4.0), np.arange(3.0).astype(np.float32),
              np.arange(3.0) + 1):
        np.testing.assert_allclose(np.asarray(gf(xp.asarray(v))), 3 * v ** 2, rtol=1e-6)
    assert cache.cache_info()["misses"] == 3 and cache.cache_info()["hits"] == 1
    for k in (2.0, 3.0):   # the scalar is a small constant: keyed by value
        g = xp.grad(lambda v, k=k: xp.sum(xp.exp(k * v)))(xp.asarray(np.ones(2)))
        np.testing.assert_allclose(np.asarray(g), k * np.exp(k * np.ones(2)), rtol=1e-14)
    assert cache.cache_info()["misses"] == 5


def test_sizes_known_only_from_data_bypass_the_cache():
    gf = xp.grad(lambda x: xp.sum(x[x > 0] ** 2))
    for v in ([1.0, -2.0, 3.0], [1.0, 2.0, 3.0], [-1.0, -2.0, 3.0]):
        v = np.array(v)
        np.testing.assert_array_equal(np.asarray(gf(xp.asarray(v))), np.where(v > 0, 2 * v, 0))
    assert cache.cache_info()["hits"] == 0 and cache.cache_info()["size"] == 0


def test_grad_of_grad_and_hvp():
    def f(x):
        return xp.sum(xp.sin(x) * x)

    def run():
        out = []
        for k in range(3):
            x_np = RNG.standard_normal(3) + k
            d2 = xp.grad(lambda x: xp.sum(xp.grad(f)(x)))(xp.asarray(x_np))
            np.testing.assert_allclose(np.asarray(d2), 2 * np.cos(x_np) - x_np * np.sin(x_np),
                                       rtol=1e-12)
            t_np = RNG.standard_normal(3)
            h = xp.hvp(f, (xp.asarray(x_np),), (xp.asarray(t_np),))
            np.testing.assert_allclose(np.asarray(h),
                                       (2 * np.cos(x_np) - x_np * np.sin(x_np)) * t_np,
                                       rtol=1e-12)
            out += [d2, h]
        return out

    state = RNG.bit_generator.state
    cache.set_enabled(False)
    off = run()
    RNG.bit_generator.state = state
    cache.set_enabled(True)
    cache.cache_clear()
    on = run()
    _equal(off, on)
    assert cache.cache_info()["hits"] >= 4


def test_vjp_jvp_unchanged():
    def f(x):
        return xp.tanh(x) * x

    x_np, u_np = RNG.standard_normal(4), RNG.standard_normal(4)

    def run():
        _, fn = xp.vjp(f, xp.asarray(x_np))
        _, t = xp.jvp(f, (xp.asarray(x_np),), (xp.asarray(u_np),))
        return [fn(xp.asarray(u_np))[0], t]

    off, on, _ = _both(run)
    _equal(off, on)
    d = np.tanh(x_np) + x_np * (1 - np.tanh(x_np) ** 2)
    np.testing.assert_allclose(np.asarray(on[0]), d * u_np, rtol=1e-12)


def test_disconnected_warning_on_a_hit():
    gf = xp.grad(lambda a, b: xp.sum(a), argnums=(0, 1), disconnected_inputs="warn")
    for _ in range(2):
        with pytest.warns(UserWarning, match="argument leaf 1 does not reach"):
            ga, gb = gf(xp.asarray(np.ones(2)), xp.asarray(np.ones(2)))
        np.testing.assert_array_equal(np.asarray(gb), np.zeros(2))
    assert cache.cache_info()["hits"] == 1
    with pytest.raises(xp.DisconnectedInputError, match="argument leaf 1"):
        xp.grad(lambda a, b: xp.sum(a), argnums=(0, 1), disconnected_inputs="raise")(
            xp.asarray(np.ones(2)), xp.asarray(np.ones(2)))
    assert cache.cache_info()["hits"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xp.grad(lambda a, b: xp.sum(a), argnums=(0, 1))(xp.asarray(np.ones(2)),
                                                        xp.asarray(np.ones(2)))


def _sites(v):
    out, stack, seen = set(), [v.owner], set()
    while stack:
        ap = stack.pop()
        if ap is None or id(ap) in seen:
            continue
        seen.add(id(ap))
        out.add(site_location(ap.site))
        stack.extend(i.owner for i in ap.inputs)
    return out


def test_cloned_nodes_name_this_calls_lines():
    def f1(x):
        return xp.sum(xp.exp(x))

    def f2(x):
        return xp.sum(xp.exp(x))

    x = xp.asarray(np.ones(3))

    def call(f):  # one call line for every call
        return xp.grad(f)(x)

    old = _fastgrad.set_call_nodes(False)  # the clones themselves (`test_gradcall`: one node)
    try:
        cache.set_enabled(False)
        want = _sites(call(f2)._v)
        cache.set_enabled(True)
        call(f1)
        g2 = call(f2)
    finally:
        _fastgrad.set_call_nodes(old)
    assert cache.cache_info()["hits"] == 1
    assert _sites(g2._v) == want and f2.__code__.co_firstlineno + 1 in {s[1] for s in want}
    np.testing.assert_array_equal(np.asarray(g2), np.exp(np.ones(3)))


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(cache.templates, "maxsize", 3)
    gf = xp.grad(lambda v: xp.sum(v * v))
    for n in range(1, 7):
        np.testing.assert_allclose(np.asarray(gf(xp.asarray(np.arange(float(n))))),
                                   2 * np.arange(float(n)))
    assert cache.cache_info()["size"] == 3 and cache.cache_info()["misses"] == 6


def test_a_python_float_of_the_loss_that_changes_every_call_stops_the_rules():
    """A regularization weight annealed with Python floats: the first values are baked into
    templates of their own (the rules run), then the weight becomes a data leaf of one
    template that every later value reuses (and one program); values and gradients are the
    hand-derived ones throughout, including a weight equal to the loss's other constant."""
    x = RNG.standard_normal((6, 4))
    w0 = RNG.standard_normal(4)
    xa, w = xp.asarray(x), xp.asarray(w0)

    def loss(w, lam):
        r = xa @ w
        return xp.sum(r ** 2.0) / 6 + lam * xp.sum(w * w)

    vg = xp.value_and_grad(loss)
    for lam in [0.5, 0.25, 0.125, 3.0, 2.0, 1e-3, 0.0, -1.5, 6.0, 2.0]:
        val, g = vg(w, lam)
        r = x @ w0
        np.testing.assert_allclose(float(val), r @ r / 6 + lam * w0 @ w0, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(g), x.T @ r / 3 + 2 * lam * w0, rtol=1e-12,
                                   atol=1e-13)
    # the rules ran for the baked values and the lifted template only; 2.0 may key apart
    # (it can be the same constant as the exponent), one more template
    assert len(cache.templates.entries) <= LIFT_AFTER + 1
    assert cache.cache_info()["hits"] >= 10 - LIFT_AFTER - 2
    # later values are served by the family's template (a hit each: the rules do not run),
    # and their one program takes the weight as an argument: no trace-cache miss either
    info, misses = cache.cache_info(), xp.trace_cache_info()["misses"]
    for lam in [7.0, 0.3, -2.0, 11.0, 0.01]:
        val, g = vg(w, lam)
        r = x @ w0
        np.testing.assert_allclose(float(val), r @ r / 6 + lam * w0 @ w0, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(g), x.T @ r / 3 + 2 * lam * w0, rtol=1e-12,
                                   atol=1e-13)
    assert cache.cache_info()["misses"] == info["misses"]
    assert cache.cache_info()["hits"] == info["hits"] + 5
    assert xp.trace_cache_info()["misses"] == misses


def test_a_lifted_exponent_is_not_read_by_its_rule():
    """``x ** p`` with ``p`` a new Python float each call: once lifted, the power rule
    cannot fold p - 1 into the template; the gradient is p x^(p-1) for each p."""
    x0 = np.linspace(0.5, 2.0, 5)
    x = xp.asarray(x0)
    grad = xp.grad(lambda x, p: xp.sum(x ** p))
    for p in [2.0, 3.0, 2.5, 1.5, 4.0, 0.5, 3.0]:
        np.testing.assert_allclose(np.asarray(grad(x, p)), p * x0 ** (p - 1), rtol=1e-13)
    assert len(cache.templates.entries) <= LIFT_AFTER  # 2.0, 3.0 baked, then lifted


def test_an_input_the_function_does_not_read_gets_zeros_of_its_own_type():
    """The template of ``sum(x * 2)`` was reused for a ``y`` of another shape or dtype (y is
    no leaf of the forward graph, so the key did not see it): its zeros kept the first
    call's type, here and through value_and_grad, pytrees and hessian."""
    g = xp.grad(lambda x, y: xp.sum(x * 2.0), argnums=(0, 1))
    for y in (xp.ones((3, 1)), xp.ones((), dtype=xp.float32), xp.ones(7)):
        gx, gy = g(xp.ones(4), y)
        np.testing.assert_array_equal(np.asarray(gx), np.full(4, 2.0))
        assert gy.shape == y.shape and gy.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(gy), np.zeros(y.shape))
    vg = xp.value_and_grad(lambda p: xp.sum(p["w"] * 2.0))
    for s in ((3,), (5, 5)):
        _v, gr = vg({"w": xp.ones(2), "b": xp.ones(s)})
        assert gr["b"].shape == s
    h = xp.hessian(lambda x, y: xp.sum(x ** 3), argnums=(0, 1))
    for n in (3, 4):
        hs = h(xp.ones(2), xp.ones(n))
        assert [[hs[i][j].shape for j in range(2)] for i in range(2)] == \
            [[(2, 2), (2, n)], [(n, 2), (n, n)]]


def test_a_repeated_hit_is_answered_without_hashing_the_key():
    """An eager loop asks for the same forward graph every step: the last hit's key is compared
    word for word, and its template returned without hashing the key's bytes or reordering
    the store (the fast path was dead: it expected 2-part keys, and forward keys have 3)."""
    loss = lambda w, x: xp.sum(xp.tanh(x @ w))  # noqa: E731
    vg = xp.value_and_grad(loss)
    w, x = xp.asarray(RNG.standard_normal((4, 3))), xp.asarray(RNG.standard_normal((2, 4)))
    for _ in range(2):
        vg(w, x)
    (key, tpl), = cache.templates.entries.items()
    assert len(key) == 3 and type(key[0]) is bytes
    # an equal key, another object: the last hit answers it, not the dict
    twin = (bytes(bytearray(key[0])), tuple(key[1]), tuple(key[2]))
    sentinel = object()
    cache.templates.entries[key] = sentinel
    hits = cache.cache_info()["hits"]
    assert cache.lookup(twin) is tpl
    assert cache.cache_info()["hits"] == hits + 1
