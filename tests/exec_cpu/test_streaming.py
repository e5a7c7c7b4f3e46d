"""The large-output path of elementwise kernels (non-temporal stores in blocks, a scalar head up
to a 32-byte boundary and a scalar tail) agrees with NumPy for every output alignment, in place,
with special values, on one and two threads."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.composite import Composite
from lazyarr.exec_cpu import ccache, codegen, native
from lazyarr.exec_cpu.codegen import Kernel

CONTIG = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int)


def _kernel(dt):
    """``exp(-x*x) * 3 + y`` as a two-input composite of ``dt``, its contiguous entry point."""
    steps = (("multiply", (0, 0), dt, None), ("negative", (2,), dt, None),
             ("exp", (3,), dt, None), ("const", (), dt, 3.0), ("multiply", (4, 5), dt, None),
             ("add", (6, 1), dt, None))
    k = Kernel(Composite((dt, dt), steps, (7,)), (False, False))
    assert "LA_STREAM_" in k.source(ccache.have_mvec())
    built, = native.build_kernels([k])
    if built is None:
        pytest.skip("no C compiler")
    return built[0], CONTIG(built[1])


def _call(fn, n, *arrays, threads=1):
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    fn(n, ptrs, threads)


@pytest.mark.parametrize("dt", [np.dtype(np.float32), np.dtype(np.float64)])
def test_streaming_path_every_alignment(dt):
    lib, fn = _kernel(dt)
    n = codegen.STREAM_BYTES // dt.itemsize + 3 * codegen.STREAM_BLOCK + 5  # head, blocks, tail
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n + 8).astype(dt)
    y = rng.standard_normal(n + 8).astype(dt)
    x[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30]
    ref = np.exp(-x[:n] * x[:n]) * dt.type(3) + y[:n]
    base = np.empty(n + 8, dt)
    for off in range(8):  # the output starts at every element offset from a 32-byte boundary
        out = base[off:off + n]
        out[:] = 7
        _call(fn, n, x, y, out, threads=1 + off % 2)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # in place: the output is the first input
    xi = x[:n].copy()
    _call(fn, n, xi, y, xi, threads=2)
    np.testing.assert_allclose(xi, ref, rtol=1e-5, atol=1e-6)
    del lib


def test_front_end_large_float32_chain_matches_numpy():
    old = xp.get_num_threads()
    try:
        xp.set_num_threads(2)
        a = np.linspace(-3, 3, (1 << 20) + 11, dtype=np.float32)
        got = np.asarray(xp.exp(-xp.asarray(a) * 2.0) + 1.0)
        np.testing.assert_allclose(got, np.exp(-a * np.float32(2.0)) + np.float32(1.0),
                                   rtol=4e-7)
    finally:
        xp.set_num_threads(old)


def test_small_static_outputs_leave_the_streaming_path_out():
    """A node whose static output stays under STREAM_BYTES gets no streaming path (less to
    compile); a large or run-time-sized one keeps it; both compute the same values."""
    import lazyarr as xp
    from lazyarr.array.ops.elemwise import Elemwise
    from lazyarr.graph import Var, apply

    for shape, streams in (((60, 500), False), ((1 << 21,), True), ((None, 3), True)):
        x = Var.input(np.dtype(np.float32), shape)
        out, = apply(Elemwise("exp"), x)
        k = native.elementwise_kernel(out.owner)
        assert ("LA_STREAM_" in k.template()) == streams, shape
    a = np.random.default_rng(1).standard_normal((60, 500)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(xp.exp(xp.asarray(a) * 0.5)), np.exp(a * 0.5),
                               rtol=1e-6)
