"""The strided entry of elementwise kernels runs every row through the contiguous loop, staging
operands that do not step by one element through buffers (the prelude's ``la_strided_rows``):
gathered inputs and scattered outputs of every element size, on both sides of the block
length, serial and threaded, equal NumPy. Called through the kernel's own entry point, so
outputs with any strides (which the VM never passes) are covered too."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from lazyarr.array.ops.composite import Composite
from lazyarr.exec_cpu import native
from lazyarr.exec_cpu.codegen import ROW_BLOCK, Kernel

STRIDED = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64),
                           ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64),
                           ctypes.c_int)
rng = np.random.default_rng(11)


def _strided_entry(comp: Composite, scalar_in: tuple):
    built, = native.build_kernels([Kernel(comp, scalar_in)])
    if built is None:
        pytest.skip("no C compiler")
    return built[0], STRIDED(built[2])


def _call(fn, arrays: list[np.ndarray], shape: tuple, threads: int) -> None:
    """``fn`` over ``shape`` with each array's byte strides (0 where it is broadcast)."""
    nd = len(shape)
    st = []
    for a in arrays:
        pad = (0,) * (nd - a.ndim) + a.strides
        st += [0 if d < nd - a.ndim or a.shape[d - (nd - a.ndim)] == 1 else pad[d]
               for d in range(nd)]
    fn(nd, (ctypes.c_int64 * nd)(*shape),
       (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays]),
       (ctypes.c_int64 * len(st))(*st), threads)


def _values(dt: np.dtype, shape: tuple) -> np.ndarray:
    v = rng.standard_normal(shape) * 4
    if dt.kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    return v.astype(dt)


DTYPES = [np.dtype(t) for t in ("bool", "int8", "int16", "float32", "float64", "complex128")]


@pytest.mark.parametrize("dt", DTYPES, ids=str)
@pytest.mark.parametrize("n", [1, ROW_BLOCK - 1, ROW_BLOCK + 3])
def test_gathered_inputs_and_scattered_outputs(dt, n):
    """``x.T + y[::-1]`` and ``x.T * y`` into outputs every other element of wider arrays, ``s``
    a broadcast scalar input read in place; rows of ``n`` elements."""
    op = "logical_or" if dt.kind == "b" else "add"
    mul = "logical_and" if dt.kind == "b" else "multiply"
    comp = Composite((dt, dt, dt), ((op, (0, 1), dt, None), (mul, (0, 2), dt, None)), (3, 4))
    lib, fn = _strided_entry(comp, (False, False, True))
    rows = 5
    x = _values(dt, (n, rows)).T            # transposed: a gathered input
    y = _values(dt, (rows, n))[:, ::-1]      # reversed rows: gathered too
    s = _values(dt, (1, 1))
    for threads in (1, 2):
        o1 = np.zeros((rows, 2 * n), dt)
        o2 = np.zeros((rows, n, 2), dt)
        outs = [o1[:, ::2], o2[:, :, 1]]     # scattered outputs
        _call(fn, [x, y, s, *outs], (rows, n), threads)
        want = (x | y, x & s) if dt.kind == "b" else (x + y, x * s)
        for got, w in zip(outs, want):
            if dt.kind == "c":  # complex products round as C's (a+bi)(c+di), not bit-equal
                np.testing.assert_allclose(got, w, rtol=1e-15, atol=0)
            else:
                np.testing.assert_array_equal(got, w)
        assert not o1[:, 1::2].any() and not o2[:, :, 0].any()  # nothing written in between


def test_many_operands_use_shorter_blocks():
    """64 float64 inputs gathered at once: the staging buffers hold fewer than `ROW_BLOCK`
    elements per operand, so rows run in more blocks."""
    dt = np.dtype(np.float64)
    k = 64
    steps = [("add", (0, 1), dt, None)]
    for i in range(2, k):
        steps.append(("add", (k + i - 2, i), dt, None))
    comp = Composite((dt,) * k, tuple(steps), (k + len(steps) - 1,))
    lib, fn = _strided_entry(comp, (False,) * k)
    xs = [_values(dt, (700, 3)).T for _ in range(k)]
    out = np.zeros((3, 700), dt)
    _call(fn, [*xs, out], (3, 700), 1)
    np.testing.assert_allclose(out, sum(xs[1:], xs[0]), rtol=1e-13)
