"""Strided kernels run a row through the vectorized contiguous loop when every operand steps by
one element or not at all along it (a value broadcast along the row, as in ``x - max(x,
axis=1, keepdims=True)``): results equal NumPy's on both sides of the block length, for rows
that are slices of larger arrays, and where the path does not apply (reversed rows)."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.exec_cpu.codegen import ROW_BLOCK

SIZES = [1, 3, ROW_BLOCK - 1, ROW_BLOCK, ROW_BLOCK + 1, 3 * ROW_BLOCK + 5]
rng = np.random.default_rng(7)


def _data(dt, rows, n):
    v = rng.standard_normal((rows, n + 3))
    if np.dtype(dt).kind == "c":
        v = v + 1j * rng.standard_normal(v.shape)
    return v.astype(dt)


def _views(a):
    """The same (rows, n) values as a contiguous array, a row-wise slice and reversed rows."""
    n = a.shape[1] - 3
    return {"contiguous": np.ascontiguousarray(a[:, :n]), "sliced": a[:, 2:n + 2],
            "reversed": a[:, n - 1::-1] if n else a[:, :0]}


def _rowwise(ns, x, m, s):
    return ns.exp(x - m) * s + m


@pytest.mark.parametrize("dt", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("n", SIZES)
def test_elementwise_rows_with_broadcast_operands(dt, n):
    a = _data(dt, 5, n)
    m = _data(dt, 5, 1)[:, :1]
    s = _data(dt, 1, 1)[:1, :1]
    for name, x in _views(a).items():
        got = np.asarray(_rowwise(xp, xp.asarray(x), xp.asarray(m), xp.asarray(s)))
        want = _rowwise(np, x, m, s)
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == "float32" else 1e-12,
                                   atol=1e-6 if dt == "float32" else 1e-12,
                                   err_msg=f"{name} rows of {n}")


def test_elementwise_rows_into_strided_output():
    x = _data("float64", 4, 300)[:, :300]
    m = x.max(axis=1, keepdims=True)
    out = xp.asarray(np.zeros((4, 600)))
    got = xp.exp(xp.asarray(x) - xp.asarray(m))
    out[:, ::2] = got
    np.testing.assert_allclose(np.asarray(out)[:, ::2], np.exp(x - m), rtol=1e-13)
    assert not np.asarray(out)[:, 1::2].any()


@pytest.mark.parametrize("kind", ["sum", "max", "min", "mean"])
@pytest.mark.parametrize("dt", ["float32", "float64", "int32"])
@pytest.mark.parametrize("n", SIZES)
def test_reductions_over_rows_with_broadcast_operands(kind, dt, n):
    a = _data("float64", 6, n)
    a = (a * 4).astype(dt) if dt == "int32" else a.astype(dt)
    m = a[:, :1].copy()
    if dt != "int32" and n > 2:
        a[1, 2] = np.nan
    for name, x in _views(a).items():
        red = getattr(xp, kind)
        got = np.asarray(red(xp.asarray(x) * 2 - xp.asarray(m), axis=1))
        want = getattr(np, kind)(x * 2 - m, axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == "float32" else 1e-12,
                                   atol=1e-4 if dt == "float32" else 1e-10,
                                   err_msg=f"{kind} over {name} rows of {n}")


def test_softmax_rows_match_numpy():
    x = _data("float32", 8, 700)[:, :700]

    def softmax(ns, x):
        e = ns.exp(x - ns.max(x, axis=1, keepdims=True))
        return e / ns.sum(e, axis=1, keepdims=True)

    got = np.asarray(softmax(xp, xp.asarray(x)))
    np.testing.assert_allclose(got, softmax(np, x), rtol=1e-5, atol=1e-9)


def test_cold_strided_rows_keep_the_floating_point_flags():
    """The strided entry (``la_strided`` at -O1, ``codegen.COLD``, and the prelude's row driver)
    stages reversed rows and transposed operands through buffers for ``la_span``: it must
    still round ``a*b + c`` twice, as NumPy does, not contract it into an FMA (one rounding:
    different last bits)."""
    a, b, c = (rng.standard_normal((64, 67)).astype(np.float32) for _ in range(3))
    for name, (x, y, z) in {"reversed": (a[:, ::-1], b[:, ::-1], c[:, ::-1]),
                            "transposed": (a.T, b.T, c.T)}.items():
        want = x * y + z
        fused = (x.astype(np.float64) * y + z).astype(np.float32)  # what an FMA would give
        assert (fused != want).any()  # the check below can tell the two apart
        got = np.asarray(xp.asarray(x) * xp.asarray(y) + xp.asarray(z))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want, err_msg=name)
