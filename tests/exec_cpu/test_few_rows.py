"""The few-rows float32 kernels (`exec_cpu/few_rows.py`): `Gemm` and `MatMul` nodes with at
most 16 rows (``h @ W`` streaming ``W``'s rows; ``d @ W.T`` as dot products), or a small
``B`` with few columns or a short reduction (``W + alpha * x.T @ d``), equal NumPy in float64
for every layout of the operands, beta 0, 1 and 0.5, alpha != 1, column tails that do and do
not fill a vector, on 1 and 2 threads; the kernels run where they should and decline where
they should not (then BLAS runs)."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import (
    GemmThunk,
    MatMulThunk,
    few_kernel_calls,
    few_kernels_available,
    set_few_kernels,
)

import lazyarr
import lazyarr as xp
from lazyarr.array.ops.linalg import MatMul
from lazyarr.exec_cpu import dot_update, link
from lazyarr.graph import FunctionGraph, Var, apply
from tests.float32_products import GEMM_FORMS, one_node_program, operand, run_gemm

F32 = np.float32


def _available() -> bool:
    dot_update.install()
    return few_kernels_available()


pytestmark = pytest.mark.skipif(not _available(), reason="few-rows kernels need AVX-512")


@pytest.fixture
def threads():
    """Few-rows kernels on; the thread count set per test and the default put back."""
    was = set_few_kernels(True)
    yield lazyarr.set_num_threads
    lazyarr.set_num_threads(None)
    set_few_kernels(was)


def _check(got, want, k):
    assert got.dtype == F32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.sqrt(k) * 4)


# (m, k, n): `nn` (few rows), `nt` (few rows, B a transposed view, reduction >= 32) and `rows`
# (B of at most 16 columns, or a reduction of at most 16); tails of 1, 15, 16, 17, 31, 33
SHAPES = [(1, 40, 33), (2, 7, 17), (10, 784, 10), (10, 784, 500), (16, 33, 31), (13, 64, 100),
          (10, 10, 500), (3, 200, 1), (784, 10, 10), (500, 10, 16), (37, 5, 45), (61, 60, 10),
          (20, 16, 1000), (9, 1000, 64)]
LAYOUTS = (("c", "c"), ("T", "c"), ("c", "T"), ("pad", "pad"), ("T", "T"))


def _taken(m, k, n, ha, hb) -> bool:
    """Whether the kernels take ``a (m x k) @ b (k x n)`` laid out as ``ha``, ``hb``."""
    b_rows = hb != "T" or n == 1  # b's columns one element apart
    a_rows = ha != "T" or k == 1
    if m <= 16 and (b_rows or (a_rows and k >= 32)):
        return True
    return b_rows and k * n <= 65536 and (n <= 16 or k <= 16)


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_gemm_nodes_equal_numpy(threads, m, k, n, nthreads):
    threads(nthreads)
    rng = np.random.default_rng(m * 1000 + n + nthreads)
    for alpha, beta, c_shape in GEMM_FORMS:
        for ha, hb in LAYOUTS:
            a, b = operand(rng, (m, k), ha, pad=3), operand(rng, (k, n), hb, pad=3)
            got, want, ran = run_gemm(rng, a, b, alpha, beta, c_shape(m, n), GemmThunk,
                                      few_kernel_calls)
            _check(got, want, k)
            if m > 1 and (m <= 16 or _taken(m, k, n, ha, hb)):
                # the row-by-row and rank-1 paths take 1-row and k == 1 products first
                assert ran == (1 if _taken(m, k, n, ha, hb) else 0), (ha, hb, alpha, beta)


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_matmul_nodes_equal_numpy(threads, m, k, n, nthreads):
    threads(nthreads)
    rng = np.random.default_rng(m * 1000 + n + 7 * nthreads)
    for ha, hb in LAYOUTS:
        a, b = operand(rng, (m, k), ha, pad=3), operand(rng, (k, n), hb, pad=3)
        prog = one_node_program(MatMul(), [a.shape, b.shape], MatMulThunk)
        before = few_kernel_calls()
        got = prog([a, b])[0]
        ran = few_kernel_calls() - before
        _check(got, a.astype(np.float64) @ b, k)
        if m > 1 and n > 1 and _taken(m, k, n, ha, hb):  # gemv takes matrix-vector products
            # (where they decline, the few-row path may still hand them the transposed
            # product: c.T = b.T @ a.T)
            assert ran == 1, (ha, hb)


def test_products_past_the_kernels_run_on_blas(threads):
    """Many rows, columns and a long reduction, or few rows of a B past 2^22 elements (each
    row a tile reads another page): BLAS, not the kernels."""
    rng = np.random.default_rng(3)
    for (m, k, n) in ((40, 50, 60), (16, 2048, 2100)):
        a, b = operand(rng, (m, k), "c"), operand(rng, (k, n), "c")
        prog = one_node_program(MatMul(), [a.shape, b.shape], MatMulThunk)
        before = few_kernel_calls()
        _check(prog([a, b])[0], a.astype(np.float64) @ b, k)
        assert few_kernel_calls() == before


def _linked(shapes):
    """A program of float32 products ``x_i @ w_i`` (``shapes``: their (m, k, n))."""
    ins, outs = [], []
    for m, k, n in shapes:
        x, w = Var.input(F32, (m, k)), Var.input(F32, (k, n))
        ins += [x, w]
        outs += apply(MatMul(), x, w)
    return link(FunctionGraph(ins, outs))


@pytest.mark.parametrize("other,threaded", [
    ((40, 50, 60), False),      # 120k multiply-adds: OpenBLAS runs it on the calling thread
    ((100, 200, 300), True),    # 6M: on OpenBLAS's threads
    ((1000, 10, 10000), True),  # a short reduction, but B of 10^5 elements: not the kernels'
    ((20, 16, 20000), True),
    ((500, 10, 16), False),     # the kernels' (`rows`)
])
def test_a_program_keeps_the_kernels_threads_unless_openblas_threads_a_product(
        threads, other, threaded):
    """The kernels use threads in a program only where no other product runs on OpenBLAS's
    pool (`few_par`): the two pools' spinning threads take the cores from each other."""
    prog = _linked([(10, 784, 500), other])
    assert [t.few_par for t in prog.thunks if isinstance(t, MatMulThunk)] == [not threaded] * 2


def test_non_finite_values_propagate_as_in_numpy(threads):
    """inf and NaN in either operand reach the same outputs as NumPy's product."""
    rng = np.random.default_rng(4)
    a, b = operand(rng, (10, 40), "c"), operand(rng, (40, 70), "c")
    a[2, 5], b[7, 3], b[9, 60] = np.inf, np.nan, -np.inf
    prog = one_node_program(MatMul(), [a.shape, b.shape], MatMulThunk)
    got, want = prog([a, b])[0], a @ b
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_an_eager_minibatch_step_equals_numpy(threads):
    """fig1's batch-10 forward and weight update through the public API."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 784)).astype(F32)
    w = (rng.standard_normal((784, 500)) * 0.05).astype(F32)
    bias = rng.standard_normal(500).astype(F32)
    d = rng.standard_normal((10, 500)).astype(F32)
    before = few_kernel_calls()
    h = np.asarray(xp.tanh(xp.asarray(x) @ xp.asarray(w) + xp.asarray(bias)))
    w2 = np.asarray(xp.asarray(w) - 0.1 * (xp.asarray(x).T @ xp.asarray(d)))
    assert few_kernel_calls() - before >= 2
    np.testing.assert_allclose(h, np.tanh(x.astype(np.float64) @ w + bias), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(w2, w - 0.1 * (x.T.astype(np.float64) @ d), rtol=1e-5,
                               atol=1e-5)


def test_a_loop_on_one_thread_still_defers_its_updates(threads):
    """On one thread the kernels start no pool: a minibatch-3 loop defers its updates as it
    would on BLAS."""
    from lazyarr.exec_cpu._vm import deferred_blocks

    threads(1)
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((400, 400)) * 0.05).astype(F32)
    xs = rng.standard_normal((20, 3, 400)).astype(F32)

    bias = np.zeros(400, F32)

    def step(ps, x):
        loss, g = xp.value_and_grad(
            lambda ps, x: xp.sum(xp.tanh(x @ ps[0] + ps[1]) ** 2))(ps, x)
        return [p - 0.01 * gp for p, gp in zip(ps, g)], loss

    f = xp.compile(step, donate_argnums=0)
    blocks = deferred_blocks()
    got, _ = f.loop(20, [xp.asarray(w.copy()), xp.asarray(bias)], xs, stacked_argnums=(1,))
    assert deferred_blocks() > blocks
    want = [xp.asarray(w.copy()), xp.asarray(bias)]
    g = xp.compile(step, donate_argnums=0)
    for x in xs:
        want, _ = g(want, xp.asarray(x))
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_a_loop_on_the_kernels_threads_defers_no_update(threads):
    """A minibatch-10 `.loop` whose products run on the kernels' threads applies each step's
    update in turn (no deferred block: its gemm would wake OpenBLAS's threads beside them) and
    equals the same steps called one by one."""
    from lazyarr.exec_cpu._vm import deferred_blocks

    threads(2)
    rng = np.random.default_rng(6)
    ps0 = [(rng.standard_normal((400, 400)) * 0.05).astype(F32), np.zeros(400, F32),
           (rng.standard_normal((400, 10)) * 0.05).astype(F32), np.zeros(10, F32)]
    xs = rng.standard_normal((6, 10, 400)).astype(F32)
    ys = np.eye(10, dtype=F32)[rng.integers(0, 10, (6, 10))]

    def loss_fn(ps, x, y):
        z = xp.tanh(x @ ps[0] + ps[1]) @ ps[2] + ps[3]
        lse = xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        return xp.mean(xp.sum(y * (lse - z), axis=1))

    def step(ps, x, y):
        loss, g = xp.value_and_grad(loss_fn)(ps, x, y)
        return [p - 0.05 * gp for p, gp in zip(ps, g)], loss

    f = xp.compile(step, donate_argnums=0)
    ps = [xp.asarray(p.copy()) for p in ps0]
    for x, y in zip(xs, ys):
        ps, loss = f(ps, xp.asarray(x), xp.asarray(y))
    want = [np.asarray(p) for p in ps] + [float(loss)]
    g = xp.compile(step, donate_argnums=0)
    blocks, calls = deferred_blocks(), few_kernel_calls()
    ps, loss = g.loop(6, [xp.asarray(p.copy()) for p in ps0], xs, ys, stacked_argnums=(1, 2))
    got = [np.asarray(p) for p in ps] + [float(loss)]
    assert deferred_blocks() == blocks
    assert few_kernel_calls() - calls >= 6 * 3
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_kernels_take_one_thread_while_openblas_threads_spin(threads):
    """A product on OpenBLAS's threads (any program's) leaves its pool spinning for a while;
    the OpenMP kernels run on one thread until it sleeps, not beside it."""
    from lazyarr.exec_cpu._vm import openmp_threads_now

    threads(2)
    rng = np.random.default_rng(7)
    big = rng.standard_normal((300, 300))  # float64: never the few-rows kernels
    time.sleep(0.3)
    assert openmp_threads_now() == 2
    np.asarray(xp.asarray(big) @ xp.asarray(big))
    assert openmp_threads_now() == 1
    a, w = operand(rng, (10, 784), "c"), operand(rng, (784, 500), "c")
    _check(np.asarray(xp.asarray(a) @ xp.asarray(w)), a.astype(np.float64) @ w, 784)
    time.sleep(0.3)
    assert openmp_threads_now() == 2
    # a product BLAS runs on the calling thread (under 2^18 multiply-adds) wakes no pool:
    # 10x10 @ (1000x10).T, declined by the kernels (a reduction of 10), in fig1's deep1000x3
    # b10 step had left every step's kernels one thread
    d, v = operand(rng, (10, 10), "c"), operand(rng, (1000, 10), "c")
    _check(np.asarray(xp.asarray(d) @ xp.asarray(v).T), d.astype(np.float64) @ v.T, 10)
    assert openmp_threads_now() == 2


def _product_in_child(_):
    from lazyarr.exec_cpu.threads import get_num_threads

    a = np.ones((10, 784), F32)
    w = np.ones((784, 500), F32)
    return get_num_threads(), float(np.asarray(xp.asarray(a) @ xp.asarray(w))[0, 0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_runs_the_kernels_on_one_thread(threads):
    """libgomp's pool does not survive fork: after the parent ran a product on the kernels'
    2 threads, a fork Pool's workers compute it on one thread (they used to wait forever)."""
    threads(2)
    assert _product_in_child(0) == (2, 784.0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_product_in_child, range(4)).get(timeout=30)
    assert got == [(1, 784.0)] * 4
