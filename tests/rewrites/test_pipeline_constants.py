"""Constants through the whole pipeline (rewrites, fusion, kernels): a program must not take
another program's constant because the two compare equal (``0.0 == -0.0``)."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp


@pytest.mark.xfail(strict=True, reason="fusion bakes constants as Composite 'const' steps "
                   "whose Python value is part of the interned op's params: 0.0 and -0.0 "
                   "(equal, same hash) share one Composite, so x/0.0 after x/-0.0 gives -inf "
                   "(rewrites/fusion.py, owned by rewrites-fusion)")
def test_signed_zero_constants_are_not_shared_between_programs():
    x = xp.asarray(np.array([1.0, 2.0]))
    assert np.all(np.asarray(xp.exp(x) / -0.0) == -np.inf)
    assert np.all(np.asarray(xp.exp(x) / 0.0) == np.inf)


def test_signed_zero_constants_without_fusion():
    with xp.rewrites.options(exclude=["fusion"]):
        x = xp.asarray(np.array([1.0, 2.0]))
        assert np.all(np.asarray(xp.exp(x) / -0.0) == -np.inf)
        assert np.all(np.asarray(xp.exp(x) / 0.0) == np.inf)
