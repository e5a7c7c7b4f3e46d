"""The `dot_update` pass: ``g @ W.T`` and the rank-1 update ``W - lr * (h.T @ g)`` of the same
``W`` become one `DotUpdate` node; where it fires, where it must not (the update reading the
product, a product with more than one row), and the rewritten graph against the reference VM
on the original graph; a compiled minibatch-1 SGD step against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.exec_cpu import link
from lazyarr.rewrites import rewrite
from lazyarr.rewrites.dot_update import DotUpdate

from .test_fusion import graph_of, ops

rng = np.random.default_rng(5)


def arr(*shape, dtype=np.float32):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def check_close(fg, arrays, args, tol):
    plain, _ = graph_of(*arrays)
    want = link(plain, reference=True)(args)
    got = link(fg)(args)
    for w, g in zip(want, got):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, m, n", [(np.float32, 300, 200), (np.float32, 13, 5),
                                         (np.float64, 40, 30)])
def test_backward_and_update_become_one_node(dtype, m, n):
    """float32 only: float64 has no kernel (its update stays an in-place `Gemm`)."""
    w, h, g = arr(m, n, dtype=dtype), arr(1, m, dtype=dtype), arr(1, n, dtype=dtype)
    dx = g @ w.T
    new = w - 0.01 * (h.T @ g)
    fg, args = graph_of(dx, new)
    report = rewrite(fg)
    fused = int(dtype == np.float32)
    assert report.counts["dot_update"] == fused
    assert sum(isinstance(op, DotUpdate) for op in ops(fg)) == fused
    check_close(fg, [dx, new], args, 1e-5 if dtype == np.float32 else 1e-12)


def test_not_fused_when_the_update_reads_the_product():
    """``a = dx.T``: the update needs the product first, one node cannot do both."""
    w, g = arr(20, 20), arr(1, 20)
    dx = g @ w.T
    new = w - 0.5 * (dx.T @ g)
    fg, args = graph_of(dx, new)
    rewrite(fg)
    assert not any(isinstance(op, DotUpdate) for op in ops(fg))
    check_close(fg, [dx, new], args, 1e-5)


def test_not_fused_for_several_rows():
    w, h, g = arr(30, 20), arr(4, 30), arr(4, 20)
    dx = g @ w.T
    new = w - 0.01 * (h.T @ g)
    fg, _ = graph_of(dx, new)
    rewrite(fg)
    assert not any(isinstance(op, DotUpdate) for op in ops(fg))


def test_compiled_sgd_step_matches_numpy():
    """A tanh layer's minibatch-1 SGD step compiled with donated weights, three steps: the
    hidden weight runs through `DotUpdate` in place; values follow NumPy's float64 step."""
    k, m, n = 50, 300, 200
    w1 = (rng.standard_normal((k, m)) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((m, n)) * 0.1).astype(np.float32)
    xs = rng.standard_normal((3, 1, k)).astype(np.float32)

    def step(ps, x):
        a, b = ps
        z = xp.tanh(x @ a)
        y = z @ b
        gy = y  # d(0.5 * sum(y**2)) / dy
        gz = (gy @ b.T) * (1 - z * z)
        return [a - 0.01 * (x.T @ gz), b - 0.01 * (z.T @ gy)]

    f = xp.compile(step, donate_argnums=0)
    ps = [xp.asarray(w1), xp.asarray(w2)]
    r1, r2 = w1.astype(np.float64), w2.astype(np.float64)
    for x in xs:
        ps = f(ps, xp.asarray(x))
        x64 = x.astype(np.float64)
        z = np.tanh(x64 @ r1)
        gy = z @ r2
        gz = (gy @ r2.T) * (1 - z * z)
        r1, r2 = r1 - 0.01 * (x64.T @ gz), r2 - 0.01 * (z.T @ gy)
    prog = f.program(ps, xp.asarray(xs[0]))
    assert any(isinstance(t.node.op, DotUpdate) for t in prog.vm.thunks)
    np.testing.assert_allclose(np.asarray(ps[0]), r1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ps[1]), r2, rtol=1e-4, atol=1e-5)
