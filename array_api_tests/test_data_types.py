"""Type promotion (the standard's table for every pair of dtypes, Python scalars included),
astype with its copy= semantics, can_cast, result_type, isdtype, finfo and iinfo against
array_api_strict."""

from __future__ import annotations

import itertools

import array_api_strict as S
import numpy as np
import pytest
from _support import SHAPES, assert_equal, dtype_name, hh, lazy_dtype, run_both, to_lazy
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as L

NAMES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
         "float32", "float64", "complex64", "complex128"]
PAIRS = list(itertools.product(NAMES, repeat=2))
OPS = ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__and__", "__eq__",
       "__lt__", "__floordiv__"]


def _promotes(a, b):
    try:
        return dtype_name(S.result_type(getattr(S, a), getattr(S, b)))
    except TypeError:
        return None


@pytest.mark.parametrize("a,b", PAIRS)
def test_promotion_table(a, b):
    want = _promotes(a, b)
    if want is None:  # outside the standard's table (mixed kinds): lazyarr follows NumPy
        return
    assert dtype_name(L.result_type(getattr(L, a), getattr(L, b))) == want
    x1, x2 = L.ones(2, dtype=getattr(L, a)), L.zeros((3, 1), dtype=getattr(L, b))
    s1, s2 = S.ones(2, dtype=getattr(S, a)), S.zeros((3, 1), dtype=getattr(S, b))
    for op in OPS:
        want_r, got = run_both(lambda op=op: getattr(s1, op)(s2),
                               lambda op=op: getattr(x1, op)(x2))
        if want_r is not None:
            assert dtype_name(got.dtype) == dtype_name(want_r.dtype), op
            assert got.shape == want_r.shape


SCALARS = [True, 3, -2, 2.5, -0.0, float("inf"), 1 + 2j]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
def test_python_scalar_promotion(name, scalar):
    s = S.asarray([1, 0, 2], dtype=getattr(S, name)) if name != "bool" else S.asarray(
        [True, False, True])
    x = to_lazy(s)
    for op in ("__add__", "__radd__", "__mul__", "__rmul__", "__truediv__", "__eq__",
               "__ne__", "__lt__", "__ge__", "__sub__", "__rsub__"):
        if isinstance(scalar, complex) and op in ("__lt__", "__ge__"):
            continue  # complex numbers have no order
        if (op in ("__eq__", "__ne__", "__lt__", "__ge__") and type(scalar) is int
                and name[0] in "iu" and not np.iinfo(name).min <= scalar <= np.iinfo(name).max):
            # the standard leaves an out-of-range Python int undefined; array_api_strict
            # raises, lazyarr compares exactly, as NumPy 2 does
            got = getattr(x, op)(scalar)
            want = getattr(np.asarray(s), op)(scalar)
            assert got.dtype == L.bool and tuple(got.shape) == want.shape
            np.testing.assert_array_equal(np.asarray(got), want, err_msg=f"{name}.{op}")
            continue
        want, got = run_both(lambda op=op: getattr(s, op)(scalar),
                             lambda op=op: getattr(x, op)(scalar))
        if want is not None and want is not NotImplemented:
            assert_equal(got, want, where=f"{name}.{op}({scalar!r})")


@pytest.mark.parametrize("a,b", PAIRS)
def test_can_cast(a, b):
    want = S.can_cast(getattr(S, a), getattr(S, b))
    assert L.can_cast(getattr(L, a), getattr(L, b)) == want


@given(data=st.data())
def test_astype(data):
    x = data.draw(hh.arrays(hh.scalar_dtypes(), SHAPES), label="x")
    to = data.draw(hh.scalar_dtypes(), label="to")
    if S.isdtype(x.dtype, "complex floating") and not S.isdtype(to, "complex floating"):
        return  # the standard leaves complex -> real open
    xv = np.from_dlpack(x)
    if S.isdtype(x.dtype, "real floating") and not S.isdtype(to, ("real floating",
                                                                  "complex floating")):
        if not np.all(np.isfinite(xv)):
            return  # non-finite to integer: undefined
        if S.isdtype(to, "integral") and xv.size and not np.all(
                (xv > S.iinfo(to).min) & (xv < S.iinfo(to).max)):
            return  # out of range: undefined
    if S.isdtype(x.dtype, "integral") and S.isdtype(to, "integral") and xv.size and not (
            S.iinfo(to).min <= xv.min() and xv.max() <= S.iinfo(to).max):
        return  # out of range: undefined
    want = S.astype(x, to)
    got = L.astype(to_lazy(x), lazy_dtype(to))
    assert_equal(got, want, approx=False)


def test_astype_copy_semantics():
    a = L.asarray([1.0, 2.0])
    assert L.astype(a, L.float64, copy=False) is a
    b = L.astype(a, L.float64, copy=True)
    assert b is not a
    b[0] = 5.0
    assert float(a[0]) == 1.0
    with pytest.raises(TypeError):
        L.astype(L.asarray([1j]), L.float64)


def test_asarray_copy_semantics():
    base = np.array([1.0, 2.0, 3.0])
    alias = L.asarray(base, copy=False)
    snapshot = L.asarray(base, copy=True)
    pending = alias * 2.0
    base[0] = 10.0
    assert float(pending[0]) == 20.0  # aliasing: a write to the NumPy data is seen
    assert float(snapshot[0]) == 1.0
    with pytest.raises(ValueError):
        L.asarray([1, 2], copy=False)
    a = L.asarray([1.0, 2.0])
    assert L.asarray(a) is a and L.asarray(a, copy=False) is a
    c = L.asarray(a, copy=True)
    c[0] = 7.0
    assert float(a[0]) == 1.0


@pytest.mark.parametrize("name", NAMES)
def test_isdtype_finfo_iinfo(name):
    for kind in ("bool", "signed integer", "unsigned integer", "integral", "real floating",
                 "complex floating", "numeric", ("integral", "bool")):
        assert L.isdtype(getattr(L, name), kind) == S.isdtype(getattr(S, name), kind)
    if name.startswith(("float", "complex")):
        f, g = L.finfo(getattr(L, name)), S.finfo(getattr(S, name))
        for attr in ("bits", "eps", "max", "min", "smallest_normal"):
            assert float(getattr(f, attr)) == float(getattr(g, attr)), attr
        assert dtype_name(f.dtype) == dtype_name(g.dtype)
    elif name != "bool":
        f, g = L.iinfo(getattr(L, name)), S.iinfo(getattr(S, name))
        assert (f.bits, f.max, f.min) == (g.bits, g.max, g.min)
        assert dtype_name(f.dtype) == dtype_name(g.dtype)


@given(data=st.data())
def test_result_type_with_scalars(data):
    dts = data.draw(st.lists(hh.scalar_dtypes(), min_size=1, max_size=3), label="dtypes")
    scalars = data.draw(st.lists(st.sampled_from(SCALARS), max_size=2), label="scalars")
    want, got = run_both(lambda: S.result_type(*dts, *scalars),
                         lambda: L.result_type(*[lazy_dtype(d) for d in dts], *scalars))
    if want is not None:
        assert dtype_name(got) == dtype_name(want)
