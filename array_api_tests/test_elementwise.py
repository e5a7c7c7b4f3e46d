"""Elementwise functions on hypothesis-generated arrays (IEEE special values, signed zeros,
complex values included) and Python scalars, against array_api_strict: values, dtypes, shapes,
broadcasting and exceptions; plus fixed grids of special values for every function."""

from __future__ import annotations

import itertools

import array_api_strict as S
import mpmath
import numpy as np
import pytest
from _support import (
    NONEMPTY,
    PROMOTABLE,
    SHAPES,
    assert_equal,
    assume_finite_ints,
    hh,
    run_both,
    to_lazy,
    to_np,
)
from hypothesis import assume, given
from hypothesis import strategies as st

import lazyarr as L

UNARY = ["abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "bitwise_invert", "ceil",
         "conj", "cos", "cosh", "exp", "expm1", "floor", "imag", "isfinite", "isinf", "isnan",
         "log", "log1p", "log2", "log10", "logical_not", "negative", "positive", "real",
         "reciprocal", "round", "sign", "signbit", "sin", "sinh", "square", "sqrt", "tan",
         "tanh", "trunc"]
BINARY = ["add", "atan2", "bitwise_and", "bitwise_left_shift", "bitwise_or",
          "bitwise_right_shift", "bitwise_xor", "copysign", "divide", "equal", "floor_divide",
          "greater", "greater_equal", "hypot", "less", "less_equal", "logaddexp", "logical_and",
          "logical_or", "logical_xor", "maximum", "minimum", "multiply", "nextafter",
          "not_equal", "pow", "remainder", "subtract"]
EXACT = {"bitwise_invert", "ceil", "conj", "floor", "imag", "isfinite", "isinf", "isnan",
         "logical_not", "negative", "positive", "real", "round", "sign", "signbit", "square",
         "trunc", "add", "bitwise_and", "bitwise_left_shift", "bitwise_or", "bitwise_right_shift",
         "bitwise_xor", "copysign", "equal", "greater", "greater_equal", "less", "less_equal",
         "logical_and", "logical_or", "logical_xor", "maximum", "minimum", "multiply",
         "nextafter", "not_equal", "subtract", "floor_divide", "remainder"}
COMPLEX = (S.complex64, S.complex128)
REAL_ONLY = {"atan2", "bitwise_left_shift", "bitwise_right_shift", "copysign", "floor_divide",
             "greater", "greater_equal", "hypot", "less", "less_equal", "logaddexp", "maximum",
             "minimum", "nextafter", "remainder"}
OPERATORS = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__",
             "divide": "__truediv__", "floor_divide": "__floordiv__", "remainder": "__mod__",
             "pow": "__pow__", "bitwise_and": "__and__", "bitwise_or": "__or__",
             "bitwise_xor": "__xor__", "bitwise_left_shift": "__lshift__",
             "bitwise_right_shift": "__rshift__", "equal": "__eq__", "not_equal": "__ne__",
             "less": "__lt__", "less_equal": "__le__", "greater": "__gt__",
             "greater_equal": "__ge__"}


def _np(x):
    return np.asarray(np.from_dlpack(x)) if not isinstance(x, (bool, int, float, complex)) \
        else np.asarray(x)


def _int_input_ok(name, x1, x2):
    """Inputs whose results the standard leaves open are not compared: integer division by
    zero, negative or too large integer powers and shifts."""
    v1, v2 = _np(x1), _np(x2)
    if v1.dtype.kind == "c" or v2.dtype.kind == "c":
        assume(name not in REAL_ONLY)  # complex operands: outside the function's domain
        if name == "pow":  # complex 0 ** y: exp(y * log(0)) leaves the NaN/inf parts open
            assume(not np.any(v1 == 0))
        return
    if name in ("bitwise_left_shift", "bitwise_right_shift"):
        bits = 8 * (v1.dtype.itemsize if v1.dtype.kind in "iu" else 8)
        assume(not np.any((v2 < 0) | (v2 >= bits)))
    if v1.dtype.kind not in "iu" or v2.dtype.kind not in "iu":
        return
    if name in ("floor_divide", "remainder"):
        assume(not np.any(v2 == 0))
        assume(not np.any((v1.astype(np.float64) == -2.0 ** (8 * v1.dtype.itemsize - 1))
                          & (v2 == -1)))
    if name == "pow":
        assume(not np.any(v2 < 0))
        assume(not np.any(v2 > 8))


#: complex results computed with more than one rounding (products, moduli): within ulps, and
#: the sign of a zero part may differ by the order of operations (the standard leaves it open)
COMPLEX_ROUNDED = {"abs", "multiply", "square", "pow", "reciprocal", "divide", "sign"}


def _compare(name, got, want):
    cplx = S.isdtype(want.dtype, "complex floating") if hasattr(want, "dtype") else False
    rounded = cplx and name in COMPLEX_ROUNDED
    assert_equal(got, want, approx=name not in EXACT or rounded, where=name,
                 signed_zeros=not rounded)


def test_every_elementwise_name_is_covered():
    covered = set(UNARY) | set(BINARY) | {"clip", "where"}
    strict_elementwise = {n for n in S.__all__ if n in covered}
    assert strict_elementwise == covered
    for n in covered:
        assert callable(getattr(L, n)), n


#: where the standard's special cases and NumPy (so array_api_strict) disagree: the inputs
#: ``z``, checked against the standard by ``check(z, got)`` instead (signs it leaves open are
#: not compared)
def _expm1_standard(z, got):
    a, b = z.real, z.imag
    if a == -np.inf:  # -1 + 0 cis(b); for b not finite, the sign of the zero is open
        assert got.real == -1 and got.imag == 0, (z, got)
        if np.isfinite(b):
            assert np.signbit(got.imag) == np.signbit(np.sin(b)), (z, got)
    elif b == 0:  # expm1(a) + 0j (+inf + 0j, NaN + 0j, an overflow; conjugates too)
        want = np.expm1(np.asarray(a, dtype=got.real.dtype))
        np.testing.assert_allclose(got.real, want, rtol=4 * np.finfo(want.dtype).eps)
        assert got.imag == 0 and np.signbit(got.imag) == np.signbit(b), (z, got)
    else:  # a = +inf, b not finite: +-inf + NaN j
        assert np.isinf(got.real) and np.isnan(got.imag), (z, got)


def _sign_standard(z, got):
    """z / |z| part by part (NumPy's complex division by |z| rounds a zero part to +0, and
    overflows or underflows for huge and subnormal z); 0 + 0j at 0."""
    if z == 0:
        assert got == 0 and not np.signbit(got.real) and not np.signbit(got.imag), (z, got)
        return
    wide = np.clongdouble(z)
    want = wide / np.abs(wide)
    rtol = 4 * np.finfo(got.real.dtype).eps
    for g, w, part in ((got.real, want.real, z.real), (got.imag, want.imag, z.imag)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=str(z))
        if part == 0:
            assert np.signbit(g) == np.signbit(part), (z, got)


def _log1p_standard(z, got):
    """log1p to within a few ulps (NumPy's complex log1p is log(1 + z): no digit left of the
    real part of a small z), against mpmath."""
    with mpmath.workdps(40):
        want = complex(mpmath.log1p(mpmath.mpc(complex(z))))
    rtol = 4 * np.finfo(got.real.dtype).eps
    np.testing.assert_allclose(got.real, want.real, rtol=rtol, atol=0, err_msg=str(z))
    np.testing.assert_allclose(got.imag, want.imag, rtol=rtol, atol=0, err_msg=str(z))


def _tiny_or_huge(z):
    m = max(abs(z.real), abs(z.imag))
    return m < 4 * np.finfo(z.real.dtype).tiny or m > np.finfo(z.real.dtype).max / 4


STANDARD_OVER_NUMPY = {
    "expm1": (lambda z: (z.real == -np.inf or z.real == np.inf and not np.isfinite(z.imag)
                         or z.imag == 0), _expm1_standard),
    "sign": (lambda z: np.isfinite(z) and (z.real == 0 or z.imag == 0 or _tiny_or_huge(z)),
             _sign_standard),
    "log1p": (lambda z: abs(z.real) < 0.5 and abs(z.imag) < 0.5, _log1p_standard),
}


def _standard_first(name: str, values: np.ndarray) -> np.ndarray:
    """The complex ``values`` where NumPy and the standard agree for ``name``; the others
    are checked against the standard here (`STANDARD_OVER_NUMPY`)."""
    values = np.asarray(values).ravel()
    if name not in STANDARD_OVER_NUMPY or values.dtype.kind != "c":
        return values
    differs, check = STANDARD_OVER_NUMPY[name]
    mask = np.array([bool(differs(z)) for z in values], dtype=bool)
    if mask.any():
        got = np.asarray(getattr(L, name)(L.asarray(values[mask])))
        for z, g in zip(values[mask], got):
            check(z, g)
    return values[~mask]


@pytest.mark.parametrize("name", UNARY)
@given(x=hh.arrays(hh.scalar_dtypes(), SHAPES))
def test_unary(name, x):
    assume_finite_ints(x) if name in ("abs", "negative", "square") else None
    if name in STANDARD_OVER_NUMPY and to_np(x).dtype.kind == "c":
        x = S.asarray(_standard_first(name, to_np(x)))
    want, got = run_both(lambda: getattr(S, name)(x), lambda: getattr(L, name)(to_lazy(x)))
    if want is not None:
        _compare(name, got, want)


SHIFTS = ("bitwise_left_shift", "bitwise_right_shift")


@pytest.mark.parametrize("name", SHIFTS)
@given(data=st.data())
def test_shifts(name, data):
    dt1, dt2 = data.draw(PROMOTABLE.filter(lambda p: all(S.isdtype(d, "integral") for d in p)),
                         label="dtypes")
    s1, s2 = data.draw(hh.mutually_broadcastable_shapes(2, max_dims=3, max_side=4)).input_shapes
    x1 = data.draw(hh.arrays(dt1, s1), label="x1")
    bits = 8 * min(S.iinfo(dt1).bits, S.iinfo(dt2).bits) // 8
    x2 = data.draw(hh.arrays(dt2, s2, elements={"min_value": 0, "max_value": bits - 1}),
                   label="x2")
    want, got = run_both(lambda: getattr(S, name)(x1, x2),
                         lambda: getattr(L, name)(to_lazy(x1), to_lazy(x2)))
    if want is not None:
        assert_equal(got, want, approx=False, where=name)


@pytest.mark.parametrize("name", [n for n in BINARY if n not in SHIFTS])
@given(data=st.data())
def test_binary(name, data):
    dt1, dt2 = data.draw(PROMOTABLE, label="dtypes")
    s1, s2 = data.draw(hh.mutually_broadcastable_shapes(2, max_dims=3, max_side=4)).input_shapes
    x1 = data.draw(hh.arrays(dt1, s1), label="x1")
    x2 = data.draw(hh.arrays(dt2, s2), label="x2")
    _int_input_ok(name, x1, x2)
    if name in ("add", "subtract", "multiply", "pow"):
        assume_finite_ints(x1, x2)
    want, got = run_both(lambda: getattr(S, name)(x1, x2),
                         lambda: getattr(L, name)(to_lazy(x1), to_lazy(x2)))
    if want is not None:
        _compare(name, got, want)
    if want is not None and name in OPERATORS:
        op = OPERATORS[name]
        _compare(name, getattr(to_lazy(x1), op)(to_lazy(x2)), want)


def _scalar_for(dtype, kind):
    if kind is bool:
        return st.booleans()
    if kind is int:
        if S.isdtype(dtype, "integral"):
            info = S.iinfo(dtype)
            return st.integers(max(info.min, -100), min(info.max, 100))
        return st.integers(-100, 100)
    if kind is float:
        return st.floats(width=32) if dtype in (S.float32, S.complex64) else st.floats()
    return st.complex_numbers(width=64 if dtype == S.complex64 else 128)


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_with_python_scalar(name, data):
    dt = data.draw(hh.scalar_dtypes(), label="dtype")
    kind = data.draw(st.sampled_from([bool, int, float, complex]), label="scalar kind")
    x = data.draw(hh.arrays(dt, SHAPES), label="x")
    s = data.draw(_scalar_for(dt, kind), label="scalar")
    reverse = data.draw(st.booleans(), label="scalar first")
    _int_input_ok(name, *((s, x) if reverse else (x, s)))
    if name in ("add", "subtract", "multiply"):
        assume_finite_ints(x)
    args_s = (s, x) if reverse else (x, s)
    args_l = (s, to_lazy(x)) if reverse else (to_lazy(x), s)
    want, got = run_both(lambda: getattr(S, name)(*args_s), lambda: getattr(L, name)(*args_l))
    if want is not None:
        _compare(name, got, want)


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-310, np.inf, -np.inf, np.nan,
           np.pi, 1e300, -1e300, 3.5, -2.5]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [n for n in UNARY if n not in (
    "bitwise_invert", "logical_not")])
def test_unary_special_values(name, dtype):
    x = S.asarray(SPECIAL, dtype=getattr(S, dtype))
    want, got = run_both(lambda: getattr(S, name)(x), lambda: getattr(L, name)(to_lazy(x)))
    if want is not None:
        assert_equal(got, want, approx=name not in EXACT, where=name)


@pytest.mark.parametrize("name", [n for n in BINARY if not n.startswith(("bitwise", "logical"))])
def test_binary_special_values(name):
    pairs = list(itertools.product(SPECIAL, repeat=2))
    x1 = S.asarray([p[0] for p in pairs], dtype=S.float64)
    x2 = S.asarray([p[1] for p in pairs], dtype=S.float64)
    want, got = run_both(lambda: getattr(S, name)(x1, x2),
                         lambda: getattr(L, name)(to_lazy(x1), to_lazy(x2)))
    if want is not None:
        assert_equal(got, want, approx=name not in EXACT, where=name)


CSPECIAL = [complex(a, b) for a in (0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan)
            for b in (0.0, -0.0, 2.0, -0.5, np.inf, -np.inf, np.nan)]
COMPLEX_FNS = ["abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "conj", "cos", "cosh",
               "exp", "expm1", "imag", "isfinite", "isinf", "isnan", "log", "log1p", "log2",
               "log10", "negative", "positive", "real", "reciprocal", "round", "sign", "sin",
               "sinh", "sqrt", "square", "tan", "tanh"]


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("name", COMPLEX_FNS)
def test_complex_special_values(name, dtype):
    values = _standard_first(name, np.array(CSPECIAL, dtype=dtype))
    x = S.asarray(values, dtype=getattr(S, dtype))
    want, got = run_both(lambda: getattr(S, name)(x), lambda: getattr(L, name)(to_lazy(x)))
    if want is not None:
        approx = name not in EXACT or name in COMPLEX_ROUNDED
        assert_equal(got, want, approx=approx, where=name)


@given(data=st.data())
def test_clip(data):
    dt = data.draw(hh.real_dtypes(), label="dtype")
    x = data.draw(hh.arrays(dt, NONEMPTY), label="x")
    lo = data.draw(st.none() | hh.arrays(dt, (), elements={"allow_nan": False}), label="min")
    hi = data.draw(st.none() | hh.arrays(dt, (), elements={"allow_nan": False}), label="max")
    if lo is not None and hi is not None:
        assume(bool(lo <= hi))
    want, got = run_both(lambda: S.clip(x, lo, hi), lambda: L.clip(to_lazy(x), to_lazy(lo),
                                                                    to_lazy(hi)))
    if want is not None:
        assert_equal(got, want, approx=False, where="clip")


@given(data=st.data())
def test_where(data):
    dt1, dt2 = data.draw(PROMOTABLE, label="dtypes")
    sc, s1, s2 = data.draw(hh.mutually_broadcastable_shapes(3, max_dims=3,
                                                             max_side=4)).input_shapes
    c = data.draw(hh.arrays(S.bool, sc), label="cond")
    x1 = data.draw(hh.arrays(dt1, s1), label="x1")
    x2 = data.draw(hh.arrays(dt2, s2), label="x2")
    want, got = run_both(lambda: S.where(c, x1, x2),
                         lambda: L.where(to_lazy(c), to_lazy(x1), to_lazy(x2)))
    if want is not None:
        assert_equal(got, want, approx=False, where="where")


@given(data=st.data())
def test_broadcast_error_is_value_error(data):
    x1 = L.ones((2, 3))
    with pytest.raises(ValueError):
        L.add(x1, L.ones((4,)))
    with pytest.raises(ValueError):
        S.add(S.ones((2, 3)), S.ones((4,)))


def test_complex_divided_by_real_zero():
    x1 = S.asarray([1j, 1 + 1j, -2.0 + 0j], dtype=S.complex128)
    x2 = S.asarray([0.0, -0.0, 0.0], dtype=S.float64)
    assert_equal(L.divide(to_lazy(x1), to_lazy(x2)), S.divide(x1, x2), where="divide")
