"""Derivative rules of the fft extension (see ``test_rules_ext``): every transform, norm and
crop/padding size, jvp vs finite differences and vjp vs jvp."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp

from .test_rules_ext import FEW, batches, check_rule, rand, seeds

# -- fft -----------------------------------------------------------------------------------------

NORMS = ["backward", "ortho", "forward"]


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("norm", NORMS)
@FEW
@given(length=st.integers(1, 6), n=st.sampled_from([None, 1, 3, 8]), batch=batches,
       seed=seeds)
def test_fft_one_axis(name, norm, length, n, batch, seed):
    complex_in = name in ("fft", "ifft", "irfft", "hfft")
    if name in ("irfft", "hfft") and n is None and length < 2:
        length = 2
    x = rand(np.random.default_rng(seed), (length,) + batch,
              np.complex128 if complex_in else np.float64)
    fn = getattr(xp.fft, name)
    check_rule(lambda v: fn(v, n=n, axis=0, norm=norm), x, seed=seed)


@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn"])
@pytest.mark.parametrize("norm", NORMS)
@FEW
@given(shape=st.sampled_from([(3, 4), (2, 3, 5), (4, 2)]),
       s=st.sampled_from([None, (3, 4), (2, 6)]), seed=seeds)
def test_fft_many_axes(name, norm, shape, s, seed):
    complex_in = name in ("fftn", "ifftn", "irfftn")
    x = rand(np.random.default_rng(seed), shape, np.complex128 if complex_in else np.float64)
    axes = None if s is None else (-2, -1)
    fn = getattr(xp.fft, name)
    check_rule(lambda v: fn(v, s=s, axes=axes, norm=norm), x, seed=seed)


def test_fft_first_axes_and_single_precision():
    x = rand(np.random.default_rng(0), (4, 3, 2), np.float32)
    g = check_rule(lambda v: xp.fft.rfftn(v, axes=(1, 0)), x, fd=False)
    assert g[0].dtype == np.float32
    check_rule(lambda v: xp.fft.rfftn(v, axes=(1, 0)), x.astype(np.float64))


@pytest.mark.parametrize("inverse", [False, True])
def test_fftshift(inverse):
    x = rand(np.random.default_rng(0), (5, 4), np.complex128)
    fn = xp.fft.ifftshift if inverse else xp.fft.fftshift
    check_rule(fn, x)
    check_rule(lambda v: fn(v, axes=0), x)
