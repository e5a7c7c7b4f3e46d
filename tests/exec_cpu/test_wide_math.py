"""Loops calling vector math take 512-bit vectors on AMD cores with AVX-512 (`LA_MATH_LOOP`,
`ccache.wide_math`): libmvec's 16-lane variants ran float32 tanh 2.6x faster there. The
attribute marks exactly the loops that call vector math on real floats; on such a machine
the built kernels call the 16-lane variants, and every length (16-lane body, 8-lane
epilogue, scalar tail) gives NumPy's values."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.composite import Composite
from lazyarr.exec_cpu import ccache
from lazyarr.exec_cpu.codegen import Kernel, ReduceKernel

F4, F8, C8 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex64)


def _unary(name: str, dt: np.dtype) -> Composite:
    return Composite((dt,), ((name, (0,), dt, None),), (1,))


def _line(src: str, fn: str) -> str:
    return next(line for line in src.splitlines() if f"void {fn}(" in line)


def test_only_loops_calling_vector_math_are_marked():
    for name in ("tanh", "exp", "log1p", "sin"):
        for dt in (F4, F8):
            assert "LA_MATH_LOOP" in _line(Kernel(_unary(name, dt), (False,)).template(),
                                           "la_span__LA_K")
    plain = Kernel(_unary("negative", F4), (False,)).template()
    assert "LA_MATH_LOOP" not in plain
    # complex exp calls cexp: no vector variant
    assert "LA_MATH_LOOP" not in Kernel(_unary("exp", C8), (False,)).template()
    two = Composite((F4, F4), (("atan2", (0, 1), F4, None),), (2,))
    assert "LA_MATH_LOOP" in Kernel(two, (False, False)).template()
    red = ReduceKernel(_unary("tanh", F4), "sum", F4).template()
    assert "LA_MATH_LOOP" in _line(red, "la_rrow__LA_K")
    assert "LA_MATH_LOOP" not in ReduceKernel(_unary("square", F4), "sum", F4).template()


def test_the_flag_follows_the_machine():
    assert ("-DLA_WIDE_MATH" in ccache.FLAGS) == ccache.wide_math()


@pytest.mark.skipif(not (ccache.available() and ccache.have_mvec() and ccache.wide_math()),
                    reason="needs a C compiler, libmvec and an AMD core with AVX-512")
@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils' nm")
def test_kernels_call_the_16_lane_variants():
    for dt, symbol in ((F4, "_ZGVeN16v_tanhf"), (F8, "_ZGVeN8v_tanh")):
        lib = ccache.load(Kernel(_unary("tanh", dt), (False,)).source(True))
        undefined = subprocess.run(["nm", "-D", "--undefined-only", lib._name],
                                   capture_output=True, text=True, check=True).stdout
        assert symbol in undefined


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_length_matches_numpy(dtype):
    # 16-lane body, 8-lane epilogue and scalar tail: each length 1..40 and a long one
    rng = np.random.default_rng(3)

    def f(m, x, y):
        return (m.tanh(x) + m.exp(-x * x) * m.sin(y) + m.log1p(m.abs(y))
                + m.atan2(x, y) + m.logaddexp(x, y))

    rtol = 2e-6 if dtype == "float32" else 1e-14
    for n in [*range(1, 41), 1000]:
        x = rng.standard_normal(n).astype(dtype)
        y = rng.standard_normal(n).astype(dtype)
        got = np.asarray(f(xp, xp.asarray(x), xp.asarray(y)))
        want = f(np, x, y)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 4, err_msg=f"n={n}")
        got_sum = float(xp.sum(xp.tanh(xp.asarray(x)) * xp.asarray(y)))
        np.testing.assert_allclose(got_sum, float(np.sum(np.tanh(x) * y, dtype=np.float64)),
                                   rtol=rtol * 10, atol=rtol * n)
