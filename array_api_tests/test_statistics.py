"""Reductions and cumulative functions against array_api_strict on hypothesis inputs: sum,
prod, mean, var, std, min, max, all, any, cumulative_sum, cumulative_prod, diff (axis,
keepdims, dtype and correction arguments; accumulation dtypes)."""

from __future__ import annotations

import array_api_strict as S
import pytest
from _support import SHAPES, assert_equal, hh, lazy_dtype, run_both, to_lazy
from hypothesis import assume, given
from hypothesis import strategies as st

import lazyarr as L

SMALL = {"min_value": -100, "max_value": 100}


def _axis(data, ndim):
    if ndim == 0:
        return None
    single = st.integers(-ndim, ndim - 1)
    multi = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
    return data.draw(st.none() | single | multi, label="axis")


def _array(data, dtypes, shapes=SHAPES):
    dt = data.draw(dtypes, label="dtype")
    kw = {"elements": SMALL} if S.isdtype(dt, ("signed integer", "real floating")) else \
        {"elements": {"max_value": 100}} if S.isdtype(dt, "unsigned integer") else {}
    return data.draw(hh.arrays(dt, shapes, **kw), label="x")


@pytest.mark.parametrize("name", ["sum", "prod", "min", "max", "all", "any", "mean", "var",
                                  "std"])
@given(data=st.data())
def test_reduction(name, data):
    x = _array(data, hh.scalar_dtypes())
    axis = _axis(data, x.ndim)
    keepdims = data.draw(st.booleans(), label="keepdims")
    kw = {"axis": axis, "keepdims": keepdims}
    if name in ("var", "std"):
        kw["correction"] = data.draw(st.sampled_from([0, 1, 0.5]), label="correction")
    if name in ("sum", "prod") and data.draw(st.booleans(), label="with dtype"):
        if S.isdtype(x.dtype, "numeric"):
            kw["dtype"] = x.dtype
    if name == "prod":
        assume(x.size <= 8)
    lkw = dict(kw, dtype=lazy_dtype(kw["dtype"])) if "dtype" in kw else kw
    want, got = run_both(lambda: getattr(S, name)(x, **kw),
                         lambda: getattr(L, name)(to_lazy(x), **lkw))
    if want is not None:
        assert_equal(got, want, approx=name in ("mean", "var", "std", "sum", "prod"),
                     signed_zeros=False, where=name)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@given(data=st.data())
def test_cumulative(name, data):
    x = _array(data, hh.numeric_dtypes(), hh.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis") if x.ndim > 1 else \
        data.draw(st.none() | st.just(0), label="axis")
    include_initial = data.draw(st.booleans(), label="include_initial")
    kw = {"axis": axis, "include_initial": include_initial}

    def reference():
        # The standard puts the identity first and cumulates x after it, as NumPy 2's
        # cumulative_* do; array_api_strict runs the identity through the first operation
        # instead, which differs for complex infinities (1 * (inf+0j) is inf+nanj).
        r = getattr(S, name)(x, axis=axis)
        if not include_initial:
            return r
        ax = 0 if axis is None else axis % x.ndim
        shape = r.shape[:ax] + (1,) + r.shape[ax + 1:]
        return S.concat([S.full(shape, 0 if name == "cumulative_sum" else 1, dtype=r.dtype), r],
                        axis=ax)

    want, got = run_both(reference, lambda: getattr(L, name)(to_lazy(x), **kw))
    if want is not None:
        assert_equal(got, want, signed_zeros=False, where=name)


@given(data=st.data())
def test_diff(data):
    x = _array(data, hh.numeric_dtypes(), hh.array_shapes(min_dims=1, max_dims=3, max_side=5))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    n = data.draw(st.integers(1, 3), label="n")
    want, got = run_both(lambda: S.diff(x, axis=axis, n=n), lambda: L.diff(to_lazy(x), axis=axis,
                                                                            n=n))
    if want is not None:
        assert_equal(got, want, signed_zeros=False, where="diff")


def test_axis_errors():
    x = L.ones((2, 3))
    for f in (L.sum, L.max, L.mean, L.argmax):
        with pytest.raises((ValueError, IndexError)):
            f(x, axis=2)
