"""Generated elementwise kernels agree with the reference VM (NumPy) for every dtype and every
scalar function, on broadcast, non-contiguous, negative-stride, 0-d and empty inputs, below and
above the OpenMP threshold, with NaN, +-inf and -0.0 among the values.

One composite per dtype computes every function of the table at once (few kernels to compile).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lazyarr.exec_cpu._vm import ElemThunk

import lazyarr as xp
from lazyarr.array.ops.composite import Composite
from lazyarr.array.ops.elemwise import elementwise_types
from lazyarr.array.ops.scalar_table import TABLE
from lazyarr.exec_cpu import codegen, link
from lazyarr.exec_cpu.codegen import Kernel
from lazyarr.graph import FunctionGraph, Var, apply
from lazyarr.rewrites.config import options

DTYPES = [np.dtype(t) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                "uint32", "uint64", "float32", "float64", "complex64",
                                "complex128")]
BOOL = np.dtype(bool)
#: correctly rounded (or exact) in both NumPy and C: compared bit for bit
EXACT = {"add", "subtract", "multiply", "divide", "floor_divide", "remainder", "maximum",
         "minimum", "negative", "positive", "abs", "square", "sqrt", "floor", "ceil", "trunc",
         "round", "sign", "copysign", "nextafter", "reciprocal", "conj", "real", "imag"}


def all_functions(dt: np.dtype) -> tuple[Composite, list[str]]:
    """A composite over inputs (x, y, cond, e) of dtype ``dt`` (cond: bool; e: a non-negative
    exponent) whose outputs are every table function defined on ``dt`` and every cast."""
    steps, names = [], []
    for name, fn in TABLE.items():
        try:
            comp_dt, res_dt = elementwise_types(fn, dt)
        except TypeError:
            continue
        if comp_dt != dt:
            continue
        if name == "where":
            args = (2, 0, 1)
        elif name == "pow":
            args = (0, 3)
        else:
            args = (0, 1)[: fn.nin]
        steps.append((name, args, res_dt, None))
        names.append(name)
    for to in DTYPES:
        if to != dt:
            steps.append(("cast", (0,), to, None))
            names.append(f"cast_{to}")
    steps.append(("const", (), dt, 1 if dt != BOOL else True))
    steps.append(("add" if dt != BOOL else "logical_or", (0, 4 + len(steps) - 1), dt, None))
    names.append("plus_const")
    keep = [k for k in range(len(steps)) if steps[k][0] != "const"]
    comp = Composite((dt, dt, BOOL, dt), tuple(steps), tuple(4 + k for k in keep))
    return comp, names


def _values(rng, dt, n, special: bool, nonneg: bool = False):
    if dt == BOOL:
        return rng.random(n) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if nonneg:
            return rng.integers(0, 6, n).astype(dt)
        lo, hi = (info.min, info.max) if rng.random() < 0.3 else (max(info.min, -20), 20)
        v = rng.integers(lo, hi, n, dtype=dt, endpoint=True)
        if special and n:
            edge = [info.min, info.max, 0, info.max if dt.kind == "u" else -1]
            v[rng.integers(0, n, min(n, 3))] = rng.choice(edge)
        return v
    if dt.kind == "f":
        v = (rng.standard_normal(n) * rng.choice([1, 4, 100])).astype(dt)
        if nonneg:
            v = np.abs(v)
        if special and n:
            sp = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5], dtype=dt)
            idx = rng.integers(0, n, max(1, n // 4))
            v[idx] = rng.choice(sp, len(idx))
        return v
    real = np.dtype(f"f{dt.itemsize // 2}")
    v = (rng.standard_normal(n) * 3).astype(real) + 1j * (rng.standard_normal(n) * 3).astype(real)
    return v.astype(dt)


def _layout(rng, arr: np.ndarray, how: str) -> np.ndarray:
    """The same values in another memory layout."""
    if arr.ndim == 0 or how == "c":
        return arr
    if how == "rev":
        return np.flip(np.flip(arr).copy())
    if how == "f":
        return np.asfortranarray(arr)
    base = np.empty(arr.shape[:-1] + (arr.shape[-1] * 2,), arr.dtype)
    base[..., ::2] = arr
    return base[..., ::2]


@st.composite
def cases(draw):
    nd = draw(st.integers(0, 3))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 5])) if draw(st.integers(0, 9)) else 0
                  for _ in range(nd))
    if nd and draw(st.booleans()):  # large enough for OpenMP
        shape = shape[:-1] + (draw(st.sampled_from([700, 3001])),)
        shape = tuple(2 if d == 0 else d for d in shape)
    y_shape = tuple(1 if draw(st.integers(0, 2)) == 0 else d for d in shape)
    y_shape = y_shape[draw(st.integers(0, nd)):]
    if draw(st.integers(0, 3)) == 0:
        y_shape = (1,) * len(y_shape)
    lays = [draw(st.sampled_from(["c", "c", "rev", "f", "step"])) for _ in range(4)]
    return shape, y_shape, lays, draw(st.integers(0, 2**32 - 1)), draw(st.booleans())


def _check(name, got, ref, dt_in):
    assert got.shape == ref.shape and got.dtype == ref.dtype, name
    if ref.dtype.kind in "biu":
        if name.startswith("cast_") and dt_in.kind in "fc":
            return  # float -> int out of range is implementation-defined; checked elsewhere
        np.testing.assert_array_equal(got, ref, err_msg=name)
        return
    if (name in EXACT and dt_in.kind != "c") or name.startswith("cast_"):
        if ref.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=name)
            ok = ~np.isnan(ref)
            np.testing.assert_array_equal(got[ok], ref[ok], err_msg=name)
            np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(ref[ok]), err_msg=name)
            return
    f32 = ref.dtype in (np.float32, np.complex64)
    np.testing.assert_allclose(got, ref, rtol=2e-5 if f32 else 1e-11, atol=1e-6 if f32 else 1e-13,
                               equal_nan=True, err_msg=name)


@pytest.mark.parametrize("dt", DTYPES, ids=str)
@given(case=cases())
def test_every_function_every_layout(dt, case):
    shape, y_shape, lays, seed, special = case
    rng = np.random.default_rng(seed)
    comp, names = all_functions(dt)
    size = int(np.prod(shape))
    x = _layout(rng, _values(rng, dt, size, special).reshape(shape), lays[0])
    y = _layout(rng, _values(rng, dt, int(np.prod(y_shape)), special).reshape(y_shape), lays[1])
    c = _layout(rng, (rng.random(size) < 0.5).reshape(shape), lays[2])
    e = _layout(rng, _values(rng, dt, size, False, nonneg=True).reshape(shape), lays[3])
    ins = [Var.input(dt, shape), Var.input(dt, y_shape), Var.input(BOOL, shape),
           Var.input(dt, shape)]
    outs = apply(comp, *ins)
    fg = FunctionGraph(ins, outs)
    prog = link(fg)
    assert isinstance(prog.thunks[0], ElemThunk)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = comp.evaluate([x, y, c, e])
    got = prog([x, y, c, e])
    for name, g, r in zip(names, got, ref):
        _check(name, g, r, dt)
    again = prog([x, y, c, e])  # buffers reused across calls give the same results
    for name, g, r in zip(names, again, ref):
        _check(name, g, r, dt)


@pytest.mark.parametrize("it", [xp.int8, xp.uint8, xp.int16, xp.uint16])
def test_float_to_narrow_int_and_back_in_one_kernel(it):
    """float -> int8 -> float fused: NumPy's values (the low bits of the 32-bit conversion,
    +0.0 for -0.5), not trunc()."""
    x = np.array([-0.5, -0.25, 130.7, -200.2, 1.5, 70000.3] * 4)
    got = np.asarray(xp.astype(xp.astype(xp.asarray(x), it), xp.float64))
    with np.errstate(invalid="ignore"):
        want = x.astype(np.dtype(it)).astype(np.float64)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[:2]).any()


#: in range, in (-1, 0), NaN, +-inf and out of every integer type's range
WIDE_CAST_VALUES = [-0.7, -0.25, 2.5, -3.5, 1e9 + 0.5, np.nan, np.inf, -np.inf, 3e9, -3e9, 5e9,
                    -6.64e15, 1e19, -1e19, 1e20, 2.0**63, 2.0**64]


def _numpy_cast_each(x, it):
    """``x.astype(it)`` element by element: NumPy's scalar conversion, the x86 instruction's
    value out of range (its vector loop gives other values for uint32 in some lanes)."""
    with np.errstate(invalid="ignore"):
        return np.concatenate([x[i:i + 1].astype(it) for i in range(x.size)])


@pytest.mark.parametrize(("ft", "back"), [(xp.float32, xp.float32), (xp.float64, xp.float64),
                                          (xp.float64, xp.float32)])
@pytest.mark.parametrize("it", [xp.int32, xp.int64, xp.uint32, xp.uint64])
def test_float_to_wide_int_and_back_in_one_kernel(ft, it, back):
    """float -> int32/int64/uint32/uint64 -> float fused: NumPy's values (+0.0 for -0.7, the
    lone cast's value for NaN, inf and out of range), not trunc() (GCC folds the round trip
    without trapping math)."""
    x = np.array(WIDE_CAST_VALUES * 4, np.dtype(ft))
    got = np.asarray(xp.astype(xp.astype(xp.asarray(x), it), back))
    want = _numpy_cast_each(x, np.dtype(it)).astype(np.dtype(back))
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[want == 0]).any()


@pytest.mark.parametrize("ft", [xp.float32, xp.float64])
@pytest.mark.parametrize("it", [xp.int8, xp.uint8, xp.int16, xp.uint16, xp.int32, xp.uint32,
                                xp.int64, xp.uint64])
def test_float_to_int_cast_agrees_with_numpy_out_of_range(ft, it):
    """The lone kernel's float -> integer values equal NumPy's scalar conversion (constant
    folding's, the reference VM's) for negatives, NaN, +-inf and out of range: uint64 wraps
    negatives and gives 0 at 2**64 and beyond (a plain C cast gave 2**64 - 1 with AVX-512)."""
    x = np.array(WIDE_CAST_VALUES * 4, np.dtype(ft))
    with options(mode="debug"):  # the reference VM gives the same values
        got = np.asarray(xp.astype(xp.asarray(x), it))
    np.testing.assert_array_equal(got, _numpy_cast_each(x, np.dtype(it)))
    for v in WIDE_CAST_VALUES:
        folded = xp.astype(xp.full((), v, dtype=ft), it)
        assert int(np.asarray(folded)) == int(_numpy_cast_each(np.array([v], np.dtype(ft)),
                                                               np.dtype(it))[0])


@pytest.mark.parametrize("n", [1, 3, 8, 1001])
def test_complex128_to_complex64_and_back_in_one_kernel(n):
    """The narrowing rounds each part to float (and overflows to inf) in every element: the
    scalar remainder of the simd loop kept the double values (GCC 12 dropped the casts)."""
    z = np.linspace(0.1, 2.0, n) + 0.2j
    z[-1] = complex(1e300, -0.3)
    got = np.asarray(xp.astype(xp.astype(xp.asarray(z), xp.complex64), xp.complex128))
    with np.errstate(over="ignore"):
        want = z.astype(np.complex64).astype(np.complex128)
    np.testing.assert_array_equal(got, want)
    diff = np.asarray(xp.astype(xp.asarray(z), xp.complex64) - xp.asarray(z))
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(diff, z.astype(np.complex64) - z)


def _c_pow(dt: np.dtype):
    """C99's pow/powf from the system libm (its special cases are the array API's), per element."""
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    f = libm.pow if dt == np.float64 else libm.powf
    ct = ctypes.c_double if dt == np.float64 else ctypes.c_float
    f.restype, f.argtypes = ct, [ct, ct]
    return lambda xs, p: np.array([f(float(v), p) for v in xs], dt)


POW_BASES = [-np.inf, -0.0, 0.0, np.inf, np.nan, -2.0, -1.0, -0.5, 1e-30, 0.25, 1.0, 3.0, 7.5,
             1e30]
CONST_EXPONENTS = [0.5, -0.5, 2.0, 3.0, -1.0, -2.0, 1 / 3, 1.5, 0.25, 2.5, -1.5]


def _assert_pow_matches(got, want, err_msg):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=err_msg)
    exact = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(got[exact], want[exact], err_msg=err_msg)
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(want[exact]), err_msg=err_msg)
    ok = ~exact
    np.testing.assert_allclose(got[ok], want[ok], rtol=4 * np.finfo(got.dtype).eps, err_msg=err_msg)


@pytest.mark.parametrize("dt", [np.dtype(np.float32), np.dtype(np.float64)], ids=str)
def test_pow_by_a_constant_exponent_keeps_the_special_cases(dt):
    """A fused ``x ** c`` has ``c`` as a C literal: GCC 12 vectorized pow(x, 0.5) into sqrt,
    which gives -0 at -0 and NaN at -inf (C and the standard: +0, +inf) in the vector part
    only. Every element, vector part or scalar tail, and the reference agree with C's pow."""
    x = np.array(POW_BASES * 3, dt)  # 42 elements: vector body and scalar tail
    c_pow = _c_pow(dt)
    for p in CONST_EXPONENTS:
        comp = Composite((dt,), (("const", (), dt, p), ("pow", (0, 1), dt, None)), (2,))
        xin = Var.input(dt, x.shape)
        prog = link(FunctionGraph([xin], apply(comp, xin)))
        want = c_pow(x, p)
        with np.errstate(all="ignore"):
            ref = comp.evaluate([x])[0]
        _assert_pow_matches(prog([x])[0], want, f"kernel, x ** {p}")
        _assert_pow_matches(ref, want, f"reference, x ** {p}")


def _nan_bits(dt: np.dtype, sign: int, payload: int) -> np.ndarray:
    """A 0-d quiet NaN of real dtype ``dt`` with the given sign bit and payload bits."""
    bits, uint, man = {4: (32, np.uint32, 23), 8: (64, np.uint64, 52)}[dt.itemsize]
    word = (sign << (bits - 1)) | (((1 << (bits - 1 - man)) - 1) << man) | (1 << (man - 1))
    return np.array(word | payload, uint).view(dt)


@pytest.mark.parametrize("dt", [np.dtype(t) for t in ("float32", "float64", "complex64",
                                                      "complex128")], ids=str)
def test_a_nan_constant_keeps_its_sign_and_payload_in_the_kernel(dt):
    """A fused constant is a C literal; every NaN was written ``NAN``, so a -NaN constant came
    out +NaN: ``copysign(x * 2, -nan) + 1`` gave [3, 5, 7] where NumPy (and the reference)
    gives [-1, -3, -5], and debug mode raised. The literal now has the constant's exact bits
    (sign and payload) in its own dtype; the kernel's output, the reference's and NumPy's
    agree bit for bit."""
    part = np.dtype(dt.char.lower()) if dt.kind == "c" else dt
    uint = np.uint32 if part.itemsize == 4 else np.uint64
    nans = [_nan_bits(part, s, p)[()] for s in (0, 1) for p in (0, 5)]
    x = np.array([1.0, -2.0, 0.0, 3.0], dt)
    for c in nans:
        value = complex(c, nans[-1 - nans.index(c)]) if dt.kind == "c" else float(c)
        steps = [("const", (), dt, value)]
        if dt.kind == "f":
            steps.append(("copysign", (0, 1), dt, None))
        comp = Composite((dt,), tuple(steps), (1, len(steps)))
        xin = Var.input(dt, x.shape)
        prog = link(FunctionGraph([xin], apply(comp, xin)))
        assert isinstance(prog.thunks[0], ElemThunk)
        got = prog([x])
        ref = comp.evaluate([x])
        want = [np.full(x.shape, np.asarray(value).astype(dt))]
        if dt.kind == "f":
            want.append(np.copysign(x, dt.type(value)))
        for g, r, w in zip(got, ref, want):
            np.testing.assert_array_equal(g.view(uint), w.view(uint))
            np.testing.assert_array_equal(r.view(uint), w.view(uint))
    if dt.kind == "f":  # through the namespace: a Python float beside an array is a constant
        ax = xp.asarray(np.array([1.0, -2.0, 3.0], dt))
        got = np.asarray(xp.copysign(ax * 2.0, -float("nan")) + 1.0)
        np.testing.assert_array_equal(got, np.array([-1.0, -3.0, -5.0], dt))
        c = float(nans[-1])
        got = np.asarray(xp.where(ax > 0, ax * 2.0, c))
        want = np.where(np.asarray(ax) > 0, np.asarray(ax) * 2, np.asarray(c).astype(dt))
        np.testing.assert_array_equal(got.view(uint), want.view(uint))


def _affine_chain(n: int) -> Composite:
    """``x * 1.0001 + 0.5`` applied ``n`` times, as one float64 composite."""
    f8 = np.dtype(np.float64)
    steps = [("const", (), f8, 1.0001), ("const", (), f8, 0.5)]
    last = 0
    for _ in range(n):
        steps.append(("multiply", (last, 1), f8, None))
        steps.append(("add", (len(steps), 2), f8, None))
        last = len(steps)
    return Composite((f8,), tuple(steps), (last,))


def test_a_long_expression_compiles_without_the_quadratic_compiler_passes():
    # GCC's points-to analysis and graph-colouring register allocator took time growing as
    # the square of the expression's length; the functions holding a long one's loop opt out
    long_src = Kernel(_affine_chain(codegen.LONG_BODY), (False,)).source(True)
    span, contig = (next(line for line in long_src.splitlines() if f"void {name}(" in line)
                    for name in ("la_span", "la_contig"))
    assert "no-tree-pta" in span and "ira-algorithm=priority" in contig
    assert "no-tree-pta" not in Kernel(_affine_chain(8), (False,)).source(True)

    def chain(w):
        for _ in range(codegen.LONG_BODY):
            w = w * 1.0001 + 0.5
        return w

    x = np.linspace(-3.0, 3.0, 7)
    got = np.asarray(xp.compile(chain)(xp.asarray(x)))
    np.testing.assert_array_equal(got, chain(x))  # exact: no contraction into fused multiply-adds


def test_linking_a_graph_again_generates_no_kernel_code(monkeypatch):
    """A kernel is made once per composite and the parameters its code depends on: linking
    the same graph again (a trace-cache miss of a known structure) generates and hashes no C;
    an operand broadcast from one element is such a parameter, so that node gets a kernel of
    its own. Results as NumPy's."""
    from lazyarr.exec_cpu import ccache, native

    f = np.dtype(np.float64)
    x, y = Var.input(f, (5,)), Var.input(f, (5,))
    one = Var.input(f, (1,))
    comp = Composite((f, f), (("multiply", (0, 1), f, None), ("exp", (2,), f, None)), (3,))

    def graph(b):
        return FunctionGraph([x, b], apply(comp, x, b))

    xn, yn, on = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5), np.array([3.0])
    assert_close = np.testing.assert_allclose
    assert_close(link(graph(y))([xn, yn])[0], np.exp(xn * yn), rtol=1e-15)
    made, hashed = [], []
    monkeypatch.setattr(Kernel, "template", lambda self, t=Kernel.template: (
        made.append(self), t(self))[1])
    monkeypatch.setattr(ccache, "kernel_key", lambda s, k=ccache.kernel_key: (
        hashed.append(1), k(s))[1])
    assert_close(link(graph(y))([xn, yn])[0], np.exp(xn * yn), rtol=1e-15)
    assert made == [] and hashed == []
    assert_close(link(graph(one))([xn, on])[0], np.exp(xn * 3.0), rtol=1e-15)
    assert len(made) == 1 and made[0].scalar_in == (False, True)
    assert native.elementwise_kernel(graph(one).outputs[0].owner) is made[0]


def test_a_resolved_kernel_is_taken_again_only_while_its_library_is_loaded(monkeypatch):
    """`native.build_kernels` keeps each template's resolved functions; linking the kernel
    again takes them without a lookup, but not once the memory cache was replaced (then the
    kernel is missing again, as after a restart with an empty disk cache)."""
    from lazyarr.exec_cpu import ccache, native

    if not ccache.available():
        pytest.skip("needs a C compiler")
    f8 = np.dtype(np.float64)
    kernel = Kernel(Composite((f8, f8), (("multiply", (0, 1), f8, None),
                                         ("sin", (2,), f8, None)), (3,)), (False, False))
    first = native.build_kernels([kernel])[0]
    assert first is not None
    again = native.build_kernels([kernel], [])[0]
    assert again == first
    monkeypatch.setattr(ccache, "_loaded", {})
    monkeypatch.setattr(ccache, "_member_on_disk", lambda key: None)
    missing: list = []
    assert native.build_kernels([kernel], missing) == [None]
    assert missing == [kernel.cached_template()]
