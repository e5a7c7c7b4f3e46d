"""Generated reduction kernels (``Reduce``, and ``FusedReduce`` with an elementwise prologue
in the same pass) agree with the reference on hypothesis inputs: every dtype, every kind, any
axes, keepdims, broadcast and non-contiguous operands, empty and 0-d arrays, NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lazyarr.exec_cpu._vm import ReduceThunk

from lazyarr.array.ops.composite import Composite, FusedReduce
from lazyarr.array.ops.reduce import Reduce
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

ALL = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
       "float32", "float64", "complex64", "complex128"]
CASES = ([("sum", t) for t in ALL] + [("prod", "int32"), ("prod", "float64"),
         ("mean", "float32"), ("mean", "complex128"), ("max", "float32"), ("max", "int8"),
         ("min", "float64"), ("min", "uint16"), ("all", "bool"), ("any", "float32"),
         ("max", "bool")])


def _out_dtype(kind, dt):
    if kind in ("all", "any"):
        return np.dtype(bool)
    if kind in ("sum", "prod") and dt.kind in "biu":
        return np.dtype(np.uint64 if dt.kind == "u" else np.int64)
    return dt


def _values(rng, dt, shape, with_nan):
    if dt.kind == "b":
        return rng.random(shape) < 0.7
    if dt.kind in "iu":
        return rng.integers(0, 5, shape).astype(dt)
    v = rng.standard_normal(shape)
    if dt.kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    v = v.astype(dt)
    if with_nan and v.size:
        v.flat[rng.integers(0, v.size)] = np.nan
    return v


@st.composite
def reduce_cases(draw):
    nd = draw(st.integers(0, 3))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 4] if draw(st.integers(0, 4)) else [0]))
                  for _ in range(nd))
    if nd and draw(st.booleans()):
        shape = tuple(max(d, 1) for d in shape[:-1]) + (draw(st.sampled_from([500, 7000])),)
    axes = tuple(sorted(draw(st.sets(st.integers(0, nd - 1), max_size=nd)))) if nd else ()
    y_shape = tuple(1 if draw(st.booleans()) else d for d in shape)
    return (shape, y_shape, axes, draw(st.booleans()), draw(st.booleans()),
            draw(st.sampled_from(["c", "rev", "step"])), draw(st.integers(0, 2**32 - 1)),
            draw(st.booleans()))


def _layout(arr, how):
    if arr.ndim == 0 or how == "c":
        return arr
    if how == "rev":
        return np.flip(np.flip(arr).copy())
    base = np.zeros(arr.shape[:-1] + (arr.shape[-1] * 2,), arr.dtype)
    base[..., ::2] = arr
    return base[..., ::2]


@pytest.mark.parametrize("kind,dtname", CASES)
@given(case=reduce_cases())
def test_reduce_kernels_match_reference(kind, dtname, case):
    shape, y_shape, axes, keepdims, fused, how, seed, with_nan = case
    dt = np.dtype(dtname)
    if kind in ("max", "min") and any(shape[a] == 0 for a in axes):
        return  # no identity: an error raised when the node is built
    rng = np.random.default_rng(seed)
    red = Reduce(kind, axes, keepdims, _out_dtype(kind, dt))
    x = _layout(_values(rng, dt, shape, with_nan), how)
    if fused:
        y = _values(rng, dt, y_shape, False)
        name = "logical_or" if dt.kind == "b" else "multiply"
        comp = Composite((dt, dt), ((name, (0, 1), dt, None), ("add" if dt.kind != "b" else
                                                              "logical_and", (2, 0), dt, None)),
                         (3,))
        ins, args = [Var.input(dt, shape), Var.input(dt, y_shape)], [x, y]
        out, = apply(FusedReduce(comp, red), *ins)
    else:
        ins, args = [Var.input(dt, shape)], [x]
        out, = apply(red, *ins)
    prog = link(FunctionGraph(ins, [out]))
    assert isinstance(prog.thunks[0], ReduceThunk)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = out.owner.op.perform(*args)
        got = prog(args)[0]
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if dt.kind in "biu" or kind in ("all", "any"):
        np.testing.assert_array_equal(got, ref)
    else:
        tol = 1e-4 if dt in (np.float32, np.complex64) else 1e-10
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 10, equal_nan=True)


@pytest.mark.parametrize("dtname", ["complex64", "complex128"])
def test_complex_mean_of_non_finite_values_matches_numpy(dtname):
    """NumPy divides a complex sum by ``count + 0j``: an infinite part makes the other part NaN
    (the kernel used to divide by a real count, keeping ``-inf+0j``)."""
    dt = np.dtype(dtname)
    inf, nan = np.inf, np.nan
    x = np.array([[complex(-inf, 0), 1 + 1j, complex(0, inf), complex(nan, 1), 2 - 1j],
                  [1 + 1j, 1 + 1j, 2 + 0j, 3 + 0j, complex(inf, inf)]], dtype=dt)
    for axes in ((0,), (1,), (0, 1)):
        v = Var.input(dt, x.shape)
        out, = apply(Reduce("mean", axes, False, dt), v)
        prog = link(FunctionGraph([v], [out]))
        assert isinstance(prog.thunks[0], ReduceThunk)
        with np.errstate(all="ignore"):
            want = np.mean(x.astype(np.complex128), axis=axes).astype(dt)
            got = prog([x])[0]
        np.testing.assert_array_equal(got, want)


def _same_parts(got, want):
    """Equal part by part: both NaN, or the same value with the same sign (of a zero too)."""
    for g, w in ((got.real, want.real), (got.imag, want.imag)):
        nan = np.isnan(w)
        assert np.array_equal(np.isnan(g), nan)
        assert np.array_equal(g[~nan], w[~nan])
        assert np.array_equal(np.signbit(g[~nan]), np.signbit(w[~nan]))


@pytest.mark.parametrize("dtname", ["complex64", "complex128"])
def test_complex_prod_of_special_values_matches_numpy(dtname):
    """NumPy's complex ``prod`` is ``((1 + 0j) * x0) * x1 * ...``, one running product of
    textbook multiplications. The kernel multiplied its block and row products into totals
    that started at 1 + 0j each, which is no identity where a part is infinite: the product
    of ``[inf + 0j]`` (NumPy: inf + nanj, ``(1 + 0j) * (inf + 0j)``) came out nan + nanj, and
    416 of 4,802 pairs of values with parts in (inf, -inf, nan, 0, -0, 1, 2) differed from
    NumPy. Every pair and triple of values with parts in (inf, -inf, nan, 0, -0, 1), each as a
    row (reduced along it, and along a column of the transpose), and a long row (more than
    one block); the reference (NumPy's ``prod``) agrees too."""
    dt = np.dtype(dtname)
    parts = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0]
    values = np.array([complex(a, b) for a in parts for b in parts], dt)
    long = np.ones((2, 5000), dt)
    long[:, 4000] = [complex(0, 1), complex(-0.0, -0.0)]
    long[:, 4999] = complex(np.inf, 0)
    tables = [np.array(np.meshgrid(*[values] * n, indexing="ij")).reshape(n, -1).T.copy()
              for n in (1, 2, 3)] + [long]
    for x in tables:
        for axis, arg in ((1, x), (0, x.T)):
            v = Var.input(dt, arg.shape)
            out, = apply(Reduce("prod", (axis,), False, dt), v)
            prog = link(FunctionGraph([v], [out]))
            assert isinstance(prog.thunks[0], ReduceThunk)
            with np.errstate(all="ignore"):
                want = np.prod(x, axis=1)
                _same_parts(prog([arg])[0], want)
                _same_parts(out.owner.op.perform(arg), want)


def test_leading_axis_sums_take_the_column_path():
    """A float sum or mean over leading axes (``x.sum(0)``: bias gradients) adds whole rows
    into per-column accumulators (`ReduceThunk.cols`, `_colsum.pxi`); values against a float64
    NumPy oracle for several column blocks, an empty reduction, keepdims, and inputs the
    path does not take (a non-contiguous one, other axes, integers, a fused prologue), which
    the generated kernels reduce."""
    def program(red, shape, dt):
        v = Var.input(dt, shape)
        out, = apply(red, v)
        prog = link(FunctionGraph([v], [out]))
        assert isinstance(prog.thunks[0], ReduceThunk)
        return prog

    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    rng = np.random.default_rng(11)
    cases = [("sum", (0,), (10, 1000), f32, False, 1), ("mean", (0, 1), (3, 4, 2500), f64,
             True, 2), ("sum", (0,), (0, 600), f32, False, 1), ("mean", (0,), (60, 500), f32,
             False, 2), ("sum", (1,), (60, 500), f32, False, 0), ("sum", (0,), (4, 7), f64,
             False, 1)]
    for kind, axes, shape, dt, keep, cols in cases:
        x = rng.standard_normal(shape).astype(dt)
        prog = program(Reduce(kind, axes, keep, dt), shape, dt)
        assert prog.thunks[0].cols == cols
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(np, kind)(x.astype(np.float64), axis=axes, keepdims=keep)
        for arg in (x, np.asfortranarray(x)):  # the column path, then the kernel's
            got = prog([arg])[0]
            assert got.shape == ref.shape and got.dtype == dt
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-5, equal_nan=True)
    xi = rng.integers(0, 9, (6, 50)).astype(np.int32)
    prog = program(Reduce("sum", (0,), False, np.dtype(np.int64)), xi.shape, xi.dtype)
    assert prog.thunks[0].cols == 0
    np.testing.assert_array_equal(prog([xi])[0], xi.sum(0))


@pytest.mark.parametrize("shape, axis", [((1 << 21,), None), ((2, 1 << 20), 1),
                                         ((1 << 20, 2), 0)])
def test_float64_sums_are_as_accurate_as_numpy(shape, axis):
    """A long float64 row is summed in blocks (each folded into the row's total), so the
    error grows with the number of blocks: within a few ulp of the exact sum where NumPy's
    pairwise summation is (one running SIMD sum was ~100x further off at 2^21 elements), and
    no worse than NumPy's where it adds row after row (axis 0)."""
    import math

    import lazyarr as xp

    a = np.random.default_rng(5).random(shape) + 1.0
    cols = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, -1).reshape(
        -1, a.shape[axis])
    exact = np.array([math.fsum(c) for c in cols])

    def error(total):
        return np.max(np.abs(np.atleast_1d(total) - exact) / exact)

    bound = max(4e-16, error(np.sum(a, axis=axis)))
    assert error(np.asarray(xp.sum(xp.asarray(a), axis=axis))) <= bound
    assert error(np.asarray(xp.mean(xp.asarray(a), axis=axis)) * cols.shape[1]) <= bound


@pytest.mark.parametrize("kind", ["sum", "prod"])
@pytest.mark.parametrize("dtname", ["uint64", "uint32", "int32", "int16"])
def test_a_float_reduced_into_an_integer_dtype_converts_as_astype_does(kind, dtname):
    """``sum(x, dtype=uint64)`` of negative floats: each value is converted as `astype`
    converts it (NumPy's values: -7.0 wraps to 2**64 - 7). The kernel's plain C cast is
    undefined there, and AVX-512 saturated it to 2**64 - 1 (the sum came out 4, not
    2**64 - 2)."""
    import lazyarr as xp

    x = np.array([-7.0, 5.0, -2.5, 3.75, -1e3])
    got = getattr(xp, kind)(xp.asarray(x), dtype=getattr(xp, dtname))
    for _ in range(2):  # NumPy's first run, then the kernel
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = getattr(np, kind)(x.astype(dtname), dtype=dtname)
        assert np.asarray(got)[()] == want
        got = getattr(xp, kind)(xp.asarray(x), dtype=getattr(xp, dtname))
