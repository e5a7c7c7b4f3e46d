"""Shared machinery of the conformance suite: the hypothesis strategies namespace (built on
array_api_strict, the reference), conversions between the two libraries, and the comparison
of results (dtype, shape, values with IEEE special values and signed zeros exact)."""

from __future__ import annotations

import math
from collections.abc import Callable

import array_api_strict as S
import numpy as np
from array_api_strict._array_object import Array as StrictArray
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import lazyarr as L

API_VERSION = "2024.12"
S.set_array_api_strict_flags(api_version=API_VERSION)
hh = make_strategies_namespace(S, api_version=API_VERSION)

#: names array_api_strict exports that are its own utilities, not part of the standard
STRICT_ONLY = frozenset({"Device", "set_array_api_strict_flags", "get_array_api_strict_flags",
                         "reset_array_api_strict_flags", "ArrayAPIStrictFlags"})

def _promotable(pair) -> bool:
    try:
        S.result_type(*pair)
    except TypeError:
        return False
    return True


#: pairs of dtypes the standard's promotion table defines
PROMOTABLE = st.tuples(hh.scalar_dtypes(), hh.scalar_dtypes()).filter(_promotable)

SHAPES = hh.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hh.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def to_np(a) -> np.ndarray:
    """A NumPy copy of an array of either library."""
    if isinstance(a, L.Array):
        return np.array(np.asarray(a))
    return np.array(np.from_dlpack(a))


def to_lazy(a) -> L.Array:
    """A lazyarr array with the value of an array_api_strict array (Python values pass)."""
    if isinstance(a, StrictArray):
        return L.asarray(to_np(a))
    if isinstance(a, (list, tuple)):
        return type(a)(to_lazy(x) for x in a)
    return a


def dtype_name(dt) -> str:
    """The standard's name of a dtype of either library."""
    s = str(dt)
    return s.split(".")[-1]


def strict_dtype(dt):
    return getattr(S, dtype_name(dt))


def lazy_dtype(dt):
    return getattr(L, dtype_name(dt))


def run_both(fn_strict: Callable, fn_lazy: Callable):
    """``(strict result, lazyarr result)``; if the reference raises, lazyarr must raise the
    same exception type (TypeError excepted where ``lenient_types``), and ``None, None`` is
    returned."""
    try:
        want = fn_strict()
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        try:
            got = fn_lazy()
            _force(got)
        except type(exc):
            return None, None
        except (ValueError, IndexError, OverflowError):
            if isinstance(exc, TypeError):  # outside the dtypes the standard specifies, and
                return None, None  # invalid in another way too: either error is right
            raise
        except Exception as other:  # noqa: BLE001 - reported below
            raise AssertionError(f"reference raised {type(exc).__name__}: {exc}; lazyarr "
                                 f"raised {type(other).__name__}: {other}") from other
        if isinstance(exc, TypeError):
            # a dtype outside those the standard specifies: lazyarr may follow NumPy
            return None, None
        raise AssertionError(f"reference raised {type(exc).__name__}: {exc}; lazyarr "
                             f"returned a result") from None
    got = fn_lazy()
    return want, got


def _force(r):
    if isinstance(r, L.Array):
        np.asarray(r)
    elif isinstance(r, (tuple, list)):
        for x in r:
            _force(x)


def _tol(dt: np.dtype) -> float:
    return {np.dtype("float32"): 2e-5, np.dtype("complex64"): 2e-5}.get(dt, 1e-11)


def assert_equal(got, want, *, approx: bool = True, where: str = "",
                 signed_zeros: bool = True) -> None:
    """``got`` (lazyarr) agrees with ``want`` (array_api_strict): dtype, shape and values;
    NaN where NaN, infinities and the sign of zeros exact; finite values exact for integer and
    boolean dtypes, within a few ulps for floating ones when ``approx``."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{where}: {got!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_equal(g, w, approx=approx, where=f"{where}[{i}]",
                         signed_zeros=signed_zeros)
        return
    if not isinstance(want, StrictArray):  # a Python value (shape, bool, info...)
        assert got == want, f"{where}: {got!r} != {want!r}"
        return
    assert isinstance(got, L.Array), f"{where}: got {type(got).__name__}"
    assert dtype_name(got.dtype) == dtype_name(want.dtype), \
        f"{where}: dtype {got.dtype} != {dtype_name(want.dtype)}"
    assert tuple(got.shape) == tuple(want.shape), f"{where}: shape {got.shape} != {want.shape}"
    g, w = to_np(got), to_np(want)
    if g.dtype.kind == "c":  # each part within a few ulps of the value's modulus: a part
        # that cancels (x*x - y*y) is as exact as the value, not as its own size
        with np.errstate(over="ignore", invalid="ignore"):
            scale = np.abs(w)
        for part in (np.real, np.imag):
            _assert_float(part(g), part(w), approx, where, signed_zeros, scale)
    elif g.dtype.kind == "f":
        _assert_float(g, w, approx, where, signed_zeros)
    else:
        np.testing.assert_array_equal(g, w, err_msg=where)


def _assert_float(g: np.ndarray, w: np.ndarray, approx: bool, where: str,
                  signed_zeros: bool = True, scale: np.ndarray | None = None) -> None:
    nan_w = np.isnan(w)
    np.testing.assert_array_equal(np.isnan(g), nan_w, err_msg=f"{where}: NaN positions")
    special = np.isinf(w) | (w == 0)
    sel = special & ~nan_w
    np.testing.assert_array_equal(g[sel], w[sel], err_msg=f"{where}: infinities/zeros")
    if signed_zeros:
        np.testing.assert_array_equal(np.signbit(g[w == 0]), np.signbit(w[w == 0]),
                                      err_msg=f"{where}: signed zeros")
    rest = ~(special | nan_w)
    if approx and scale is not None:
        size = np.maximum(np.abs(w[rest]), np.where(np.isfinite(scale[rest]), scale[rest], 0))
        far = np.abs(g[rest].astype(np.float64) - w[rest]) > _tol(g.dtype) * size
        assert not far.any(), (f"{where}: {g[rest][far]} (got) != {w[rest][far]} (want), "
                               f"beyond {_tol(g.dtype)} of the moduli {size[far]}")
    elif approx:
        np.testing.assert_allclose(g[rest], w[rest], rtol=_tol(g.dtype), atol=0,
                                   err_msg=where)
    else:
        np.testing.assert_array_equal(g[rest], w[rest], err_msg=where)


def assume_finite_ints(*arrays) -> None:
    """Skip examples where integer arithmetic might overflow (the standard leaves it open)."""
    for a in arrays:
        if isinstance(a, StrictArray) and S.isdtype(a.dtype, "integral") and a.size:
            v = to_np(a)
            assume(np.all(np.abs(v.astype(np.float64)) < 2 ** 15))


def is_nan_like(x) -> bool:
    return isinstance(x, float) and math.isnan(x)
