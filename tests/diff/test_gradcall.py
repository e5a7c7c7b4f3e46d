"""An eager ``value_and_grad`` call on realized arguments is one `GradientCall` node (the first
call too, once the rules recorded the template)
(`diff/gradcall.py`): the value and gradients equal the cloned graph's bit for bit and NumPy's
hand-derived ones, the node expands only where it must (realization; its reference
``perform``), arguments that are symbolic or pending keep the cloned graph, and the traced
forward graph is freed at once so that a step's update can take over the old weights."""

import gc

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.diff import _fastgrad
from lazyarr.diff.gradcall import GradientCall

from ..mlp_reference import mlp_loss_and_grads


def _loss(ps, x, y):
    w1, b1, w2, b2 = ps
    h = xp.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    lse = xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return xp.mean(xp.sum(y * (lse - z), axis=1))


def _data(seed=0, n=5, d=7, k=4, hidden=6):
    rng = np.random.default_rng(seed)
    ps = [rng.standard_normal(s) * 0.3 for s in [(d, hidden), (hidden,), (hidden, k), (k,)]]
    x = rng.standard_normal((n, d))
    y = np.eye(k)[rng.integers(0, k, n)]
    return ps, x, y


def _train(on, steps=4, lr=0.1):
    old = _fastgrad.set_call_nodes(on)
    try:
        pn, x, y = _data()
        vg = xp.value_and_grad(_loss)
        ps = [xp.asarray(p) for p in pn]
        xa, ya = xp.asarray(x), xp.asarray(y)
        ops, losses = [], []
        for _ in range(steps):
            loss, g = vg(ps, xa, ya)
            ops.append(type(loss._v.owner.op).__name__)
            ps = [p - lr * gp for p, gp in zip(ps, g)]
            losses.append(float(loss))
        return ops, losses, [np.asarray(p) for p in ps]
    finally:
        _fastgrad.set_call_nodes(old)


def test_eager_steps_become_one_node_and_equal_the_cloned_graph_and_numpy():
    ops, losses, ps = _train(True)
    # the first call too: the rules record the template, then the call takes its node
    assert ops == ["GradientCall"] * 4
    ops_c, losses_c, ps_c = _train(False)
    assert "GradientCall" not in ops_c
    assert losses == losses_c
    for a, b in zip(ps, ps_c):
        np.testing.assert_array_equal(a, b)
    pn, x, y = _data()
    ref = []
    for _ in range(4):
        loss, g = mlp_loss_and_grads(pn, x, y)
        ref.append(loss)
        pn = [p - 0.1 * gp for p, gp in zip(pn, g)]
    np.testing.assert_allclose(losses, ref, rtol=1e-12)
    for a, b in zip(ps, pn):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_perform_is_the_reference_of_the_expansion():
    pn, x, y = _data(1)
    vg = xp.value_and_grad(_loss)
    args = ([xp.asarray(p) for p in pn], xp.asarray(x), xp.asarray(y))
    vg(*args)
    loss, g = vg(*args)
    node = loss._v.owner
    assert isinstance(node.op, GradientCall)
    got = node.op.perform(*[v.data for v in node.inputs])
    ref_loss, ref_g = mlp_loss_and_grads(pn, x, y)
    np.testing.assert_allclose(got[0], ref_loss, rtol=1e-12)
    for a, b in zip(got[1:], ref_g):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-12)


def test_unused_argument_and_only_the_value_asked():
    """An argument ``f`` does not read is an extra input (its gradient zeros); realizing the
    value alone computes it without the gradients' nodes failing or being needed."""
    def f(a, b):
        return xp.sum(a ** 2)

    vg = xp.value_and_grad(f, argnums=(0, 1))
    a, b = xp.asarray(np.arange(3.0)), xp.asarray(np.ones((2, 2)))
    vg(a, b)
    val, (ga, gb) = vg(a, b)
    assert isinstance(val._v.owner.op, GradientCall)
    assert float(val) == 5.0
    np.testing.assert_array_equal(np.asarray(ga), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(np.asarray(gb), np.zeros((2, 2)))


def test_pending_or_symbolic_arguments_keep_the_cloned_graph():
    vg = xp.value_and_grad(lambda v: xp.sum(xp.sin(v) * v))
    x = xp.asarray(np.linspace(0.0, 1.0, 5))
    vg(x)
    val, g = vg(x + 1.0)  # a pending argument
    assert not isinstance(val._v.owner.op, GradientCall)
    xn = np.linspace(0.0, 1.0, 5) + 1.0
    np.testing.assert_allclose(np.asarray(g), np.sin(xn) + xn * np.cos(xn), rtol=1e-12)
    # inside compile the arguments are symbolic: the traced program differentiates as before
    step = xp.compile(lambda v: vg(v)[1])
    np.testing.assert_allclose(np.asarray(step(x)), np.asarray(vg(x)[1]), rtol=1e-12)
    # the gradient of a gradient: the inner call sees the outer call's symbolic input
    hess_diag = xp.grad(lambda v: xp.sum(vg(v)[1]))(x)
    xn = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(np.asarray(hess_diag), 2 * np.cos(xn) - xn * np.sin(xn),
                               rtol=1e-12)


def test_forward_graph_is_freed_and_weights_are_updated_in_place(native_pipeline):
    rng = np.random.default_rng(3)
    w = xp.asarray(rng.standard_normal((200, 100)))  # 160 kB: worth donating
    x = xp.asarray(rng.standard_normal((1, 200)))
    vg = xp.value_and_grad(lambda w, x: xp.sum(xp.tanh(x @ w) ** 2))
    ptrs = []
    misses0 = xp.trace_cache_info()["misses"]
    # the first call (the rules record the template, the call is its node) compiles the one
    # program of every step, donation included
    for i in range(6):
        if i == 3:
            gc.collect()
            gc.disable()
        loss, g = vg(w, x)
        w = w - 0.01 * g  # the old w is now held by the pending graph alone
        del g
        float(loss)
        ptrs.append(np.asarray(w).ctypes.data)
    try:
        assert gc.collect() == 0  # nothing was left for the cyclic collector
    finally:
        gc.enable()
    assert len(set(ptrs)) == 1  # each update wrote into the old weights, the first one too
    assert xp.trace_cache_info()["misses"] - misses0 == 1


@pytest.mark.parametrize("on", [True, False])
def test_has_aux_is_unchanged(on):
    old = _fastgrad.set_call_nodes(on)
    try:
        vg = xp.value_and_grad(lambda v: (xp.sum(v ** 3), v * 2.0), has_aux=True)
        x = xp.asarray(np.array([1.0, 2.0]))
        vg(x)
        (val, aux), g = vg(x)
        assert not isinstance(val._v.owner.op, GradientCall)
        assert float(val) == 9.0
        np.testing.assert_array_equal(np.asarray(aux), [2.0, 4.0])
        np.testing.assert_array_equal(np.asarray(g), [3.0, 12.0])
    finally:
        _fastgrad.set_call_nodes(old)


def test_the_expansion_names_this_calls_lines_or_the_call_clones():
    """The expanded nodes carry the sites of the call that recorded the op; a call whose
    forward graph was built on other lines (same structure) clones the template instead."""
    from lazyarr.graph.userline import site_location

    def f1(x):
        return xp.sum(xp.exp(x))

    def f2(x):
        return xp.sum(xp.exp(x))

    x = xp.asarray(np.ones(3))
    xp.grad(f1)(x)  # records the template
    g1 = xp.grad(f1)(x)  # records the call op with f1's lines
    node = g1._v.owner
    assert isinstance(node.op, GradientCall)
    lines = {site_location(s)[1] for s in node.op.sites}
    assert f1.__code__.co_firstlineno + 1 in lines
    g2 = xp.grad(f2)(x)
    assert not isinstance(g2._v.owner.op, GradientCall)
    np.testing.assert_array_equal(np.asarray(g1), np.exp(np.ones(3)))
    np.testing.assert_array_equal(np.asarray(g2), np.exp(np.ones(3)))


def test_an_intermediate_kept_by_f_stays_usable():
    """``f`` may keep one of its own intermediates (a debugging list): it is still listed
    as live, not freed with the rest of the traced forward graph, and realizes to its value."""
    kept = []

    def f(v):
        h = xp.sin(v) * 2.0
        kept.append(h)
        return xp.sum(h ** 2)

    vg = xp.value_and_grad(f)
    x = xp.asarray(np.linspace(0.0, 1.0, 4))
    for _ in range(3):
        val, g = vg(x)
        assert isinstance(val._v.owner.op, GradientCall) or len(kept) == 1
        float(val)
    xn = np.linspace(0.0, 1.0, 4)
    assert len(kept) == 3
    for h in kept:
        np.testing.assert_allclose(np.asarray(h), 2.0 * np.sin(xn), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(g), 8.0 * np.sin(xn) * np.cos(xn), rtol=1e-12)


def test_same_lines_at_other_instructions_keep_the_node():
    """CPython may report another instruction of the same line once it specializes one (the
    recorded ``(code, offset)`` sites then differ): the call still takes the node."""
    from lazyarr.graph.userline import site_location

    pn, x, y = _data(2)
    vg = xp.value_and_grad(_loss)
    args = ([xp.asarray(p) for p in pn], xp.asarray(x), xp.asarray(y))
    loss, _ = vg(*args)
    op = loss._v.owner.op
    assert isinstance(op, GradientCall)

    def other_offset(site):
        code, off = site
        for start, end, _line in code.co_lines():
            if start <= off < end:
                return (code, start if off != start else off + 2) if end - start > 2 else site
        return site

    moved = tuple(other_offset(s) for s in op.sites)
    assert moved != op.sites
    assert [site_location(s) for s in moved] == [site_location(s) for s in op.sites]
    op.sites = moved
    loss2, g2 = vg(*args)
    assert loss2._v.owner.op is op  # the node, not a clone of the template
    assert op.sites != moved        # now this call's sites
    ref_loss, ref_g = mlp_loss_and_grads(pn, x, y)
    np.testing.assert_allclose(float(loss2), ref_loss, rtol=1e-12)
    for a, b in zip(g2, ref_g):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)


def test_a_scan_loss_compiles_one_program_per_length():
    """An eager BPTT loop over sequences of two lengths: one program each, from the first
    step (the first call of a template is its node; the weights are donated from the start)."""
    rng = np.random.default_rng(4)
    h = 8
    w = xp.asarray(rng.standard_normal((h, h)) * 0.3)
    u = xp.asarray(rng.standard_normal((20, h)) * 0.3)

    def loss_fn(w, u, idx):
        def body(c, e):
            c = xp.tanh(e + c @ w)
            return c, c
        _, hs = xp.scan(body, xp.zeros(h), xp.take(u, idx, axis=0))
        return xp.sum(hs * hs)

    vg = xp.value_and_grad(loss_fn, argnums=(0, 1))
    misses0 = xp.trace_cache_info()["misses"]
    for n in (5, 7, 5, 7, 5, 7):
        idx = xp.asarray(rng.integers(0, 20, n))
        loss, (gw, gu) = vg(w, u, idx)
        w, u = w - 0.01 * gw, u - 0.01 * gu
        del gw, gu
        xp.realize(loss, w, u)
    assert xp.trace_cache_info()["misses"] - misses0 == 2


def test_gradient_call_ops_of_evicted_templates_and_programs_are_freed(monkeypatch):
    """Each new minibatch size records a template and a `GradientCall` op. The op is kept by
    its template and by the programs keyed with its address, not for ever: past the caches'
    bounds the old ops are freed (they were interned, one per size for the life of the
    process). The values stay the oracle's throughout."""
    import weakref

    from lazyarr.array import materialize
    from lazyarr.diff import cache

    materialize.trace_cache.clear()  # a lower bound evicts one entry per store, not all
    cache.cache_clear()
    monkeypatch.setattr(cache.templates, "maxsize", 3)
    monkeypatch.setattr(materialize.trace_cache, "maxsize", 5)
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((6, 3))

    def loss(w, x):
        return xp.mean(xp.tanh(x @ w) ** 2)

    vg = xp.value_and_grad(loss)
    w = xp.asarray(w0)
    ops = []
    for n in range(1, 21):
        x = rng.standard_normal((n, 6))
        val, g = vg(w, xp.asarray(x))
        op = val._v.owner.op  # before the value is read (the node is then freed)
        assert isinstance(op, GradientCall)
        ops.append(weakref.ref(op))
        del op
        t = np.tanh(x @ w0)
        np.testing.assert_allclose(float(val), np.mean(t ** 2), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(g), x.T @ (2 * t * (1 - t * t)) / t.size,
                                   rtol=1e-10, atol=1e-14)
        del val, g
    assert len(ops) == 20
    gc.collect()
    alive = sum(r() is not None for r in ops)
    assert alive <= 3 + 5  # the templates' and the programs' at most
