"""Creation functions, data-type functions, dtype objects and constants, against NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

from .la_helpers import ALL, COMPLEX, FLOATS, INTS, NUMERIC, REAL, UINTS, arrays, check

NAMES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
         "float32", "float64", "complex64", "complex128"]

# ---- asarray --------------------------------------------------------------------------------


def test_asarray_from_python_objects():
    check(xp.asarray(True), np.asarray(True))
    check(xp.asarray(3), np.int64(3))
    check(xp.asarray(2.5), np.float64(2.5))
    check(xp.asarray(1 - 2j), np.complex128(1 - 2j))
    check(xp.asarray([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]], np.int64))
    check(xp.asarray([1, 2.5]), np.array([1.0, 2.5]))
    check(xp.asarray([True, False]), np.array([True, False]))
    check(xp.asarray([]), np.array([], np.float64))
    check(xp.asarray([1, 2], dtype=xp.float32), np.array([1, 2], np.float32))
    check(xp.asarray(3, dtype=xp.uint8), np.uint8(3))
    check(xp.asarray(np.float32(1.5)), np.float32(1.5))
    check(xp.asarray(memoryview(b"ab")), np.frombuffer(b"ab", np.uint8))
    check(xp.asarray(np.array([1.0], np.float16)), np.array([1.0], np.float32))
    with pytest.raises(TypeError):
        xp.asarray(2.5, dtype=xp.int32)
    with pytest.raises(TypeError):
        xp.asarray(1j, dtype=xp.float64)
    with pytest.raises(TypeError):
        xp.asarray("text")
    with pytest.raises(TypeError):
        xp.asarray([1, 2], dtype="S2")


def test_asarray_of_a_python_int_above_int64_is_uint64():
    """asarray(2**63) raised OverflowError while asarray([2**63]) gave uint64; NumPy and
    array_api_strict give uint64 for both."""
    for obj in (2**63, 2**64 - 1, [2**63], [2**63, 2**64 - 1]):
        a = xp.asarray(obj)
        assert a.dtype == xp.uint64
        check(a, np.asarray(obj))
    check(xp.asarray(-(2**63)), np.asarray(-(2**63)))


def test_asarray_of_a_list_holding_arrays_stays_lazy():
    """``asarray([a, b])`` of lazyarr arrays is their stack, not a read of their values: it
    works on traced values (inside grad) and pending ones stay pending. The dtype is the
    one NumPy's asarray gives the values (a Python float beside float32 arrays: float64)."""
    a = xp.asarray(np.float32(1.5)) * 2
    b = xp.asarray(np.float32(-1.0))
    cases = [([a, b], None), ([[a, b], [b, a]], None), ((a, 2.0), None), ([a, 3], None),
             ([a, b], xp.float64), ([[a], [1]], None)]
    for obj, dt in cases:
        got = xp.asarray(obj, dtype=dt)
        assert got._v.owner is not None  # pending: nothing was computed
        want = np.asarray([[np.asarray(e) for e in r] if isinstance(r, (list, tuple))
                           else np.asarray(r) for r in obj], dtype=dt)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), want)
    big = xp.asarray(np.int64(1)) + 1  # beside a Python int past int64: NumPy's float64
    got = xp.asarray([big, 2 ** 63])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(got), [2.0, 2.0 ** 63])
    with pytest.raises(ValueError):
        xp.asarray([a, b], copy=False)
    with pytest.raises(ValueError):
        xp.asarray([a, xp.asarray(np.ones(2))])  # ragged
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        np.asarray(xp.grad(lambda v: xp.sum(xp.asarray([v[0] * 2, v[1]]) ** 2))(x)),
        [8 * x[0], 2 * x[1], 0])
    np.testing.assert_allclose(
        np.asarray(xp.grad(lambda v: xp.sum(xp.linalg.solve(xp.eye(2) * 2, [v[0], v[1]])))(x)),
        [0.5, 0.5, 0])


@given(x=hnp.arrays(st.sampled_from(ALL), hnp.array_shapes(min_dims=0, max_side=3)))
def test_asarray_roundtrip(x):
    check(xp.asarray(x), x)
    check(xp.asarray(x.tolist(), dtype=x.dtype), x)
    check(xp.asarray(xp.asarray(x)), x)


def test_asarray_copy_none_and_false_alias_numpy_data():
    a = np.arange(4.0)
    for copy in (None, False):
        x = xp.asarray(a, copy=copy)
        y = x * 2              # not computed yet: sees later writes to the data
        a[0] = 10.0
        check(y, a * 2)
        check(x, a)
        assert np.shares_memory(np.asarray(x), a)
        a[0] = 0.0
    assert a.flags.writeable  # materialization never locks the user's array


def test_asarray_copy_true_snapshots():
    a = np.arange(4.0)
    x = xp.asarray(a, copy=True)
    a[0] = 10.0
    check(x, np.arange(4.0))
    # also from an Array whose leaf aliases the user's data
    b = np.arange(3.0)
    leaf = xp.asarray(b)
    c = xp.asarray(leaf, copy=True)
    b[1] = -1.0
    check(c, np.arange(3.0))
    check(leaf, b)


def test_asarray_copy_false_cannot_copy():
    with pytest.raises(ValueError):
        xp.asarray([1, 2, 3], copy=False)
    with pytest.raises(ValueError):
        xp.asarray(np.arange(3), dtype=xp.float64, copy=False)
    with pytest.raises(ValueError):
        xp.asarray(xp.asarray([1, 2]), dtype=xp.float64, copy=False)
    a = xp.asarray([1.0, 2.0])
    assert xp.asarray(a, copy=False)._v is a._v


def test_asarray_of_an_array_with_dtype():
    a = xp.asarray([1, 2, 3])
    check(xp.asarray(a, dtype=xp.float32), np.array([1.0, 2.0, 3.0], np.float32))
    check(xp.asarray(a * 2), np.array([2, 4, 6]))


# ---- filled arrays --------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


@given(shape=shapes, dt=st.sampled_from(ALL))
def test_zeros_ones_empty(shape, dt):
    check(xp.zeros(shape, dtype=dt), np.zeros(shape, dt))
    check(xp.ones(shape, dtype=dt), np.ones(shape, dt))
    e = xp.empty(shape, dtype=dt)
    assert e.shape == shape and e.dtype == dt and np.asarray(e).shape == shape
    x = np.ones(shape, dt)
    check(xp.zeros_like(xp.asarray(x)), np.zeros_like(x))
    check(xp.ones_like(xp.asarray(x), dtype=xp.float32), np.ones(shape, np.float32))
    e = xp.empty_like(xp.asarray(x))
    assert e.shape == shape and e.dtype == dt


def test_default_dtypes_and_int_shape():
    check(xp.zeros(3), np.zeros(3))
    check(xp.ones((2, 0)), np.ones((2, 0)))
    assert xp.empty(()).dtype == np.float64
    with pytest.raises(ValueError):
        xp.zeros((2, -1))
    with pytest.raises(TypeError):
        xp.ones((2.0, 3))


@pytest.mark.parametrize("value, dtype, expected_dtype", [
    (True, None, np.bool_), (3, None, np.int64), (2.5, None, np.float64),
    (1 + 1j, None, np.complex128), (3, xp.int8, np.int8), (2, xp.float32, np.float32),
    (1.5, xp.complex64, np.complex64), (0, xp.bool, np.bool_),
])
def test_full(value, dtype, expected_dtype):
    check(xp.full((2, 3), value, dtype=dtype), np.full((2, 3), value, expected_dtype))
    like = xp.asarray(np.zeros((3,), np.int16))
    if dtype is not None:
        check(xp.full_like(like, value, dtype=dtype), np.full((3,), value, expected_dtype))
    elif isinstance(value, (bool, int)):  # the value takes the array's dtype
        check(xp.full_like(like, value), np.full((3,), value, np.int16))


def test_full_like_keeps_dtype_and_full_errors():
    x = xp.asarray(np.zeros((2, 2), np.float32))
    check(xp.full_like(x, 7), np.full((2, 2), 7, np.float32))
    check(xp.full(4, xp.asarray(2.0)), np.full(4, 2.0))
    with pytest.raises(TypeError):
        xp.full(2, 1j, dtype=xp.float64)
    with pytest.raises(ValueError):
        xp.full(2, xp.asarray([1.0, 2.0]))


# ---- ranges and grids -----------------------------------------------------------------------

@given(start=st.integers(-20, 20), stop=st.one_of(st.none(), st.integers(-20, 20)),
       step=st.integers(-5, 5).filter(bool))
def test_arange_int(start, stop, step):
    if stop is None:
        check(xp.arange(start), np.arange(start))
    else:
        check(xp.arange(start, stop, step), np.arange(start, stop, step))


@given(start=st.floats(-10, 10), stop=st.floats(-10, 10),
       step=st.floats(0.1, 3).flatmap(lambda s: st.sampled_from([s, -s])),
       dt=st.sampled_from([None, xp.float32, xp.float64]))
def test_arange_float(start, stop, step, dt):
    expected = np.arange(start, stop, step, dtype=dt or np.float64)
    check(xp.arange(start, stop, step, dtype=dt), expected, rtol=1e-5)


def test_arange_errors_and_dtype():
    check(xp.arange(5, dtype=xp.uint8), np.arange(5, dtype=np.uint8))
    check(xp.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25))
    with pytest.raises(ValueError):
        xp.arange(0, 5, 0)
    with pytest.raises(TypeError):
        xp.arange("3")


def test_arange_takes_numpy_scalars_as_array_api_strict():
    """NumPy integer and float scalars (sizes from NumPy code) are numbers to arange, as to
    the other creation functions and array_api_strict (scipy.spatial passes np.int64)."""
    check(xp.arange(np.int64(18)), np.arange(18))
    check(xp.arange(np.int32(2), np.int64(9), np.int8(3)), np.arange(2, 9, 3))
    assert xp.arange(np.int64(4)).dtype == xp.int64
    check(xp.arange(np.float32(3.0)), np.arange(3.0))
    assert xp.arange(np.float64(1.0), 3).dtype == xp.float64
    with pytest.raises(TypeError):
        xp.arange(np.bool_(True))


@given(start=st.floats(-100, 100), stop=st.floats(-100, 100), num=st.integers(0, 20),
       endpoint=st.booleans(), dt=st.sampled_from([None, xp.float32, xp.float64]))
def test_linspace(start, stop, num, endpoint, dt):
    expected = np.linspace(start, stop, num, endpoint=endpoint, dtype=dt or np.float64)
    check(xp.linspace(start, stop, num, endpoint=endpoint, dtype=dt), expected,
          atol=1e-5 * max(abs(start), abs(stop), 1) if dt == xp.float32 else 1e-12 * 200)


def test_linspace_complex_and_errors():
    check(xp.linspace(0, 1 + 2j, 5), np.linspace(0, 1 + 2j, 5))
    with pytest.raises(ValueError):
        xp.linspace(0, 1, -1)


@given(n=st.integers(0, 5), m=st.one_of(st.none(), st.integers(0, 5)), k=st.integers(-6, 6),
       dt=st.sampled_from([None] + REAL + COMPLEX))
def test_eye(n, m, k, dt):
    check(xp.eye(n, m, k=k, dtype=dt), np.eye(n, m, k=k, dtype=dt or np.float64))


@given(data=st.data())
def test_meshgrid(data):
    k = data.draw(st.integers(1, 3), label="count")
    dt = data.draw(st.sampled_from(NUMERIC), label="dtype")
    xs = [data.draw(arrays(dt, (data.draw(st.integers(0, 4)),), small=True, finite=True))
          for _ in range(k)]
    indexing = data.draw(st.sampled_from(["xy", "ij"]), label="indexing")
    outs = xp.meshgrid(*[xp.asarray(x) for x in xs], indexing=indexing)
    expected = np.meshgrid(*xs, indexing=indexing)
    assert len(outs) == len(expected)
    for o, e in zip(outs, expected):
        check(o, e, dt)


def test_meshgrid_errors():
    with pytest.raises(ValueError):
        xp.meshgrid(xp.asarray([1, 2]), indexing="yx")
    with pytest.raises(ValueError):
        xp.meshgrid(xp.asarray(np.ones((2, 2))))


@given(data=st.data())
def test_tril_triu(data):
    dt = data.draw(st.sampled_from(ALL), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=4))
    x = data.draw(arrays(dt, shape, finite=True, small=True), label="x")
    k = data.draw(st.integers(-5, 5), label="k")
    check(xp.tril(xp.asarray(x), k=k), np.tril(x, k), dt)
    check(xp.triu(xp.asarray(x), k=k), np.triu(x, k), dt)


def test_tril_needs_two_dims():
    with pytest.raises(ValueError):
        xp.tril(xp.asarray([1.0, 2.0]))


def test_from_dlpack():
    a = np.arange(6.0).reshape(2, 3)
    x = xp.from_dlpack(a)
    check(x, a)
    assert np.shares_memory(np.asarray(x), a)
    y = xp.from_dlpack(xp.asarray(a) * 2)  # from a lazyarr array (its own protocol)
    check(y, a * 2)
    z = xp.from_dlpack(a, copy=True)
    a[0, 0] = 100.0
    check(z, np.arange(6.0).reshape(2, 3))
    check(xp.asarray(np.asarray(xp.asarray([1, 2]))), np.array([1, 2]))


def test_from_dlpack_copy_true_of_a_lazyarr_array_is_a_copy():
    """copy=True always copies: a write to the result leaves the source as it was (it
    returned the source itself)."""
    a = xp.asarray([1.0, 2.0])
    b = xp.from_dlpack(a, copy=True)
    assert b is not a
    b[0] = 5.0
    check(a, [1.0, 2.0])
    check(b, [5.0, 2.0])
    assert xp.from_dlpack(a) is a


# ---- data type functions --------------------------------------------------------------------

@given(data=st.data())
def test_astype(data):
    src = data.draw(st.sampled_from(ALL), label="from")
    dst = data.draw(st.sampled_from(ALL), label="to")
    x = data.draw(arrays(src, hnp.array_shapes(min_dims=0, max_side=3), small=True,
                         finite=True), label="x")
    if src.kind == "c" and dst.kind != "c":
        with pytest.raises(TypeError):
            xp.astype(xp.asarray(x), dst)
        return
    check(xp.astype(xp.asarray(x), dst), x.astype(dst), dst)
    check(xp.asarray(x).astype(dst), x.astype(dst), dst)


def test_astype_copy_false():
    a = xp.asarray([1.0, 2.0])
    assert xp.astype(a, xp.float64, copy=False) is a
    b = xp.astype(a, xp.float64)
    assert b is not a
    check(b, [1.0, 2.0])


def test_can_cast_follows_the_promotion_lattice():
    """bool only to bool, integers to integers that hold their values, floats to floats and
    complex as wide: array_api_strict's answers, also where NumPy's safe casting changes the
    kind (bool -> int8, int8 -> float32: True in NumPy, False here)."""
    dts = [getattr(xp, n) for n in NAMES]
    family = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 2}
    for f in dts:
        for t in dts:
            want = f == t or (family[f.kind] == family[t.kind] and f.kind != "b"
                              and np.can_cast(f, t, casting="safe"))
            assert xp.can_cast(f, t) == want, (f, t)
    assert not xp.can_cast(xp.bool, xp.int8)
    assert not xp.can_cast(xp.int8, xp.float32)
    assert xp.can_cast(xp.float32, xp.complex64)
    assert not xp.can_cast(xp.float64, xp.complex64)
    assert not xp.can_cast(xp.int8, xp.uint16)
    assert xp.can_cast(xp.asarray([1], dtype=xp.int8), xp.int16)
    assert not xp.can_cast(xp.asarray([1], dtype=xp.int16), xp.int8)


def test_can_cast_agrees_with_promotion():
    dts = [getattr(xp, n) for n in NAMES]
    family = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 2}
    for f in dts:
        for t in dts:
            if f.kind != "b" and family[f.kind] == family[t.kind] and not (
                    {f.kind, t.kind} == {"i", "u"} and f.itemsize == t.itemsize == 8):
                assert xp.can_cast(f, t) == (xp.result_type(f, t) == t), (f, t)


def test_setitem_still_converts_bool_and_integer_arrays_as_numpy():
    """``x[key] = value`` keeps NumPy's safe casting (the standard leaves it open)."""
    a = xp.zeros(3)
    a[:2] = xp.asarray([1, 2], dtype=xp.int16)
    a[2:] = xp.asarray([True])
    check(a, [1.0, 2.0, 1.0])
    with pytest.raises(TypeError):
        b = xp.zeros(2, dtype=xp.int8)
        b[:] = xp.asarray([1.5, 2.5])


@given(data=st.data())
def test_result_type(data):
    dts = data.draw(st.lists(st.sampled_from(ALL), min_size=1, max_size=4), label="dtypes")
    as_arrays = data.draw(st.lists(st.booleans(), min_size=len(dts), max_size=len(dts)))
    args = [xp.asarray(np.zeros(1, d)) if a else d for d, a in zip(dts, as_arrays)]
    assert xp.result_type(*args) == np.result_type(*dts)
    scalar = data.draw(st.sampled_from([True, 1, 1.5, 1j]), label="scalar")
    expected = np.result_type(*dts, scalar)  # NumPy 2: Python scalars are weak
    assert xp.result_type(*args, scalar) == expected


def test_result_type_errors():
    with pytest.raises(OverflowError):
        xp.result_type(xp.int8, 1000)
    with pytest.raises(TypeError):
        xp.result_type("not a dtype")


@pytest.mark.parametrize("dt", FLOATS + COMPLEX)
def test_finfo(dt):
    f, ref = xp.finfo(dt), np.finfo(dt)
    assert (f.bits, f.eps, f.max, f.min, f.smallest_normal) == (
        ref.bits, ref.eps, ref.max, ref.min, ref.smallest_normal)
    assert f.dtype == np.real(np.zeros((), dt)).dtype
    assert xp.finfo(xp.asarray(np.zeros(1, dt))).eps == ref.eps


@pytest.mark.parametrize("dt", INTS + UINTS)
def test_iinfo(dt):
    i, ref = xp.iinfo(dt), np.iinfo(dt)
    assert (i.bits, i.max, i.min, i.dtype) == (ref.bits, ref.max, ref.min, np.dtype(dt))
    assert xp.iinfo(xp.asarray(np.zeros(1, dt))).max == ref.max


def test_finfo_iinfo_errors():
    with pytest.raises(ValueError):
        xp.finfo(xp.int32)
    with pytest.raises(ValueError):
        xp.iinfo(xp.float64)
    with pytest.raises(TypeError):
        xp.iinfo(np.float16)


def test_isdtype():
    kinds = {
        "bool": {"bool"},
        "signed integer": {"int8", "int16", "int32", "int64"},
        "unsigned integer": {"uint8", "uint16", "uint32", "uint64"},
        "integral": {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"},
        "real floating": {"float32", "float64"},
        "complex floating": {"complex64", "complex128"},
    }
    kinds["numeric"] = kinds["integral"] | kinds["real floating"] | kinds["complex floating"]
    for kind, members in kinds.items():
        for n in NAMES:
            assert xp.isdtype(getattr(xp, n), kind) == (n in members), (n, kind)
    assert xp.isdtype(xp.float32, ("bool", "real floating"))
    assert xp.isdtype(xp.int8, xp.int8) and not xp.isdtype(xp.int8, xp.int16)
    assert xp.isdtype(xp.uint8, (xp.int8, "unsigned integer"))
    with pytest.raises(ValueError):
        xp.isdtype(xp.int8, "integer")
    with pytest.raises(TypeError):
        xp.isdtype("float128-ish", "numeric")


# ---- dtype objects and constants ------------------------------------------------------------

def test_dtype_objects():
    for n in NAMES:
        d = getattr(xp, n)
        np_name = "bool_" if n == "bool" else n
        assert d == np.dtype(getattr(np, np_name))
        assert hash(d) == hash(np.dtype(getattr(np, np_name)))
        assert xp.asarray(np.zeros(1, d)).dtype == d
        assert xp.zeros(2, dtype=d).dtype == d
    assert len({getattr(xp, n) for n in NAMES}) == 13
    assert xp.float32 != xp.float64


def test_constants():
    assert xp.e == math.e and xp.pi == math.pi
    assert xp.inf == math.inf and math.isnan(xp.nan)
    assert isinstance(xp.e, float) and isinstance(xp.nan, float)
    assert xp.newaxis is None
    x = xp.asarray([1.0, 2.0])
    check(x[xp.newaxis, :, xp.newaxis], np.array([1.0, 2.0])[None, :, None])


def test_like_functions_of_an_array_whose_size_only_the_run_knows():
    """zeros_like / ones_like / full_like / empty_like of a mask's result read no size: they
    work inside grad and compile, and NaN or inf in the array change nothing."""
    x = np.array([1.0, np.nan, -2.0, np.inf, 3.0])
    a = xp.asarray(x)
    m = a[xp.asarray(x != -2.0)]  # 4 elements, known at run time
    for fn, want in ((xp.zeros_like, 0.0), (xp.ones_like, 1.0), (xp.empty_like, 0.0),
                     (lambda t: xp.full_like(t, 2.5), 2.5)):
        got = fn(m)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(got), np.full(4, want))
    got = xp.full_like(m, 7, dtype=xp.int32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), np.full(4, 7))
    v = np.array([0.5, -1.0, 2.0, 3.0])

    def f(v):
        p = v[v > 0]
        return xp.sum(xp.ones_like(p) * p * p + xp.full_like(p, 2.0))

    np.testing.assert_allclose(np.asarray(xp.grad(f)(v)), np.where(v > 0, 2 * v, 0))
    np.testing.assert_allclose(np.asarray(xp.compile(f)(v)), np.sum(v[v > 0] ** 2 + 2.0))


def test_list_conversion_reads_no_value_in_its_own_thread_only():
    """While one thread converts a list (Arrays in it are stacked, not read), other threads
    read values as ever, and a conversion inside the conversion (an element's own
    ``__array__``) leaves the outer one probing."""
    import threading

    done = threading.Event()
    errors = []
    realized = xp.asarray(np.arange(3.0)) * 2
    np.asarray(realized)

    class Slow:
        def __array__(self, dtype=None, copy=None):
            for _ in range(200):
                np.asarray(realized)  # this thread, inside the probe: a realized value
            return np.ones(3)

    def reader():
        while not done.is_set():
            try:
                np.asarray(realized)
            except Exception as exc:  # NestedArray leaking from the other thread
                errors.append(exc)
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(20):
            np.testing.assert_array_equal(np.asarray(xp.asarray([Slow(), [1.0, 2.0, 3.0]])),
                                          [[1, 1, 1], [1, 2, 3]])
    finally:
        done.set()
        t.join()
    assert not errors

    a = xp.asarray(np.float64(1.5)) * 2  # pending

    class Inner:
        def __array__(self, dtype=None, copy=None):
            return np.asarray(xp.asarray([a, a]))  # a conversion inside the conversion

    got = xp.asarray([[a, a], Inner()])
    np.testing.assert_array_equal(np.asarray(got), [[3.0, 3.0], [3.0, 3.0]])


def test_integer_ranges_at_a_changing_start_share_one_program():
    """``arange(i, i + L)`` (a sliding window's positions) read each step: the start is a
    constant added to ``arange(L)``, lifted once it changes (it was an op parameter: a new
    program every step, 598 us a step)."""
    x = xp.asarray(np.arange(100.0) ** 2)
    xs = np.arange(100.0) ** 2
    for k, i in enumerate(range(0, 80, 3)):
        if k == 4:  # three values baked, the fourth lifted: then one program each
            before = xp.trace_cache_info()["misses"]
        assert float(xp.sum(x[xp.arange(i, i + 8)])) == xs[i:i + 8].sum()
        got = np.asarray(xp.arange(i, i + 9, 2, dtype=xp.int32))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, np.arange(i, i + 9, 2, dtype=np.int32))
        np.testing.assert_array_equal(np.asarray(xp.arange(-i, -i - 9, -3)),
                                      np.arange(-i, -i - 9, -3))
    assert xp.trace_cache_info()["misses"] == before


@pytest.mark.parametrize("dt", [None, xp.float32, xp.int64, xp.complex128])
def test_linspace_with_changing_endpoints_shares_one_program(dt):
    """``linspace(a, t, n)`` read each step with a new ``t``: the endpoints are constant
    inputs, lifted once they change (they were op parameters: a new program every step,
    ~100 us a step with kernels at hand, 270-310 us before that); values as NumPy's."""
    ndt = np.complex128 if dt == xp.complex128 else (dt or np.float64)
    for k, t in enumerate(np.linspace(1.0, 9.0, 12)):
        if k == 4:  # three values baked, the fourth lifted: then one program each
            before = xp.trace_cache_info()["misses"]
        for start, stop, endpoint in ((0.0, t, True), (-t, 2 * t, False), (-0.0, t, True)):
            got = np.asarray(xp.linspace(start, stop, 7, endpoint=endpoint, dtype=dt) * 1)
            want = np.linspace(start, stop, 7, endpoint=endpoint, dtype=ndt)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            assert np.signbit(got.real[0]) == np.signbit(want.real[0])
    assert xp.trace_cache_info()["misses"] == before


def test_linspace_special_endpoints_and_gradient():
    with np.errstate(all="ignore"):
        for start, stop in ((0.0, float("inf")), (float("nan"), 1.0), (2, 10**17 + 3)):
            np.testing.assert_array_equal(np.asarray(xp.linspace(start, stop, 5)),
                                          np.linspace(start, stop, 5))
    g = xp.grad(lambda w: xp.sum(w * xp.linspace(0.0, 1.0, 3)))(xp.asarray(np.ones(3)))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 0.5, 1.0])


def test_linspace_keeps_numpy_float32_and_complex64_endpoints():
    """NumPy computes in float32 for float32 endpoints (NEP 50): the constants keep that
    type (widened to float64 they gave 0.2 where NumPy gives 0.19999999)."""
    got = np.asarray(xp.linspace(np.float32(0.1), np.float32(0.7), 7, dtype=xp.float32))
    np.testing.assert_array_equal(
        got, np.linspace(np.float32(0.1), np.float32(0.7), 7, dtype=np.float32))
    got = np.asarray(xp.linspace(np.complex64(1 + 2j), 3.0, 4, dtype=xp.complex64))
    np.testing.assert_array_equal(
        got, np.linspace(np.complex64(1 + 2j), 3.0, 4, dtype=np.complex64))
