"""Automatic donation in eager realization (`array/_donate.py`): a dead leaf's buffer takes
the result of the same type; a buffer anything else still holds is never written."""

import weakref

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import _donate, materialize
from lazyarr.graph.scalar_families import LIFT_AFTER


@pytest.fixture(autouse=True)
def small_buffers(monkeypatch):
    """Donate buffers from 1 KiB up, so the tests can use small arrays."""
    monkeypatch.setattr(_donate, "MIN_BYTES", 1024)


def _data(a):
    return a._v.data


def _donating_keys() -> int:
    return sum(len(k) % 8 != 0 for k in materialize.trace_cache._d)  # keys with a suffix


def test_sgd_step_writes_into_the_dead_parameter():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((40, 30)).astype(np.float32)
    x = rng.standard_normal((8, 40)).astype(np.float32)
    w, xa, ref = xp.asarray(w0.copy()), xp.asarray(x), w0.copy()
    for step in range(4):
        w = w - 0.1 * (xa.T @ xp.tanh(xa @ w))
        ref = ref - np.float32(0.1) * (x.T @ np.tanh(x @ ref))
        np.asarray(w)
        if step == 0:
            buf = weakref.ref(_data(w))  # the result of the first step, held by w alone
        else:
            assert _data(w) is buf(), "the step should have written into the old buffer"
    np.testing.assert_allclose(np.asarray(w), ref, rtol=2e-5, atol=2e-5)


def test_value_and_grad_loop_matches_numpy():
    """The argument and its symbolic stand-in share one array: both are leaves of the cut.
    While the user holds the gradient too, the update is elementwise and its thunk keeps its
    last output for reuse: that buffer is not dead, and the step writes a new one."""
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((64, 10)).astype(np.float32) * 0.1
    x = rng.standard_normal((16, 64)).astype(np.float32)

    def loss(w, x):
        return xp.mean(xp.tanh(x @ w) ** 2)

    vg = xp.value_and_grad(loss)
    w, xa, ref = xp.asarray(w0.copy()), xp.asarray(x), w0.astype(np.float64)
    for k in range(5):
        val, g = vg(w, xa)
        w = w - 0.5 * g
        if k % 2:
            del g  # as a train_step function returning only w and the loss would
        float(val)
        t = np.tanh(x @ ref)
        ref = ref - 0.5 * (x.T @ (2 * t * (1 - t * t))) / t.size
    buf = weakref.ref(_data(w))
    val, g = vg(w, xa)
    w = w - 0.5 * g
    del g
    float(val)
    assert _data(w) is buf()
    t = np.tanh(x @ ref)
    ref = ref - 0.5 * (x.T @ (2 * t * (1 - t * t))) / t.size
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-4, atol=1e-5)


def test_a_held_old_array_keeps_its_value():
    w = xp.asarray(np.ones((32, 32), np.float32))
    w = w * 2.0
    np.asarray(w)
    old = w
    w = w - 1.0
    np.asarray(w)
    np.testing.assert_array_equal(np.asarray(old), 2.0)
    np.testing.assert_array_equal(np.asarray(w), 1.0)


def test_a_held_numpy_handle_keeps_its_value():
    w = xp.asarray(np.ones((32, 32), np.float32)) * 3.0
    handle = np.asarray(w)
    w = w + 1.0
    np.asarray(w)
    np.testing.assert_array_equal(handle, 3.0)
    np.testing.assert_array_equal(np.asarray(w), 4.0)


def test_a_pending_graph_outside_the_cut_reads_the_old_values():
    w = xp.asarray(np.full((32, 32), 5.0, np.float32)) * 1.0
    np.asarray(w)
    doubled = w * 2.0  # pending; does not meet the next cut
    w = w - 1.0
    np.asarray(w)
    np.testing.assert_array_equal(np.asarray(doubled), 10.0)
    np.testing.assert_array_equal(np.asarray(w), 4.0)


@pytest.mark.parametrize("make_c, value", [
    (lambda c0: xp.asarray(c0.copy()), lambda c0: c0),      # a leaf only the node reads
    (lambda c0: xp.tanh(xp.asarray(c0.copy())), np.tanh),  # a pending node over such a leaf
], ids=["leaf", "pending"])
def test_nodes_a_vjp_keeps_hold_their_leaves(make_c, value):
    """`vjp` keeps the forward nodes for its pullback: realizing the forward value must not
    write into a buffer those nodes read, though no array or other node holds it."""
    rng = np.random.default_rng(5)
    c0 = rng.standard_normal((32, 32))
    w0 = rng.standard_normal((32, 32))
    held = [make_c(c0)]
    out, vjp_fn = xp.vjp(lambda u: u * held[0], xp.asarray(w0))
    held.clear()  # no array holds c now: only the forward node reads its leaf
    np.testing.assert_allclose(np.asarray(out), w0 * value(c0))
    (g,) = vjp_fn(xp.ones((32, 32)))
    np.testing.assert_allclose(np.asarray(g), value(c0))


@pytest.mark.parametrize("step", [
    lambda w: w - 0.5 * w.T,                 # an elementwise node also reads a view of it
    lambda w: w - 0.01 * (w.T @ w),          # an accumulating product reads it twice more
    lambda w: w + w,                         # the same array twice
    lambda w: w * 2.0 - 0.01 * (w @ w),      # an elementwise node and a product
])
def test_reads_of_the_donated_buffer_through_other_operands(step):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((24, 24)).astype(np.float32)
    before = _donating_keys()
    w = xp.asarray(w0.copy())  # a leaf whose array nothing else holds once w is rebound
    w = step(w)
    np.asarray(w)
    assert _donating_keys() == before + 1
    np.testing.assert_allclose(np.asarray(w), step(w0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("step", [lambda w: w - 0.5 * w.T, lambda w: w - 0.01 * (w.T @ w)])
def test_compile_donation_with_other_reads_of_the_buffer(step):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((24, 24)).astype(np.float32)
    f = xp.compile(step, donate_argnums=0)
    got = np.asarray(f(xp.asarray(w0.copy())))
    np.testing.assert_allclose(got, step(w0), rtol=1e-5, atol=1e-5)


def test_small_buffers_are_not_donated(monkeypatch):
    monkeypatch.setattr(_donate, "MIN_BYTES", 1 << 40)
    before = _donating_keys()
    w = xp.asarray(np.ones((32, 32), np.float32)) * 2.0
    np.asarray(w)
    w = w - 1.0
    np.asarray(w)
    assert _donating_keys() == before
    np.testing.assert_array_equal(np.asarray(w), 1.0)


def test_a_cut_with_a_lazy_op_donates_nothing():
    """A `cond` may leave a branch unrun that reads a dead buffer: no buffer of such a cut is
    donated, where the same cut without it would give one, and every value is right."""
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((40, 30)).astype(np.float32)
    flag = xp.asarray(np.array(True))
    for lazy, pred in ((False, True), (True, True), (True, False)):
        w = xp.asarray(w0.copy()) * 1.0
        np.asarray(w)
        if lazy:
            v = xp.cond(flag if pred else ~flag, lambda a: a * 2.0, lambda a: a - 1.0, w)
        else:
            v = w * 2.0
        w2 = w + 3.0
        del w  # dead: only the cut reads it
        suffix = _donate.dead_leaves(*_cut_parts([v._v, w2._v]))
        assert (suffix == b"") == lazy
        np.testing.assert_allclose(np.asarray(v), w0 * 2.0 if pred else w0 - 1.0)
        np.testing.assert_allclose(np.asarray(w2), w0 + 3.0)


def _cut_parts(outputs):
    """``(leaves, nodes, outputs)`` of a realization's walk of ``outputs``, after the
    registry of live pending arrays is pruned as a realization prunes it (an array realized
    before stays listed until then: a reference that would make its buffer look held)."""
    from lazyarr.graph._walk import walk

    materialize.prune_live()
    wk = walk(list(outputs))
    return wk.leaves, wk.nodes, list(outputs)


def test_a_learning_rate_schedule_in_python_floats_runs_one_donating_program(monkeypatch):
    """An MLP's eager SGD loop whose learning rate is a new Python float each step: after
    `graph.scalar_families.LIFT_AFTER` programs with the rate baked, one program takes it as an
    argument, still writes the new weights into the dead ones (where the BLAS update with a
    baked alpha no longer applies) and matches the NumPy oracle."""
    from tests.mlp_reference import mlp_loss_and_grads

    built = []
    real = materialize.pipeline.compile_fgraph
    monkeypatch.setattr(materialize.pipeline, "compile_fgraph",
                        lambda fg: built.append(fg) or real(fg))
    rng = np.random.default_rng(3)
    ps0 = [rng.standard_normal((12, 16)) * 0.3, np.zeros(16),
           rng.standard_normal((16, 5)) * 0.3, np.zeros(5)]
    x = rng.standard_normal((6, 12))
    y = np.eye(5)[rng.integers(0, 5, 6)]

    def loss(ps, x, y):
        h = xp.tanh(x @ ps[0] + ps[1])
        z = h @ ps[2] + ps[3]
        lse = xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        return xp.mean(xp.sum(y * (lse - z), axis=1))

    vg = xp.value_and_grad(loss)
    ps, xa, ya = [xp.asarray(p.copy()) for p in ps0], xp.asarray(x), xp.asarray(y)
    ref = [p.copy() for p in ps0]
    for step in range(12):
        lr = 0.5 / (1 + step)
        val, g = vg(ps, xa, ya)
        ps = [p - lr * gp for p, gp in zip(ps, g)]
        del g
        want, gref = mlp_loss_and_grads(ref, x, y)
        np.testing.assert_allclose(float(val), want, rtol=1e-12)
        ref = [p - lr * gp for p, gp in zip(ref, gref)]
        if step == 8:
            w1 = weakref.ref(_data(ps[0]))
        elif step > 8:
            assert _data(ps[0]) is w1(), "the lifted program should write into the old W1"
    for p, r in zip(ps, ref):
        np.testing.assert_allclose(np.asarray(p), r, rtol=1e-12, atol=1e-14)
    assert len(built) <= LIFT_AFTER + 1  # (+ 1: the first step's may differ)
    assert len(built[-1].inputs) == len(built[0].inputs) + 1


def test_a_failing_run_leaves_the_pending_values_intact():
    """``inv`` of a singular matrix fails after ``w * 2`` could have taken w's dead buffer:
    a program that may raise takes none, so ``w`` still computes 2, not 4 (each retry
    doubled it); a live array that fails no longer fails the one asked."""
    def fresh():
        w = xp.asarray(np.ones((32, 32))) * 1.0
        np.asarray(w)
        return w * 2.0                       # the old w is dead

    w = fresh()
    bad = xp.linalg.inv(w[:2, :2] * 0.0)    # singular: raises while running
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(bad)
    del bad
    np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 2.0))

    w = fresh()
    bad = xp.linalg.inv(w[:2, :2] * 0.0)    # live, never asked for
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 2.0))
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(bad)


def test_an_out_of_bounds_gather_fails_without_writing_dead_buffers():
    w = xp.asarray(np.ones((32, 32))) * 1.0
    np.asarray(w)
    idx = xp.asarray(np.array([0, 40])) * 1   # pending: its bounds are known only at run time
    w = w * 3.0
    g = xp.take(w, idx, axis=0)
    with pytest.raises(IndexError):
        np.asarray(g)
    np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 3.0))


def test_a_failing_run_reading_a_realized_run_time_size_writes_no_dead_buffer():
    """A realized mask's result keeps its run-time size: an elementwise product or matmul
    of it checks that size when it runs, and may raise (it wrote w * 2 into the dead buffer
    first: w read 8, then 16, 32)."""
    x = xp.asarray(np.arange(10.0))
    m = x[x > 4]
    np.asarray(m)                            # 5 elements, shape (None,) in the IR
    for bad_of in (lambda m, w: m @ w[:3], lambda m, w: m + w[:3]):
        w = xp.asarray(np.full(4096, 2.0)) * 1.0
        np.asarray(w)
        w = w * 2.0                          # the old w is dead
        bad = bad_of(m, w)
        for _ in range(2):
            np.testing.assert_array_equal(np.asarray(w), np.full(4096, 4.0))
        with pytest.raises(ValueError):
            np.asarray(bad)
        np.testing.assert_array_equal(np.asarray(w), np.full(4096, 4.0))


def test_the_default_threshold_donates_a_20_kb_weight(monkeypatch):
    """fig1's 784-500-10 SGD step at minibatch 1: its 500 x 10 float32 W2 (20 KB) was under
    the 64 KiB threshold, so each eager step copied it and updated the copy; at 16 KiB the
    step writes into the dead buffer (and buffers of 4 KB still are not donated)."""
    monkeypatch.undo()  # the module's own threshold, not `small_buffers`'
    assert 4000 < _donate.MIN_BYTES <= 20000
    rng = np.random.default_rng(3)
    for shape, donated in (((500, 10), True), ((100, 10), False)):
        w = xp.asarray(rng.standard_normal(shape).astype(np.float32))
        g = xp.asarray(rng.standard_normal(shape).astype(np.float32))
        ref = np.asarray(w).copy()
        for step in range(4):
            w = w - 0.1 * g
            ref = ref - np.float32(0.1) * np.asarray(g)
            np.asarray(w)
            if step == 1:
                buf = weakref.ref(_data(w))
            elif step > 1:
                assert (_data(w) is buf()) is donated
        np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-6)


def _two_layer_step(u, w, x):
    """An SGD step of ``sum(tanh(u @ w) * x)`` with each gradient reading the other weight."""
    d = (1 - xp.tanh(u @ w) ** 2) * x
    return u - 0.1 * (d @ w.T), w - 0.1 * (u.T @ d)


def test_a_value_asked_after_the_update_reads_the_old_buffer_first():
    """``u, s = u - lr * tanh(u), sum(u * u)``: the sum reads the old ``u`` but was scheduled
    after the update (asked second), so the update could not write into ``u``. The program
    now runs the sum first."""
    rng = np.random.default_rng(4)
    u0 = rng.standard_normal((40, 30)).astype(np.float32)
    u, ref = xp.asarray(u0.copy()), u0.copy()
    for step in range(4):
        u, s = u - 0.1 * xp.tanh(u), xp.sum(u * u)
        xp.realize(u, s)
        np.testing.assert_allclose(float(s), float(np.sum(ref * ref)), rtol=1e-5)
        ref = ref - np.float32(0.1) * np.tanh(ref)
        if step == 0:
            buf = weakref.ref(_data(u))
        else:
            assert _data(u) is buf(), "the update should write into the old buffer"
    np.testing.assert_allclose(np.asarray(u), ref, rtol=1e-5, atol=1e-6)


def test_of_two_weights_whose_updates_read_each_other_the_larger_is_updated_in_place():
    """``U' = U - lr D W^T`` and ``W' = W - lr U^T D`` are each one `Gemm` accumulating into
    its weight while reading the other's old value: one of them must write a fresh buffer.
    It is now the smaller (W, 20 x 20); it was U (60 x 20), as the program order had it: in
    fig2's eager RNN step that was 800 KB a step instead of 160 KB."""
    rng = np.random.default_rng(5)
    u0 = rng.standard_normal((60, 20)).astype(np.float32)
    w0 = rng.standard_normal((20, 20)).astype(np.float32)
    x = xp.asarray(np.float32(0.5))
    u, w = xp.asarray(u0.copy()), xp.asarray(w0.copy())
    ru, rw = u0.copy(), w0.copy()
    for step in range(4):
        u, w = _two_layer_step(u, w, x)
        xp.realize(u, w)
        d = (1 - np.tanh(ru @ rw) ** 2) * np.float32(0.5)
        ru, rw = ru - np.float32(0.1) * (d @ rw.T), rw - np.float32(0.1) * (ru.T @ d)
        if step == 0:
            buf = weakref.ref(_data(u))
        else:
            assert _data(u) is buf(), "the larger weight should be written in place"
    np.testing.assert_allclose(np.asarray(u), ru, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(w), rw, rtol=1e-4, atol=1e-5)


def test_a_step_that_may_raise_runs_its_raising_ops_first_and_donates():
    """fig2's eager RNN step: a gather of embedding rows and a scan may raise, so the step
    took no dead buffer and copied its 1000 x H embedding every step. Now the program runs
    every op that may raise before it writes a dead buffer, and donates."""
    rng = np.random.default_rng(6)
    u0 = rng.standard_normal((50, 8)).astype(np.float32)
    w0 = (rng.standard_normal((8, 8)) * 0.3).astype(np.float32)

    def loss(u, w, ids):
        def body(h, x):
            h = xp.tanh(x + h @ w)
            return h, h
        _, hs = xp.scan(body, xp.zeros(8, dtype=w.dtype), xp.take(u, ids, axis=0))
        return xp.sum(hs * hs)

    vg = xp.value_and_grad(loss, argnums=(0, 1))
    u, w = xp.asarray(u0.copy()), xp.asarray(w0.copy())
    ids = [rng.integers(0, 50, 6) for _ in range(4)]
    ref_u, ref_w = xp.asarray(u0.copy()), xp.asarray(w0.copy())
    for step, i in enumerate(ids):
        _, (gu, gw) = vg(u, w, xp.asarray(i))
        u = u - 0.1 * gu
        del gu, gw
        np.asarray(u)
        if step == 0:
            buf = weakref.ref(_data(u))
        else:
            assert _data(u) is buf(), "the update should write into the old embedding"
        _, (gu, _gw) = vg(ref_u, ref_w, xp.asarray(i))  # the same step, old values held
        expected = np.asarray(ref_u) - np.float32(0.1) * np.asarray(gu)
        ref_u = xp.asarray(expected)
        np.testing.assert_allclose(np.asarray(u), expected, rtol=1e-5, atol=1e-6)


def test_a_failing_live_array_beside_a_donating_step_does_not_fail_the_one_asked():
    """The step donates (the singular ``inv`` beside it reads none of its values), the
    joined ``inv`` raises before the step writes anything: the step is computed alone."""
    w = xp.asarray(np.ones((32, 32))) * 1.0
    np.asarray(w)
    w = w * 2.0                              # the old w is dead
    bad = xp.linalg.inv(xp.asarray(np.zeros((2, 2))) * 1.0)  # live, never asked for
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 2.0))
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(bad)


def test_a_gather_failing_beside_a_donating_update_leaves_its_buffer_unwritten():
    """The update may write into the old ``w``; the gather beside it may raise, so it runs
    first: when it fails, the pending ``w`` still reads its old values."""
    other = xp.asarray(np.ones((32, 32)))
    for rep in range(2):
        w = xp.asarray(np.ones((32, 32))) * 1.0
        np.asarray(w)
        w = w * 3.0                              # the old w is dead
        idx = xp.asarray(np.array([0, 40 if rep == 0 else 1])) * 1
        g = xp.take(other, idx, axis=0)
        if rep == 0:
            with pytest.raises(IndexError):
                xp.realize(w, g)
        else:
            xp.realize(w, g)
            np.testing.assert_array_equal(np.asarray(g), np.ones((2, 32)))
        np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 3.0))
    # the pair ran as one donating program whose gather runs before its write
    assert any(e.donates and e.raises_first for e in materialize.trace_cache._d.values())


def test_a_weight_a_scan_body_closes_over_is_donated():
    """The body's own traced graph (``h @ w`` over the outer ``w``) was left to the cyclic
    collector after tracing, holding ``w``'s buffer: the eager step's update of ``w`` never
    found it dead (fig2's recurrent weight). Tracing frees it at once."""
    rng = np.random.default_rng(7)
    w0 = (rng.standard_normal((20, 20)) * 0.3).astype(np.float32)
    xs = xp.asarray(rng.standard_normal((5, 20)).astype(np.float32))

    def loss(w):
        def body(h, x):
            h = xp.tanh(x + h @ w)
            return h, h
        _, hs = xp.scan(body, xp.zeros(20, dtype=w.dtype), xs)
        return xp.sum(hs * hs)

    vg = xp.value_and_grad(loss)
    w, ref = xp.asarray(w0.copy()), xp.asarray(w0.copy())
    for step in range(4):
        _, g = vg(w)
        w = w - 0.1 * g
        del g
        np.asarray(w)
        if step == 0:
            buf = weakref.ref(_data(w))
        else:
            assert _data(w) is buf(), "the update should write into the old weight"
        _, g = vg(ref)
        ref = xp.asarray(np.asarray(ref) - np.float32(0.1) * np.asarray(g))
        np.testing.assert_allclose(np.asarray(w), np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_an_op_reading_a_run_time_size_runs_before_the_donating_write(monkeypatch):
    """``max`` of a mask's empty selection has a static output but reads a run-time size: it
    may raise, and was scheduled after the write into w's dead buffer; the retry of w alone
    then read the overwritten leaf (16 came back 32, no error)."""
    monkeypatch.undo()  # the default threshold: a 64 x 64 float64 buffer
    for kind in ("joined", "asked"):
        w = xp.asarray(np.ones((64, 64))) * 1.0
        for _ in range(3):
            w = w * 2.0
            xp.realize(w)                    # 8.0
        x = xp.asarray(np.arange(10.0)) * 1.0
        w = w * 2.0                          # the old w is dead: 16.0
        if kind == "joined":
            score = xp.max(x[x > 100]) + w[0, 0]  # live, fails when run
            np.testing.assert_array_equal(np.asarray(w), np.full((64, 64), 16.0))
            with pytest.raises(ValueError):
                float(score)
        else:
            with pytest.raises(ValueError):
                xp.realize(w, xp.max(x[x > 100]))
            np.testing.assert_array_equal(np.asarray(w), np.full((64, 64), 16.0))


@pytest.mark.parametrize("bad_of", [
    lambda x, w: x[x > 4] + w[0, :4],                 # a broadcast mismatch (5 vs 4)
    lambda x, w: x[x > 4] @ xp.ones(4),
    lambda x, w: xp.reshape(x[x > 4], (4,)),
])
def test_a_static_output_over_a_run_time_size_leaves_dead_buffers_unwritten(bad_of):
    x = xp.asarray(np.arange(10.0)) * 1.0
    w = xp.asarray(np.ones((32, 32))) * 1.0
    np.asarray(w)
    w = w * 3.0
    with pytest.raises(ValueError):
        xp.realize(w, bad_of(x, w))
    np.testing.assert_array_equal(np.asarray(w), np.full((32, 32), 3.0))
