"""Shared strategies and checks for the array tests (NumPy is the oracle).

Not a test module: imported by the ``test_*.py`` files beside it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

BOOL = [np.dtype(np.bool_)]
INTS = [np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64)]
UINTS = [np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64)]
FLOATS = [np.dtype(np.float32), np.dtype(np.float64)]
COMPLEX = [np.dtype(np.complex64), np.dtype(np.complex128)]
ALL = BOOL + INTS + UINTS + FLOATS + COMPLEX
NUMERIC = INTS + UINTS + FLOATS + COMPLEX
REAL = INTS + UINTS + FLOATS


def rtol_for(dt: np.dtype) -> float:
    """Relative tolerance for results of dtype ``dt`` (0 for exact integer and bool results)."""
    if dt in (np.float32, np.complex64):
        return 2e-5
    if dt in (np.float64, np.complex128):
        return 1e-12
    return 0.0


def elements(dt: np.dtype, finite: bool = False, small: bool = False):
    """Element strategy for ``dt``: floats include NaN and +-inf unless ``finite``; complex
    values stay finite and moderate (special complex cases belong to the conformance suite)."""
    dt = np.dtype(dt)
    if dt.kind == "c":
        w = 32 if dt == np.complex64 else 64
        part = st.floats(-20, 20, width=w)
        return st.builds(complex, part, part)
    if dt.kind == "f":
        if small:
            return st.floats(-100, 100, width=8 * dt.itemsize)
        return st.floats(allow_nan=not finite, allow_infinity=not finite,
                         width=8 * dt.itemsize)
    if dt.kind in "iu" and small:
        info = np.iinfo(dt)
        return st.integers(max(info.min, -100), min(info.max, 100))
    return hnp.from_dtype(dt)


def arrays(dt, shape, **kw):
    """A NumPy array strategy of dtype ``dt`` and ``shape`` (see `elements` for ``kw``)."""
    return hnp.arrays(np.dtype(dt), shape, elements=elements(dt, **kw))


def check(result, expected, dtype=None, rtol=None, atol=0.0) -> None:
    """``result`` (a lazyarr Array) equals NumPy's ``expected`` in shape, declared dtype,
    materialized dtype and values (NaN equal to NaN)."""
    expected = np.asarray(expected)
    dt = np.dtype(dtype) if dtype is not None else expected.dtype
    assert isinstance(result, xp.Array), type(result)
    assert result.dtype == dt, (result.dtype, dt)
    assert result.shape == expected.shape, (result.shape, expected.shape)
    got = np.asarray(result)
    assert got.dtype == dt, ("materialized dtype", got.dtype, "declared", dt)
    assert got.shape == expected.shape
    if rtol is None:
        rtol = rtol_for(dt)
    if dt.kind in "fc":
        np.testing.assert_allclose(got, expected.astype(dt), rtol=rtol, atol=atol,
                                   equal_nan=True, strict=False)
    else:
        np.testing.assert_array_equal(got, expected.astype(dt), strict=False)
