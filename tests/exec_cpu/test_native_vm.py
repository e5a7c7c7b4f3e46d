"""The native VM: BLAS matmul (transposed and strided operands without copies, batched,
broadcast, 1-d, every BLAS dtype), buffer reuse across calls without leaking into returned
arrays, in-place writes into dead intermediates only, fallbacks, and the thread setting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lazyarr.exec_cpu._vm import ElemThunk, MatMulThunk, Thunk

import lazyarr as xp
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.linalg import MatMul
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

BLAS = [np.float32, np.float64, np.complex64, np.complex128]


def _operand(rng, shape, dt, how):
    v = rng.standard_normal(shape)
    if np.dtype(dt).kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    v = v.astype(dt)
    if how == "T" and len(shape) >= 2:
        return np.ascontiguousarray(np.swapaxes(v, -1, -2)).swapaxes(-1, -2)
    if how == "step":
        base = np.zeros(shape[:-1] + (shape[-1] * 2,), dt)
        base[..., ::2] = v
        return base[..., ::2]
    if how == "rev":
        return np.flip(np.flip(v).copy())
    return v


@st.composite
def matmul_cases(draw):
    m, k, n = (draw(st.sampled_from([0, 1, 2, 3, 7])) for _ in range(3))
    kind = draw(st.sampled_from(["2d", "2d", "batch", "bcast", "vec_l", "vec_r", "vec_vec"]))
    if kind == "2d":
        sa, sb = (m, k), (k, n)
    elif kind == "batch":
        sa, sb = (2, m, k), (2, k, n)
    elif kind == "bcast":
        sa, sb = (3, 1, m, k), (2, k, n)
    elif kind == "vec_l":
        sa, sb = (k,), (2, k, n)
    elif kind == "vec_r":
        sa, sb = (2, m, k), (k,)
    else:
        sa, sb = (k,), (k,)
    return (sa, sb, draw(st.sampled_from(BLAS)), draw(st.sampled_from(["c", "T", "step", "rev"])),
            draw(st.sampled_from(["c", "T", "step", "rev"])))


@given(matmul_cases())
def test_blas_matmul_matches_numpy(case):
    sa, sb, dt, ha, hb = case
    rng = np.random.default_rng(0)
    a, b = _operand(rng, sa, dt, ha), _operand(rng, sb, dt, hb)
    va, vb = Var.input(dt, sa), Var.input(dt, sb)
    out, = apply(MatMul(), va, vb)
    prog = link(FunctionGraph([va, vb], [out]))
    assert isinstance(prog.thunks[0], MatMulThunk)
    got = prog([a, b])[0]
    ref = np.matmul(a, b)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    tol = 1e-4 if dt in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_matmul_other_dtypes_fall_back():
    va, vb = Var.input(np.int32, (2, 3)), Var.input(np.int32, (3, 2))
    out, = apply(MatMul(), va, vb)
    prog = link(FunctionGraph([va, vb], [out]))
    assert type(prog.thunks[0]) is Thunk
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(prog([a, a.T.copy()])[0], a @ a.T)


def _chain():
    x = Var.input(np.float64, (4, 5))
    y = Var.input(np.float64, (5,))
    t1, = apply(Elemwise("multiply"), x, x)        # intermediate
    t2, = apply(Elemwise("add"), t1, y)            # intermediate, t1 dies here: in place
    t3, = apply(Elemwise("exp"), t2)               # output
    t4, = apply(Elemwise("negative"), t2)          # output
    return FunctionGraph([x, y], [t3, t4]), x, y


def test_outputs_are_fresh_and_intermediates_reused():
    fg, _, _ = _chain()
    prog = link(fg)
    assert all(isinstance(t, ElemThunk) for t in prog.thunks)
    rng = np.random.default_rng(3)
    x1, y1 = rng.standard_normal((4, 5)), rng.standard_normal(5)
    x2, y2 = rng.standard_normal((4, 5)), rng.standard_normal(5)
    r1 = prog([x1, y1])
    keep = [r.copy() for r in r1]
    r2 = prog([x2, y2])
    for got, ref in zip(r1, keep):  # the first results were not overwritten by the second call
        np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(r1[0], np.exp(x1 * x1 + y1))
    np.testing.assert_allclose(r2[1], -(x2 * x2 + y2))
    assert r1[0] is not r2[0] and not np.shares_memory(r1[0], r2[0])
    assert not np.shares_memory(r1[0], x1) and not np.shares_memory(r1[1], x1)
    # caller's inputs are never written
    np.testing.assert_array_equal(x1, keep[0] * 0 + x1)


def test_in_place_only_into_dead_intermediates():
    fg, _, _ = _chain()
    prog = link(fg)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((4, 5)), rng.standard_normal(5)
    xc, yc = x.copy(), y.copy()
    prog([x, y])
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(y, yc)
    # the add node writes into the multiply node's buffer
    mul, add = prog.thunks[0], prog.thunks[1]
    assert mul.outs[0] in add.free


def test_readonly_and_nonnative_inputs():
    x = Var.input(np.float32, (3,))
    out, = apply(Elemwise("sqrt"), x)
    prog = link(FunctionGraph([x], [out]))
    a = np.array([4.0, 9.0, 16.0], np.float32)
    a.setflags(write=False)
    np.testing.assert_array_equal(prog([a])[0], [2, 3, 4])
    big = np.array([4.0, 9.0, 16.0], ">f4")  # swapped byte order: NumPy path
    np.testing.assert_array_equal(prog([big])[0], [2, 3, 4])


def test_without_native_kernels_same_results():
    fg, _, _ = _chain()
    rng = np.random.default_rng(5)
    args = [rng.standard_normal((4, 5)), rng.standard_normal(5)]
    a = link(fg)(args)
    b = link(fg, native_kernels=False)(args)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v)


def test_set_num_threads():
    old = xp.get_num_threads()
    try:
        assert xp.set_num_threads(1) == 1 and xp.get_num_threads() == 1
        x = xp.asarray(np.linspace(0, 1, 300_000))
        r1 = np.asarray(xp.exp(x) * 2)
        xp.set_num_threads(2)
        r2 = np.asarray(xp.exp(x) * 2)
        np.testing.assert_array_equal(r1, r2)
        with pytest.raises(ValueError):
            xp.set_num_threads(0)
    finally:
        xp.set_num_threads(old)


def test_set_num_threads_limits_blas_through_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    old = xp.get_num_threads()
    try:
        for n in (1, 2):
            xp.set_num_threads(n)
            blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
            assert blas and all(i["num_threads"] == n for i in blas)
    finally:
        xp.set_num_threads(old)


def test_omp_num_threads_is_the_default(monkeypatch):
    import os
    import subprocess
    import sys

    from lazyarr.exec_cpu.threads import default_threads

    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    got = subprocess.run([sys.executable, "-c", "import lazyarr; print(lazyarr.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()[-1]
    assert got == "1"  # a fresh process starts with it

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() >= 1


def test_concurrent_calls_of_one_program_do_not_share_buffers():
    """Kernels release the GIL: a second thread running the same program gets its own buffers."""
    import threading

    x = Var.input(np.float64, (200_000,))
    t1, = apply(Elemwise("exp"), x)
    t2, = apply(Elemwise("sin"), t1)
    out, = apply(Elemwise("multiply"), t2, x)
    prog = link(FunctionGraph([x], [out]))
    inputs = [np.full(200_000, v) for v in (0.1, 0.2, 0.3, 0.4)]
    errors = []

    def work(v):
        for _ in range(20):
            r = prog([v])[0]
            if not np.allclose(r, np.sin(np.exp(v)) * v):
                errors.append(float(v[0]))

    threads = [threading.Thread(target=work, args=(v,)) for v in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
