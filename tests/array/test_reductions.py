"""Reductions, statistics, cumulative functions and diff against NumPy on hypothesis-generated
arrays: every axis form (None, int, negative, tuple), keepdims, dtype=, 0-d and empty arrays,
NaN and inf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

from .la_helpers import ALL, BOOL, COMPLEX, FLOATS, INTS, NUMERIC, REAL, UINTS, arrays, check

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


def _axis(data, ndim: int):
    """None, an int (negative too) or a tuple of distinct axes (negative too)."""
    if ndim == 0:
        return data.draw(st.sampled_from([None, ()]), label="axis")
    return data.draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        hnp.valid_tuple_axes(ndim).map(
            lambda t: tuple(a % ndim - ndim if a % 2 else a % ndim for a in t)),
    ), label="axis")


def _tol(dt, x: np.ndarray, n: int) -> float:
    """An absolute tolerance covering a change of summation order over ``n`` terms."""
    if np.dtype(dt).kind not in "fc" or x.size == 0:
        return 0.0
    eps = np.finfo(dt).eps
    m = np.max(np.abs(x[np.isfinite(x)]), initial=0.0)
    return 4 * eps * max(n, 1) * float(m)


def _n_reduced(shape, axis) -> int:
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def _acc_dtype(dt):
    """The standard's sum/prod accumulation dtype (int64, uint64; floats keep theirs)."""
    if dt.kind == "b" or dt.kind == "i":
        return np.dtype(np.int64)
    if dt.kind == "u":
        return np.dtype(np.uint64)
    return dt


@pytest.mark.parametrize("name", ["sum", "prod"])
@given(data=st.data())
def test_sum_prod(name, data):
    dt = data.draw(st.sampled_from(BOOL + NUMERIC), label="dtype")
    shape = data.draw(shapes, label="shape")
    small = name == "prod"
    x = data.draw(hnp.arrays(dt, shape, elements=(
        st.integers(-3, 3) if dt.kind == "i" and small else
        st.integers(0, 3) if dt.kind == "u" and small else
        st.floats(-2, 2, width=8 * dt.itemsize) if dt.kind == "f" and small else
        None)) if small and dt.kind in "iuf" else arrays(dt, shape, finite=True, small=True),
        label="x")
    axis = _axis(data, x.ndim)
    keepdims = data.draw(st.booleans(), label="keepdims")
    use_dtype = data.draw(st.booleans(), label="dtype=")
    kw = dict(axis=axis, keepdims=keepdims)
    if use_dtype:
        target = data.draw(st.sampled_from([d for d in NUMERIC if np.can_cast(dt, d)]),
                           label="dtype arg")
        kw["dtype"] = target
        expected_dt = target
    else:
        expected_dt = _acc_dtype(dt)
    fn = getattr(xp, name)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims, dtype=expected_dt)
    r = fn(xp.asarray(x), **kw)
    check(r, expected, expected_dt, rtol=1e-5 if expected_dt in (np.float32, np.complex64)
          else 1e-12, atol=_tol(expected_dt, x, _n_reduced(x.shape, axis)))


@pytest.mark.parametrize("name", ["mean", "var", "std"])
@given(data=st.data())
def test_mean_var_std(name, data):
    dt = data.draw(st.sampled_from(NUMERIC), label="dtype")
    shape = data.draw(shapes, label="shape")
    x = data.draw(arrays(dt, shape, finite=True, small=True), label="x")
    axis = _axis(data, x.ndim)
    keepdims = data.draw(st.booleans(), label="keepdims")
    n = _n_reduced(x.shape, axis)
    kw = dict(axis=axis, keepdims=keepdims)
    npkw = dict(axis=axis, keepdims=keepdims)
    if name != "mean":
        correction = data.draw(st.sampled_from([0, 1, 0.5]), label="correction")
        assume(n - correction > 0)
        kw["correction"] = correction
        npkw["ddof"] = correction
    else:
        assume(n > 0)  # NumPy warns and gives NaN; checked in test_empty_reductions
    ct = dt if dt.kind in "fc" else np.dtype(np.float64)
    expected = getattr(np, name)(x.astype(ct), **npkw)
    out_dt = ct if name == "mean" else np.real(np.zeros((), ct)).dtype
    r = getattr(xp, name)(xp.asarray(x), **kw)
    scale = _tol(ct, x.astype(ct), n)
    check(r, expected, out_dt, rtol=1e-4 if ct in (np.float32, np.complex64) else 1e-10,
          atol=scale * (scale if name == "var" else 1) + scale)


@pytest.mark.parametrize("name", ["min", "max"])
@given(data=st.data())
def test_min_max(name, data):
    dt = data.draw(st.sampled_from(BOOL + REAL), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5),
                      label="shape")
    x = data.draw(arrays(dt, shape), label="x")   # NaN and inf included: NaN propagates
    axis = _axis(data, x.ndim)
    keepdims = data.draw(st.booleans(), label="keepdims")
    r = getattr(xp, name)(xp.asarray(x), axis=axis, keepdims=keepdims)
    check(r, getattr(np, name)(x, axis=axis, keepdims=keepdims), dt)


@pytest.mark.parametrize("name", ["all", "any"])
@given(data=st.data())
def test_all_any(name, data):
    dt = data.draw(st.sampled_from(ALL), label="dtype")
    shape = data.draw(shapes, label="shape")
    x = data.draw(hnp.arrays(dt, shape, elements=st.sampled_from([0, 1]).map(
        lambda v: np.asarray(v).astype(dt)[()])) if data.draw(st.booleans()) else
        arrays(dt, shape), label="x")
    axis = _axis(data, x.ndim)
    keepdims = data.draw(st.booleans(), label="keepdims")
    r = getattr(xp, name)(xp.asarray(x), axis=axis, keepdims=keepdims)
    check(r, getattr(np, name)(x, axis=axis, keepdims=keepdims), np.bool_)


def test_nan_and_inf_propagate():
    x = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, -1.0], [np.inf, -np.inf, 0.0]])
    a = xp.asarray(x)
    with np.errstate(all="ignore"):
        for name in ("sum", "prod", "mean", "max", "min"):
            for axis in (None, 0, 1):
                check(getattr(xp, name)(a, axis=axis), getattr(np, name)(x, axis=axis))
        check(xp.var(a, axis=1), np.var(x, axis=1))
        check(xp.std(a, axis=0), np.std(x, axis=0))
    check(xp.all(a, axis=1), np.all(x, axis=1))  # NaN is true
    check(xp.any(xp.asarray([np.nan, 0.0])), True)


def test_empty_reductions():
    e = np.zeros((0, 3))
    a = xp.asarray(e)
    check(xp.sum(a), 0.0)
    check(xp.sum(a, axis=0), np.zeros(3))
    check(xp.prod(a, axis=0), np.ones(3))
    check(xp.all(a), True)
    check(xp.any(a), False)
    check(xp.sum(xp.asarray(np.zeros((0,), np.int8))), np.int64(0))
    with np.errstate(all="ignore"):
        check(xp.mean(a, axis=0), np.full(3, np.nan))
    check(xp.max(a, axis=1), np.zeros((0,)))  # reducing a non-empty axis of an empty array
    for fn in (xp.max, xp.min):
        with pytest.raises(ValueError):
            fn(a)
        with pytest.raises(ValueError):
            fn(a, axis=0)


def test_max_of_an_axis_the_run_finds_empty_raises_as_numpy():
    """A mask's result, empty only when it runs: max and min raise NumPy's ValueError on
    every path (the native kernel returned its start value, -inf, inf or INT64_MIN, while
    the reference VM raised), with or without a fused prologue, compiled too."""
    x = xp.asarray([1.0, 2.0, 3.0])
    m = xp.reshape(xp.arange(6.0), (2, 3))
    cases = [lambda: xp.max(x[x > 10]), lambda: xp.min(x[x > 10] * 2.0),
             lambda: xp.max(xp.asarray([1, 2, 3])[x > 10]),
             lambda: xp.max(xp.exp(m[:, x > 10] - 1.0), axis=-1),
             lambda: xp.compile(lambda v: xp.min(v[v > 10]))(x)]
    for case in cases:
        with pytest.raises(ValueError, match="no identity"):
            np.asarray(case())
    check(xp.max(m[:, x > 10], axis=0), np.zeros((0,)))  # a non-empty axis reduced
    check(xp.max(x[x > 1.5] * 2.0), 6.0)


def test_zero_dim_reductions():
    for x in (np.float32(2.5), np.int8(-3), np.bool_(True), np.complex64(1 + 2j)):
        arr = np.asarray(x)
        a = xp.asarray(arr)
        check(xp.sum(a), np.sum(arr, dtype=_acc_dtype(arr.dtype)))
        check(xp.prod(a, axis=()), np.prod(arr, axis=(), dtype=_acc_dtype(arr.dtype)))
        check(xp.any(a), np.any(arr))
        check(xp.all(a, keepdims=True), np.all(arr, keepdims=True))


def test_reduction_dtype_rules():
    for dt in INTS:
        assert xp.sum(xp.asarray(np.ones(2, dt))).dtype == np.int64
    for dt in UINTS:
        assert xp.prod(xp.asarray(np.ones(2, dt))).dtype == np.uint64
    for dt in FLOATS + COMPLEX:
        assert xp.sum(xp.asarray(np.ones(2, dt))).dtype == dt
        assert xp.mean(xp.asarray(np.ones(2, dt))).dtype == dt
    assert xp.mean(xp.asarray(np.ones(2, np.int16))).dtype == np.float64  # NumPy's choice
    assert xp.var(xp.asarray(np.ones(2, np.complex64))).dtype == np.float32
    assert xp.sum(xp.asarray([True, True, False])).dtype == np.int64
    check(xp.sum(xp.asarray([True, True, False])), 2)
    check(xp.sum(xp.asarray(np.array([200, 100], np.uint8)), dtype=xp.uint8),
          np.uint8(44))  # wraps in the requested dtype, like NumPy
    with pytest.raises(TypeError):
        xp.mean(xp.asarray([True, False]))
    with pytest.raises(TypeError):
        xp.max(xp.asarray([1j]))


def test_reduction_axis_errors():
    a = xp.asarray(np.zeros((2, 3)))
    for fn in (xp.sum, xp.prod, xp.mean, xp.var, xp.std, xp.min, xp.max, xp.all, xp.any):
        with pytest.raises(ValueError):
            fn(a, axis=2)
        with pytest.raises(ValueError):
            fn(a, axis=(0, 0))
        with pytest.raises(ValueError):
            fn(a, axis=-3)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@given(data=st.data())
def test_cumulative(name, data):
    dt = data.draw(st.sampled_from(BOOL + NUMERIC), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                      label="shape")
    x = data.draw(arrays(dt, shape, finite=True, small=True), label="x")
    if x.ndim == 1 and data.draw(st.booleans(), label="no axis"):
        axis = None
    else:
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    include = data.draw(st.booleans(), label="include_initial")
    kw = dict(include_initial=include)
    if axis is not None:
        kw["axis"] = axis
    if data.draw(st.booleans(), label="dtype="):
        target = data.draw(st.sampled_from([d for d in NUMERIC if np.can_cast(dt, d)]))
        kw["dtype"] = target
    else:
        target = _acc_dtype(dt)
    expected = getattr(np, name)(x, axis=axis, dtype=target, include_initial=include)
    r = getattr(xp, name)(xp.asarray(x), **kw)
    check(r, expected, target, rtol=1e-4 if target in (np.float32, np.complex64) else 1e-10,
          atol=_tol(target, x, x.shape[axis or 0]) if name == "cumulative_sum" else 0.0)


def test_cumulative_errors():
    with pytest.raises(ValueError):
        xp.cumulative_sum(xp.asarray(np.ones((2, 2))))  # axis required beyond 1-d
    with pytest.raises(ValueError):
        xp.cumulative_prod(xp.asarray(1.0))
    with pytest.raises(ValueError):
        xp.cumulative_sum(xp.asarray([1, 2]), axis=1)


@given(data=st.data())
def test_diff(data):
    dt = data.draw(st.sampled_from(BOOL + REAL + COMPLEX), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
                      label="shape")
    x = data.draw(arrays(dt, shape, finite=True, small=True), label="x")
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    n = data.draw(st.integers(0, 3), label="n")
    kw = {}
    for which in ("prepend", "append"):
        if data.draw(st.booleans(), label=which):
            s = list(x.shape)
            s[axis] = data.draw(st.integers(0, 2), label=which + " size")
            kw[which] = data.draw(arrays(dt, tuple(s), finite=True, small=True), label=which)
    expected = np.diff(x, n=n, axis=axis, **kw)
    r = xp.diff(xp.asarray(x), axis=axis, n=n,
                **{k: xp.asarray(v) for k, v in kw.items()})
    check(r, expected, dt)


def test_diff_errors():
    with pytest.raises(ValueError):
        xp.diff(xp.asarray(1.0))
    with pytest.raises(ValueError):
        xp.diff(xp.asarray([1.0, 2.0]), n=-1)
    with pytest.raises(ValueError):
        xp.diff(xp.asarray([1.0, 2.0]), axis=1)
    with pytest.raises(ValueError, match=r"diff\(\): prepend must .* got shape \(3, 1\)"):
        xp.diff(xp.asarray(np.ones((2, 3))), axis=1, prepend=xp.asarray(np.ones((3, 1))))
    with pytest.raises(ValueError, match=r"diff\(\): append must .* got shape \(3,\)"):
        xp.diff(xp.asarray(np.ones((2, 3))), append=xp.asarray(np.ones(3)))


@pytest.mark.parametrize("kw", [{"prepend": 0}, {"axis": 0, "append": -1.0},
                                {"prepend": np.ones((3, 1)), "append": 7},
                                {"axis": 0, "prepend": np.zeros((1, 3)), "n": 2}])
def test_diff_ends_of_an_array_with_sizes_known_only_at_run_time(kw):
    """Ends beside a size known only when run (a boolean mask's rows): an array end of the
    right shape is accepted, a scalar end takes x's shape with 1 along the axis."""
    x0 = np.arange(12.0).reshape(4, 3) ** 2
    keep = np.array([True, False, True, True])
    m = xp.asarray(x0)[xp.asarray(keep)]
    kw = {k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    want = np.diff(x0[keep], **{k: (np.asarray(v) if isinstance(v, xp.Array) else v)
                                for k, v in kw.items()})
    np.testing.assert_array_equal(np.asarray(xp.diff(m, **kw)), want)


@pytest.mark.parametrize("kw", [{"prepend": 0}, {"append": 2.5, "n": 2},
                                {"axis": 0, "prepend": np.float64(-1.0), "append": 3}])
def test_diff_takes_scalar_ends_as_numpy_does(kw):
    """A scalar ``prepend``/``append`` is one slice along the axis (NumPy's extension)."""
    x = np.arange(12.0).reshape(3, 4) ** 2
    np.testing.assert_array_equal(np.asarray(xp.diff(xp.asarray(x), **kw)), np.diff(x, **kw))


def test_methods_match_functions():
    x = np.arange(12.0).reshape(3, 4)
    a = xp.asarray(x)
    check(a.sum(axis=0), x.sum(axis=0))
    check(a.mean(), x.mean())
    check(a.std(ddof=1), x.std(ddof=1))
    check(a.max(axis=1, keepdims=True), x.max(axis=1, keepdims=True))


def test_var_and_std_with_a_correction_past_n():
    """N - correction <= 0: the standard's NaN (and JAX's); NumPy divides by
    max(N - correction, 0) and gives inf (NaN for 0/0), as lazyarr did. Run-time sizes too."""
    x = np.array([1.0, 2.0, 4.0])
    for c in (3, 4, 5.5):
        for fn in (xp.var, xp.std):
            assert np.isnan(np.asarray(fn(xp.asarray(x), correction=c)))
    assert np.isnan(np.asarray(xp.var(xp.asarray(np.ones(3)), correction=3)))
    a = xp.asarray(x)
    m = a[a > 1.5]  # 2 elements, a size the run tells
    assert np.isnan(np.asarray(xp.var(m, correction=2)))
    np.testing.assert_allclose(np.asarray(xp.var(m, correction=1)), np.var([2.0, 4.0], ddof=1))


def test_var_and_std_of_rows_only_the_run_counts():
    """var/std over an axis whose size a mask decides read no size: the count is a sum of
    ones, so they work inside grad and compile; values and gradients as NumPy's."""
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [2.5, 1.1, 0.4], [-3.0, 0.2, 0.9]])
    keep = x[:, 0] > 0
    rows = x[keep]

    def m(v):
        return v[v[:, 0] > 0]

    for axis, corr in ((0, 0.0), (0, 1.0), (1, 0.0), (None, 1.5)):
        np.testing.assert_allclose(np.asarray(xp.var(m(xp.asarray(x)), axis=axis,
                                                     correction=corr)),
                                   np.var(rows, axis=axis, ddof=corr), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(xp.std(m(xp.asarray(x)), axis=axis,
                                                     correction=corr)),
                                   np.std(rows, axis=axis, ddof=corr), rtol=1e-12)
    np.testing.assert_allclose(float(xp.compile(lambda v: xp.sum(xp.var(m(v), axis=0)))(x)),
                               np.var(rows, axis=0).sum(), rtol=1e-12)
    g = np.asarray(xp.grad(lambda v: xp.sum(xp.var(m(v), axis=0, correction=1.0)))(x))
    want = np.zeros_like(x)
    want[keep] = 2 * (rows - rows.mean(0)) / (len(rows) - 1)
    np.testing.assert_allclose(g, want, atol=1e-12)
    too_few = xp.var(xp.asarray(x)[xp.asarray(x[:, 0] > 2)], axis=0, correction=1.0)
    with np.errstate(all="ignore"):  # one row, one degree of freedom taken: NaN as NumPy
        np.testing.assert_array_equal(np.asarray(too_few),
                                      np.var(x[x[:, 0] > 2], axis=0, ddof=1))
