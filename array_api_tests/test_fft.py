"""The fft extension against array_api_strict on hypothesis inputs: every transform with its
n/s/axes/norm options, the frequency helpers and the shifts; dtypes (precision kept) and
shapes exact, values within a few ulps of the transform size."""

from __future__ import annotations

import array_api_strict as S
import numpy as np
import pytest
from _support import run_both, to_lazy, to_np
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as L

ELEMS = {"min_value": -8, "max_value": 8, "allow_nan": False, "allow_infinity": False}
SHAPES = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)
ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fftn", "ifftn", "rfftn", "irfftn"]
REAL_IN = {"rfft", "ihfft", "rfftn"}


def _input(data, name):
    from _support import hh

    dt = data.draw(st.sampled_from([S.float32, S.float64] if name in REAL_IN else
                                   [S.complex64, S.complex128]), label="dtype")
    shape = data.draw(SHAPES, label="shape")
    if name in ("irfft", "hfft", "irfftn"):
        shape = shape[:-1] + (max(shape[-1], 2),)
    return data.draw(hh.arrays(dt, shape, elements=ELEMS), label="x")


def _check(got, want):
    assert got.dtype == to_np(want).dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    w = to_np(want)
    tol = 1e-3 if w.dtype in (np.float32, np.complex64) else 1e-9
    np.testing.assert_allclose(to_np(got), w, rtol=tol, atol=tol * max(1.0, np.abs(w).max(
        initial=0)))


@pytest.mark.parametrize("name", ONE_D)
@given(data=st.data())
def test_one_dimensional(name, data):
    x = _input(data, name)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    n = data.draw(st.none() | st.integers(2, 7), label="n")
    norm = data.draw(st.sampled_from(["backward", "ortho", "forward"]), label="norm")
    want, got = run_both(lambda: getattr(S.fft, name)(x, n=n, axis=axis, norm=norm),
                         lambda: getattr(L.fft, name)(to_lazy(x), n=n, axis=axis, norm=norm))
    if want is not None:
        _check(got, want)


@pytest.mark.parametrize("name", N_D)
@given(data=st.data())
def test_n_dimensional(name, data):
    x = _input(data, name)
    k = data.draw(st.integers(1, x.ndim), label="number of axes")
    axes = data.draw(st.permutations(range(x.ndim)), label="axes")[:k]
    axes = data.draw(st.none() | st.just(tuple(axes)), label="axes or None")
    s = None
    if axes is not None and data.draw(st.booleans(), label="with s"):
        s = tuple(data.draw(st.integers(2, 6), label="size") for _ in axes)
    norm = data.draw(st.sampled_from(["backward", "ortho", "forward"]), label="norm")
    want, got = run_both(lambda: getattr(S.fft, name)(x, s=s, axes=axes, norm=norm),
                         lambda: getattr(L.fft, name)(to_lazy(x), s=s, axes=axes, norm=norm))
    if want is not None:
        _check(got, want)


@given(n=st.integers(1, 12), d=st.floats(0.1, 10), dt=st.sampled_from(["float32", "float64"]))
def test_frequencies(n, d, dt):
    for name in ("fftfreq", "rfftfreq"):
        want = getattr(S.fft, name)(n, d=d, dtype=getattr(S, dt))
        got = getattr(L.fft, name)(n, d=d, dtype=getattr(L, dt))
        _check(got, want)
    _check(L.fft.fftfreq(n), S.fft.fftfreq(n))


@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@given(data=st.data())
def test_shifts(name, data):
    from _support import hh

    x = data.draw(hh.arrays(hh.scalar_dtypes(), SHAPES), label="x")
    axes = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1) |
                     st.permutations(range(x.ndim)).map(tuple), label="axes")
    want, got = run_both(lambda: getattr(S.fft, name)(x, axes=axes),
                         lambda: getattr(L.fft, name)(to_lazy(x), axes=axes))
    if want is None:  # a dtype the reference does not take (integers, bool): NumPy's shift,
        # which keeps the dtype exactly (a float64 round trip loses large int64 values)
        got = getattr(L.fft, name)(to_lazy(x), axes=axes)
        want = getattr(np.fft, name)(to_np(x), axes=axes)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(to_np(got), want)
        return
    assert got.dtype == to_np(want).dtype and got.shape == want.shape
    np.testing.assert_array_equal(to_np(got), to_np(want))


def test_dtype_errors():
    with pytest.raises(TypeError):
        L.fft.fft(L.ones(4, dtype=L.float64))
    with pytest.raises(TypeError):
        L.fft.rfft(L.ones(4, dtype=L.complex128))


def test_lengths_of_any_integer_type():
    """``n`` may be a NumPy integer (it was refused, NumPy takes it); a float or a bool is a
    TypeError, zero a ValueError."""
    x = np.arange(6.0) + 0j
    got = L.fft.fft(L.asarray(x), n=np.int64(4))
    np.testing.assert_allclose(np.asarray(got), np.fft.fft(x, n=4))
    np.testing.assert_allclose(np.asarray(L.fft.rfftfreq(np.int32(5))), np.fft.rfftfreq(5))
    got = L.fft.fft(L.asarray(x), n=np.array(4))  # a 0-d integer array, as NumPy takes
    np.testing.assert_allclose(np.asarray(got), np.fft.fft(x, n=4))
    for minus_one in (-1, np.int64(-1)):  # -1 in s: the input's size
        s = L.fft.fftn(L.asarray(x.reshape(2, 3)), s=(minus_one, 4))
        np.testing.assert_allclose(np.asarray(s), np.fft.fftn(x.reshape(2, 3), s=(2, 4)))
    with pytest.raises(ValueError, match="an entry of s"):
        L.fft.fftn(L.asarray(x.reshape(2, 3)), s=(-2, 4))
    for bad, exc in ((4.0, TypeError), (True, TypeError), (0, ValueError), (-1, ValueError),
                     (-1.0, TypeError)):
        with pytest.raises(exc):
            L.fft.fft(L.asarray(x), n=bad)
        with pytest.raises(exc):
            L.fft.fftfreq(bad)
