"""NumPy code on lazyarr arrays: functions with a lazyarr counterpart stay lazy and agree with
NumPy; the others materialize and return NumPy arrays."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.numpy_protocols import supported_functions

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((4, 2))


def _pending(r) -> bool:
    return r._v.owner is not None


LAZY_CASES = [
    ("sin", lambda m, a, b: m.sin(a)),
    ("add ndarray + lazy", lambda m, a, b: np.asarray(A) + a),
    ("sum axis", lambda m, a, b: m.sum(a, axis=0)),
    ("sum keepdims", lambda m, a, b: m.sum(a, axis=1, keepdims=True)),
    ("mean", lambda m, a, b: m.mean(a)),
    ("std ddof", lambda m, a, b: m.std(a, axis=0, ddof=1)),
    ("dot", lambda m, a, b: m.dot(a, b)),
    ("matmul", lambda m, a, b: m.matmul(a, b)),
    ("where", lambda m, a, b: m.where(a > 0, a, 0.0)),
    ("concatenate", lambda m, a, b: m.concatenate([a, a], axis=1)),
    ("stack", lambda m, a, b: m.stack([a, a])),
    ("transpose", lambda m, a, b: m.transpose(a)),
    ("reshape", lambda m, a, b: m.reshape(a, (4, 3))),
    ("clip", lambda m, a, b: m.clip(a, -0.5, 0.5)),
    ("maximum", lambda m, a, b: m.maximum(a, 0.1)),
    ("arctan2", lambda m, a, b: m.arctan2(a, 2.0)),
    ("power", lambda m, a, b: m.power(m.abs(a), 1.5)),
    ("add.reduce", lambda m, a, b: m.add.reduce(a, axis=1)),
    ("maximum.reduce", lambda m, a, b: m.maximum.reduce(a)),
    ("cumsum", lambda m, a, b: m.cumsum(a)),
    ("argmax", lambda m, a, b: m.argmax(a, axis=1)),
    ("sort", lambda m, a, b: m.sort(a, axis=0)),
    ("linalg.solve", lambda m, a, b: m.linalg.solve(a[:, :3] @ a[:, :3].T + 3 * m.eye(3),
                                                    a[:, :2])),
    ("linalg.inv", lambda m, a, b: m.linalg.inv(a[:, :3] @ a[:, :3].T + 3 * m.eye(3))),
    ("fft.fft real", lambda m, a, b: m.fft.fft(a)),
    ("expand_dims", lambda m, a, b: m.expand_dims(a, 0)),
    ("flip", lambda m, a, b: m.flip(a, axis=1)),
    # compiled (Cython) elementwise functions of lazyarr are matched like Python ones
    ("real", lambda m, a, b: m.real(a * (1 + 2j))),
    ("imag", lambda m, a, b: m.imag(a * (1 + 2j))),
]


@pytest.mark.parametrize("name,f", LAZY_CASES, ids=[c[0] for c in LAZY_CASES])
def test_lazy_and_equal(name, f):
    a, b = xp.asarray(A), xp.asarray(B)
    before = xp.trace_cache_info()["misses"] + xp.trace_cache_info()["hits"]
    r = f(np, a, b)
    assert isinstance(r, xp.Array), type(r)
    assert _pending(r)
    after = xp.trace_cache_info()["misses"] + xp.trace_cache_info()["hits"]
    assert after == before, "building the NumPy call ran a program"
    expected = f(np, A, B)
    got = np.asarray(r)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_multi_output_functions_stay_lazy():
    a = xp.asarray(A)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    assert all(isinstance(t, xp.Array) for t in (u, s, vh))
    np.testing.assert_allclose(np.asarray(s), np.linalg.svd(A, compute_uv=False))
    rows, cols = np.nonzero(xp.asarray(A) > 0)
    er, ec = np.nonzero(A > 0)
    assert isinstance(rows, xp.Array)
    np.testing.assert_array_equal(np.asarray(rows), er)
    np.testing.assert_array_equal(np.asarray(cols), ec)


@pytest.mark.parametrize("f", [
    lambda m, a: m.median(a, axis=0),
    lambda m, a: m.percentile(a, 30),
    lambda m, a: m.linalg.norm(a),
    lambda m, a: m.sum(a, axis=0, where=a > 0),
    lambda m, a: m.linalg.svd(a, compute_uv=False),
    lambda m, a: m.take(a, [0, 5]),
    lambda m, a: m.add.accumulate(a, axis=1),
    lambda m, a: m.corrcoef(a),
])
def test_fallback_materializes(f):
    r = f(np, xp.asarray(A))
    assert isinstance(r, (np.ndarray, np.generic))
    np.testing.assert_allclose(r, f(np, A))


def test_out_argument_updates_lazy_array():
    a = xp.asarray(A)
    out = xp.zeros((4,))
    np.median(a, axis=0, out=out)
    assert isinstance(out, xp.Array)
    np.testing.assert_allclose(np.asarray(out), np.median(A, axis=0))


def test_ufunc_out_arguments_as_numpy():
    """out= with ufuncs, against NumPy on NumPy arrays: the out array is returned (not a
    1-tuple), where=False keeps out's elements (it got np.empty's), a NumPy out beside a
    lazyarr operand is written (it raised "truth value ... ambiguous"), and two outputs."""
    mask = np.array([True, False, True, False])
    x = np.arange(4.0)
    want = np.full(4, -1.0)
    np.negative(x, out=want, where=mask)
    o = xp.full((4,), -1.0)
    assert np.negative(xp.asarray(x), out=o, where=mask) is o
    np.testing.assert_array_equal(np.asarray(o), want)
    n = np.zeros(3)
    assert np.add(xp.ones(3), 1.0, out=n) is n
    np.testing.assert_array_equal(n, [2.0, 2.0, 2.0])
    n = np.zeros(3)
    np.add.reduce(xp.ones((2, 3)), axis=0, out=n)
    np.testing.assert_array_equal(n, [2.0, 2.0, 2.0])
    lazy = xp.zeros(3)
    r = np.add(xp.ones(3), 1.0, out=lazy)
    assert r is lazy
    np.testing.assert_array_equal(np.asarray(r + 1), [3.0, 3.0, 3.0])
    assert np.add.reduce(xp.ones((2, 3)), axis=0, out=lazy) is lazy
    q, rem = xp.zeros(3), xp.zeros(3)
    got = np.divmod(xp.asarray([5.0, 7.0, 9.0]), 2.0, out=(q, rem))
    assert got[0] is q and got[1] is rem
    np.testing.assert_array_equal(np.asarray(q), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.asarray(rem), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("a", [np.array([1.0, np.nan, 3.0, np.nan, 1.0]),
                               np.array([[2, 1], [2, 5]]), np.array([np.nan, np.nan]),
                               np.array([1 + 1j, np.nan, complex(np.nan, 1)])])
def test_np_unique_counts_nan_once_as_numpy(a):
    """np.unique's default equal_nan=True gives one NaN; it ran the standard's unique_values,
    which keeps every NaN ([1, nan, nan] for [1, nan, nan])."""
    got = np.unique(xp.asarray(a))
    assert isinstance(got, xp.Array)
    np.testing.assert_array_equal(np.asarray(got), np.unique(a))


def test_ufunc_out_and_at_on_a_view_keep_the_bases_later_writes():
    """A view given as out= (or to ufunc.at) is written through to its base: it must first
    read the base's current value, as setitem and the in-place operators do (it wrote its
    stale elements back over b[0] = 5)."""
    b = xp.zeros(4)
    v = b[:2]
    b[0] = 5.0
    np.add(v, 1.0, out=v, where=np.array([False, True]))
    np.testing.assert_array_equal(np.asarray(b), [5.0, 1.0, 0.0, 0.0])
    b = xp.zeros(4)
    v = b[:2]
    b[1] = 5.0
    np.add.at(v, [0], 1.0)
    np.testing.assert_array_equal(np.asarray(b), [1.0, 5.0, 0.0, 0.0])
    b = xp.arange(4.0)
    r = xp.reshape(b, (2, 2), copy=False)
    b[0] = 9.0
    np.multiply(r, 2.0, out=r)
    np.testing.assert_array_equal(np.asarray(b), [18.0, 2.0, 4.0, 6.0])


def test_supported_list_is_generated_and_current():
    s = supported_functions()
    assert {"sin", "add", "arcsin", "matmul"} <= set(s["ufuncs"])
    assert {"sum", "concatenate", "where", "dot", "linalg.solve", "fft.fft"} <= set(s["functions"])
    assert "median" not in s["functions"]
    root = pathlib.Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen", root / "tools" / "gen_numpy_support.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (root / "docs" / "numpy_support.md").read_text() == gen.render(), \
        "docs/numpy_support.md is stale: run tools/gen_numpy_support.py"


@pytest.mark.parametrize("name", ["gradient", "diff"])
def test_numpy_functions_are_not_matched_to_lazyarr_transforms(name):
    """Only array functions match NumPy names: np.gradient is finite differences, not
    lazyarr.gradient (reverse-mode differentiation), which shares its name."""
    from lazyarr.array.numpy_protocols import function_target

    target = function_target(getattr(np, name))
    assert target is None or target.__module__.startswith("lazyarr.array"), target


def test_np_gradient_is_numpys_finite_differences():
    data = np.array([1.0, 4.0, 9.0, 16.0])
    assert np.array_equal(np.asarray(np.gradient(xp.asarray(data))), np.gradient(data))


def test_ufunc_at_updates_the_array_and_nothing_it_shares_a_buffer_with():
    """np.add.at writes into its first argument even when it is read-only (NumPy 2.4): on a
    lazyarr array it is a functional update, as the in-place operators are."""
    b = xp.arange(6.0) * 1
    q = b * 1
    np.asarray(q)
    np.add.at(b, [0, 0, 2], 1)
    np.testing.assert_array_equal(np.asarray(b), [2.0, 1, 3, 3, 4, 5])
    np.testing.assert_array_equal(np.asarray(q), np.arange(6.0))
    np.testing.assert_array_equal(np.asarray(xp.arange(6.0) * 1), np.arange(6.0))
    base = xp.arange(6.0) * 1
    view = base[1:4]
    np.multiply.at(view, [0], 10.0)
    np.testing.assert_array_equal(np.asarray(view), [10.0, 2, 3])
    np.testing.assert_array_equal(np.asarray(base), [0.0, 10, 2, 3, 4, 5])


@pytest.mark.parametrize("x,lo,hi", [
    (np.array([0, 1, 3], np.int8), 0.5, 2.5),  # float bounds: float64
    (np.array([0, 1, 3], np.int8), None, 2.5),
    (np.array([0, 1, 3], np.int8), 1, 2),  # int bounds keep int8
    (np.array([0, 1, 3], np.int8), -300, 300),  # ... outside its range too
    (np.array([0, 1, 3], np.uint8), -1, 2),
    (np.array([0, 1, 3], np.int8), np.int16(1), 2),  # a NumPy scalar promotes
    (np.array([0.0, 1.0, 3.0], np.float32), 0.5, 2.5),  # weak scalars keep float32
    (np.array([0, 1, 3], np.int8), np.array([1, 1, 1], np.int16), xp.asarray(np.int32(2))),
])
def test_np_clip_promotes_as_numpy(x, lo, hi):
    """np.clip on a lazyarr array gives NumPy's dtype (the result type of x and the bounds);
    the standard's clip, which it ran, keeps x's dtype (int8 [0 1 2] for float bounds)."""
    got = np.clip(xp.asarray(x), lo, hi)
    want = np.clip(x, *(np.asarray(b) if isinstance(b, xp.Array) else b for b in (lo, hi)))
    assert isinstance(got, xp.Array)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(got), want)
    if x.dtype == np.int8:  # the standard's clip keeps x's dtype
        assert xp.clip(xp.asarray(x), lo, hi).dtype == xp.int8


@pytest.mark.parametrize("fname", ["std", "var"])
@pytest.mark.parametrize("ddof", [0, 1, 2, 3, 5, 2.5])
@pytest.mark.parametrize("data", [[1.0, 2.0, 4.0], [2.0, 2.0, 2.0], [[1.0, 2.0, 4.0]]])
def test_np_std_and_var_divide_by_n_minus_ddof_clamped_at_zero(fname, ddof, data):
    """NumPy divides by max(N - ddof, 0): inf for a nonzero sum of squares (the standard's
    var gives NaN wherever N - correction <= 0)."""
    a = np.array(data)
    with np.errstate(all="ignore"):
        want = getattr(np, fname)(a, ddof=ddof, axis=-1)
    got = getattr(np, fname)(xp.asarray(a), ddof=ddof, axis=-1)
    assert isinstance(got, xp.Array)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14)


def test_np_meshgrid_and_broadcast_arrays_return_tuples_as_numpy():
    """NumPy 2 returns tuples; the standard's meshgrid and broadcast_arrays return lists."""
    a, b = np.arange(3.0), np.arange(2.0)
    for f, args in ((np.meshgrid, (a, b)), (np.broadcast_arrays, (a, b[:, None]))):
        got = f(*map(xp.asarray, args))
        want = f(*args)
        assert type(got) is tuple and type(want) is tuple
        assert all(isinstance(g, xp.Array) for g in got)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(np.asarray(g), w)
    assert type(xp.meshgrid(xp.asarray(a), xp.asarray(b))) is list
