"""array_api_compat recognises lazyarr; array-api-extra functions run on lazyarr arrays and
agree with NumPy; writes through views and ``asarray(copy=...)`` alias as in NumPy."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import lazyarr as xp

xpx = pytest.importorskip("array_api_extra")

RNG = np.random.default_rng(1)
A = RNG.standard_normal((4, 5))


def test_array_namespace_and_is_array_api_obj():
    a = xp.asarray(A)
    assert array_api_compat.array_namespace(a) is xp
    assert array_api_compat.array_namespace(a, xp.ones(2)) is xp
    assert array_api_compat.is_array_api_obj(a)
    assert array_api_compat.device(a) == "cpu"
    assert array_api_compat.size(a) == 20
    assert a.__array_namespace__(api_version="2024.12") is xp
    assert a.__array_namespace__(api_version="2023.12") is xp
    with pytest.raises(ValueError):
        a.__array_namespace__(api_version="1999.01")
    assert xp.__name__ == "lazyarr"
    assert xp.__array_api_version__ == "2024.12"


def test_namespace_info():
    info = xp.__array_namespace_info__()
    caps = info.capabilities()
    assert caps["boolean indexing"] is True
    assert caps["data-dependent shapes"] is True
    assert info.default_device() == "cpu"
    assert info.devices() == [info.default_device()]
    d = info.default_dtypes()
    assert d == {"real floating": xp.float64, "complex floating": xp.complex128,
                 "integral": xp.int64, "indexing": xp.int64}
    assert set(info.dtypes()) == {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                  "uint32", "uint64", "float32", "float64", "complex64",
                                  "complex128"}
    assert set(info.dtypes(kind="real floating")) == {"float32", "float64"}
    assert set(info.dtypes(kind=("bool", "complex floating"))) == {"bool", "complex64",
                                                                   "complex128"}


@pytest.mark.parametrize("f", [
    lambda m, a: xpx.atleast_nd(a, ndim=3, xp=m),
    lambda m, a: xpx.cov(a, xp=m),
    lambda m, a: xpx.sinc(a, xp=m),
    lambda m, a: xpx.kron(a, a[:2, :2], xp=m),
    lambda m, a: xpx.create_diagonal(a[0], xp=m),
    lambda m, a: xpx.nunique(m.round(a), xp=m),
    lambda m, a: xpx.pad(a, 2, xp=m),
    lambda m, a: xpx.setdiff1d(m.round(a[0]), m.round(a[1]), xp=m),
    lambda m, a: xpx.at(a)[1:3, 0].set(7.0),
    lambda m, a: xpx.at(a)[a > 0].multiply(2.0),
])
def test_array_api_extra(f):
    got = f(xp, xp.asarray(A.copy()))
    want = f(np, A.copy())  # at(...).set on NumPy arrays writes in place
    assert isinstance(got, xp.Array)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_view_writes_reach_the_base():
    c = xp.zeros((2, 3, 3))
    view = c[1, :, :]
    view[0, 0] = 7.0
    view += 1.0
    c[0][1, 2] = 3.0  # chained indexing, as NumPy code writes it
    want = np.zeros((2, 3, 3))
    want[1, 0, 0] = 7.0
    want[1] += 1.0
    want[0, 1, 2] = 3.0
    np.testing.assert_array_equal(np.asarray(c), want)
    np.testing.assert_array_equal(np.asarray(view), want[1])


def test_asarray_copy_semantics():
    a = xp.asarray(A)
    alias = xp.asarray(a)
    same = xp.asarray(a, copy=False)
    copy = xp.asarray(a, copy=True)
    alias[0, 0] = 100.0
    assert float(same[0, 0]) == 100.0 and float(a[0, 0]) == 100.0
    assert float(copy[0, 0]) == A[0, 0]
    assert xp.astype(a, xp.float64, copy=False) is a
    b = xp.astype(a, xp.float64)
    b[1, 1] = -5.0
    assert float(a[1, 1]) == A[1, 1]
    with pytest.raises(ValueError):
        xp.asarray(a, dtype=xp.float32, copy=False)
