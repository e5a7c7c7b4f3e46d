"""Constants through the whole pipeline (rewrites, fusion, kernels): a program must not take
another program's constant because the two compare equal (``0.0 == -0.0``)."""

from __future__ import annotations

import numpy as np

import lazyarr as xp


def test_signed_zero_constants_are_not_shared_between_programs():
    x = xp.asarray(np.array([1.0, 2.0]))
    assert np.all(np.asarray(xp.exp(x) / -0.0) == -np.inf)
    assert np.all(np.asarray(xp.exp(x) / 0.0) == np.inf)


def test_signed_zero_constants_without_fusion():
    with xp.rewrites.options(exclude=["fusion"]):
        x = xp.asarray(np.array([1.0, 2.0]))
        assert np.all(np.asarray(xp.exp(x) / -0.0) == -np.inf)
        assert np.all(np.asarray(xp.exp(x) / 0.0) == np.inf)


def test_ops_with_number_params_keep_signed_zeros_apart():
    """Op interning keys such ops by the repr of their params too (0.0 == -0.0 in Python):
    arange(-0.0, ...) then arange(0.0, ...) must not share one op."""
    for start in (-0.0, 0.0, -0.0):
        got = np.asarray(xp.arange(start, 1.0, 0.5))
        assert np.signbit(got[0]) == np.signbit(np.arange(start, 1.0, 0.5)[0])
