"""`compile.loop` with a carried first-layer weight (``exec_cpu/ahead.py``): its updates
deferred over blocks of steps (N calls' values up to rounding, checked against the calls and
a NumPy oracle), ``exact=True`` computing the next step's row product ahead (the calls' values
bit for bit), and the cases where deferring must not happen."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import (
    ahead_calls,
    defer_rows,
    deferred_blocks,
    set_blas_spin,
    set_defer_rows,
    set_few_kernels,
    set_thread_governor,
)

import lazyarr as xp
from lazyarr.exec_cpu.threads import get_num_threads, set_num_threads

from ..mlp_reference import mlp_loss_and_grads

K, H, C = 400, 400, 10  # K x H = 160,000 elements: above the row kernels' 2^17
LR = 0.05


def _params(k=K, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((k, H)) * 0.05).astype(dtype),
            (rng.standard_normal(H) * 0.1).astype(dtype),
            (rng.standard_normal((H, C)) * 0.05).astype(dtype),
            (rng.standard_normal(C) * 0.1).astype(dtype)]


def _data(n, m, k=K, dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, m, k)).astype(dtype)
    ys = np.eye(C, dtype=dtype)[rng.integers(0, C, (n, m))]
    return xs, ys


def _loss(ps, x, y, decay=0.0):
    z = xp.tanh(x @ ps[0] + ps[1]) @ ps[2] + ps[3]
    mx = xp.max(z, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(z - mx), axis=1, keepdims=True)) + mx
    loss = xp.mean(xp.sum(y * (lse - z), axis=1))
    return loss + decay * xp.sum(ps[0] * ps[0]) if decay else loss


def _step(ps, x, y):
    loss, g = xp.value_and_grad(_loss)(ps, x, y)
    return [p - LR * gp for p, gp in zip(ps, g)], loss


def _decay_step(ps, x, y):
    loss, g = xp.value_and_grad(lambda q, a, b: _loss(q, a, b, 1e-3))(ps, x, y)
    return [p - LR * gp for p, gp in zip(ps, g)], loss


def _calls(ps0, xs, ys, step=_step):
    f = xp.compile(step, donate_argnums=0)
    ps = [xp.asarray(p.copy()) for p in ps0]
    for i in range(len(xs)):
        ps, loss = f(ps, xp.asarray(xs[i]), xp.asarray(ys[i]))
    return [np.asarray(p) for p in ps], float(loss)


def _loop(ps0, xs, ys, step=_step, **kw):
    f = xp.compile(step, donate_argnums=0)
    ps = [xp.asarray(p.copy()) for p in ps0]
    ps, loss = f.loop(len(xs), ps, xs, ys, stacked_argnums=(1, 2), **kw)
    return [np.asarray(p) for p in ps], float(loss)


def _oracle(ps0, xs, ys):
    """float64 NumPy SGD with hand-derived gradients."""
    ps = [p.astype(np.float64) for p in ps0]
    for x, y in zip(xs, ys):
        loss, g = mlp_loss_and_grads(ps, x.astype(np.float64), y.astype(np.float64))
        ps = [p - LR * gp for p, gp in zip(ps, g)]
    return ps, loss


@pytest.fixture(autouse=True)
def _blas_products():
    """The step's products on BLAS: the few-rows kernels' threads (`exec_cpu/few_rows.py`, at
    minibatch 2-16 where the CPU has AVX-512) would rule deferring out (`worth_deferring`)."""
    was = set_few_kernels(False)
    yield
    set_few_kernels(was)


@pytest.fixture
def two_threads():
    """Two threads for the OpenMP kernels, also right after an earlier test's products on
    OpenBLAS's threads (which would leave them one while that pool spins: `set_blas_spin`),
    and in every run (no trial of one thread: `set_thread_governor`)."""
    was = get_num_threads()
    spin = set_blas_spin(0)
    period = set_thread_governor(0)
    set_num_threads(2)
    yield
    set_num_threads(was)
    set_blas_spin(spin)
    set_thread_governor(period)


@pytest.mark.parametrize("m, n", [(1, 70), (3, 25), (10, 8)])
def test_deferred_loop_equals_calls(m, n):
    """Two blocks of at most 48 // m steps, as even as can be; every parameter and the last
    loss as N calls give them up to rounding, and as float64 NumPy."""
    assert defer_rows() == 48
    ps0 = _params()
    xs, ys = _data(n, m)
    before = deferred_blocks()
    got, loss = _loop(ps0, xs, ys)
    assert deferred_blocks() - before == math.ceil(n / (48 // m)) == 2
    want, want_loss = _calls(ps0, xs, ys)
    ref, ref_loss = _oracle(ps0, xs, ys)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for a, b, c in zip(got, want, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(got[0], ps0[0])  # the first layer did learn


@pytest.mark.parametrize("rows", [2, 5, 64])
def test_block_sizes(rows):
    """Blocks of 2 and 5 steps, and one block longer than the loop."""
    was = set_defer_rows(rows)
    try:
        ps0 = _params()
        xs, ys = _data(11, 1)
        before = deferred_blocks()
        got, loss = _loop(ps0, xs, ys)
        assert deferred_blocks() - before == math.ceil(11 / rows)
    finally:
        set_defer_rows(was)
    want, want_loss = _calls(ps0, xs, ys)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


def test_exact_loop_is_bit_for_bit(two_threads):
    """``exact=True``: no deferred blocks; from the second step on, the row product comes
    from the previous step's update (one pass over W), with the calls' values exactly."""
    ps0 = _params()
    xs, ys = _data(9, 1)
    blocks, ahead = deferred_blocks(), ahead_calls()
    got, loss = _loop(ps0, xs, ys, exact=True)
    assert deferred_blocks() == blocks
    assert ahead_calls() - ahead == 8
    want, want_loss = _calls(ps0, xs, ys)
    assert loss == want_loss
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def _wide_stack(n, m):
    xs, ys = _data(n, m)
    wide = np.zeros((n, m, K + 3), np.float32)
    wide[:, :, :K] = xs
    return wide[:, :, :K], ys


@pytest.mark.parametrize("case", ["small W", "W read elsewhere", "strided stack", "float64"])
def test_no_deferring(case):
    """A small first layer (the gemm calls would cost more than reading W), W also read by
    the loss (weight decay), a stacked argument whose rows are not one matrix, float64: the
    loop runs plain calls, with their values."""
    n, step, k, dtype = 6, _step, K, np.float32
    if case == "small W":
        k = 40
    elif case == "W read elsewhere":
        step = _decay_step
    elif case == "float64":
        dtype = np.float64
    ps0 = _params(k, dtype)
    xs, ys = _wide_stack(n, 1) if case == "strided stack" else _data(n, 1, k, dtype)
    before = deferred_blocks()
    got, loss = _loop(ps0, xs, ys, step=step)
    assert deferred_blocks() == before
    want, want_loss = _calls(ps0, xs, ys, step=step)
    assert loss == pytest.approx(want_loss, rel=1e-6)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
