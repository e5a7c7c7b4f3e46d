"""Every elementwise function of the namespace against NumPy: values, dtype and shape, on
hypothesis-generated dtypes and broadcastable shapes (0-d and empty included, NaN and +-inf for
real floats); Python-scalar operands (weak promotion); the array object's operators.

The dtype rules are written out here from the standard (not read from lazyarr's table). Where the
standard leaves a choice open lazyarr follows NumPy 2 promotion, except that integer inputs to
floating-point functions (and int / int) give float64 whatever the integer width.
"""

from __future__ import annotations

import operator

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp
from lazyarr.array.ops.scalar_table import TABLE

from .la_helpers import ALL, BOOL, INTS, NUMERIC, REAL, UINTS, arrays, check

# ---- the oracle: NumPy function and dtype rule of each function, from the standard ----------

F64 = np.dtype(np.float64)
BOOLDT = np.dtype(np.bool_)

# rule: (allowed input dtypes, result dtype from the promoted input dtype)
_same = lambda dt: dt  # noqa: E731
_float = lambda dt: dt if dt.kind in "fc" else F64  # noqa: E731
_bool = lambda dt: BOOLDT  # noqa: E731
_real = lambda dt: {np.complex64: np.dtype(np.float32),  # noqa: E731
                    np.complex128: F64}.get(dt.type, dt)

RULES = {
    "numeric_same": (NUMERIC, _same),
    "float": (NUMERIC, _float),
    "real_float": (REAL, _float),
    "real_same": (REAL, _same),
    "compare": (ALL, _bool),
    "order": (BOOL + REAL, _bool),
    "logical": (ALL, _bool),
    "bitwise": (BOOL + INTS + UINTS, _same),
    "shift": (INTS + UINTS, _same),
    "predicate": (ALL, _bool),
    "signbit": (BOOL + REAL, _bool),  # NumPy accepts bool and integers too
    "abs": (NUMERIC, _real),
    "part": (ALL, _real),
    "conj": (ALL, _same),
}

UNARY = {
    "abs": (np.abs, "abs"), "acos": (np.arccos, "float"), "acosh": (np.arccosh, "float"),
    "asin": (np.arcsin, "float"), "asinh": (np.arcsinh, "float"), "atan": (np.arctan, "float"),
    "atanh": (np.arctanh, "float"), "bitwise_invert": (np.invert, "bitwise"),
    "ceil": (np.ceil, "real_same"), "conj": (np.conj, "conj"), "cos": (np.cos, "float"),
    "cosh": (np.cosh, "float"), "exp": (np.exp, "float"), "expm1": (np.expm1, "float"),
    "floor": (np.floor, "real_same"), "imag": (np.imag, "part"),
    "isfinite": (np.isfinite, "predicate"), "isinf": (np.isinf, "predicate"),
    "isnan": (np.isnan, "predicate"), "log": (np.log, "float"), "log1p": (np.log1p, "float"),
    "log2": (np.log2, "float"), "log10": (np.log10, "float"),
    "logical_not": (np.logical_not, "logical"), "negative": (np.negative, "numeric_same"),
    "positive": (np.positive, "numeric_same"), "real": (np.real, "part"),
    "reciprocal": (np.reciprocal, "float"), "round": (np.round, "numeric_same"),
    "sign": (np.sign, "numeric_same"), "signbit": (np.signbit, "signbit"),
    "sin": (np.sin, "float"), "sinh": (np.sinh, "float"), "sqrt": (np.sqrt, "float"),
    "square": (np.square, "numeric_same"), "tan": (np.tan, "float"), "tanh": (np.tanh, "float"),
    "trunc": (np.trunc, "real_same"),
}

BINARY = {
    "add": (np.add, "numeric_same"), "subtract": (np.subtract, "numeric_same"),
    "multiply": (np.multiply, "numeric_same"), "divide": (np.divide, "float"),
    "floor_divide": (np.floor_divide, "real_same"), "remainder": (np.remainder, "real_same"),
    "pow": (np.power, "numeric_same"), "atan2": (np.arctan2, "real_float"),
    "hypot": (np.hypot, "real_float"), "copysign": (np.copysign, "real_float"),
    "logaddexp": (np.logaddexp, "real_float"), "nextafter": (np.nextafter, "real_float"),
    "maximum": (np.maximum, "real_same"), "minimum": (np.minimum, "real_same"),
    "equal": (np.equal, "compare"), "not_equal": (np.not_equal, "compare"),
    "less": (np.less, "order"), "less_equal": (np.less_equal, "order"),
    "greater": (np.greater, "order"), "greater_equal": (np.greater_equal, "order"),
    "logical_and": (np.logical_and, "logical"), "logical_or": (np.logical_or, "logical"),
    "logical_xor": (np.logical_xor, "logical"), "bitwise_and": (np.bitwise_and, "bitwise"),
    "bitwise_or": (np.bitwise_or, "bitwise"), "bitwise_xor": (np.bitwise_xor, "bitwise"),
    "bitwise_left_shift": (np.left_shift, "shift"),
    "bitwise_right_shift": (np.right_shift, "shift"),
}


def _compute_dtype(name: str, rule: str, dt: np.dtype) -> np.dtype:
    """The dtype NumPy must compute in to give lazyarr's documented result."""
    if rule in ("float", "real_float"):
        return _float(dt)
    if rule == "signbit":
        return _float(dt)
    if rule == "logical":
        return BOOLDT
    return dt


def _oracle(name: str, fn, rule: str, *xs: np.ndarray, dt: np.dtype):
    ct = _compute_dtype(name, rule, dt)
    with np.errstate(all="ignore"):
        r = np.asarray(fn(*[np.asarray(x).astype(ct) for x in xs]))
    return r.astype(RULES[rule][1](dt))


def test_every_table_row_is_covered():
    assert set(UNARY) | set(BINARY) | {"where"} == set(TABLE)
    for name in TABLE:
        assert callable(getattr(xp, name))
    assert callable(xp.clip)


# ---- unary functions ------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, rule = UNARY[name]
    allowed = RULES[rule][0]
    dt = data.draw(st.sampled_from(allowed), label="dtype")
    x = data.draw(arrays(dt, shapes), label="x")
    r = getattr(xp, name)(xp.asarray(x))
    expected = _oracle(name, fn, rule, x, dt=dt)
    check(r, expected, RULES[rule][1](dt))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_rejects_dtypes_outside_its_domain(name):
    _fn, rule = UNARY[name]
    allowed = RULES[rule][0]
    for dt in ALL:
        if dt in allowed:
            continue
        with pytest.raises(TypeError, match=name):
            getattr(xp, name)(xp.asarray(np.zeros(2, dt)))


# ---- binary functions -----------------------------------------------------------------------

pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                max_side=3)


def _draw_pair_dtypes(data, allowed):
    d1 = data.draw(st.sampled_from(allowed), label="dtype1")
    d2 = data.draw(st.one_of(st.just(d1), st.sampled_from(allowed)), label="dtype2")
    return d1, d2


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary(name, data):
    fn, rule = BINARY[name]
    allowed = RULES[rule][0]
    d1, d2 = _draw_pair_dtypes(data, allowed)
    dt = np.result_type(d1, d2)  # NumPy 2 promotion (the standard's table where it has one)
    s1, s2 = data.draw(pair_shapes, label="shapes").input_shapes
    a = data.draw(arrays(d1, s1), label="x1")
    if rule == "shift" or (name == "pow" and dt.kind in "iu"):
        # shift counts outside [0, bits) and negative integer powers are undefined/errors
        hi = 8 * dt.itemsize - 1 if rule == "shift" else 5
        b = data.draw(hnp.arrays(d2, s2, elements=st.integers(0, min(hi, 8 * d2.itemsize - 1
                                                                      if d2.kind == "i" else hi))),
                      label="x2")
    else:
        b = data.draw(arrays(d2, s2), label="x2")
    f = getattr(xp, name)
    if dt not in allowed:
        with pytest.raises(TypeError):
            f(xp.asarray(a), xp.asarray(b))
        return
    r = f(xp.asarray(a), xp.asarray(b))
    check(r, _oracle(name, fn, rule, a, b, dt=dt), RULES[rule][1](dt))


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_python_scalar(name, data):
    """A Python scalar takes the array's dtype when its kind fits (weak promotion), from
    either side."""
    fn, rule = BINARY[name]
    allowed = RULES[rule][0]
    dt = data.draw(st.sampled_from(allowed), label="dtype")
    x = data.draw(arrays(dt, shapes, finite=True, small=True), label="x")
    if dt.kind == "b":
        s = data.draw(st.booleans())
    elif dt.kind in "iu":
        lo = 0 if (rule == "shift" or name == "pow" or dt.kind == "u") else -100
        s = data.draw(st.integers(lo, 7 if rule == "shift" or name == "pow" else 100))
    elif dt.kind == "f":
        s = data.draw(st.floats(-1e3, 1e3))
    else:
        s = complex(data.draw(st.floats(-5, 5)), data.draw(st.floats(-5, 5)))
    f = getattr(xp, name)
    flip = data.draw(st.booleans(), label="scalar first")
    if flip and rule == "shift":
        x = np.clip(x, 0, 7).astype(dt)  # the array is the shift count now
    if flip and name == "pow" and dt.kind in "iu":
        x = np.clip(x, 0, 5).astype(dt)
    args_np = (np.asarray(s, dt), x) if flip else (x, np.asarray(s, dt))
    args_xp = (s, xp.asarray(x)) if flip else (xp.asarray(x), s)
    r = f(*args_xp)
    check(r, _oracle(name, fn, rule, *args_np, dt=dt), RULES[rule][1](dt))


@pytest.mark.parametrize("scalar, dtype, expected", [
    (2, np.float32, np.float32),       # int scalar, float array: the array's dtype
    (2.5, np.int8, np.float64),        # float scalar, int array: default float (NumPy 2)
    (2.5, np.bool_, np.float64),
    (3, np.bool_, np.int64),
    (True, np.int16, np.int16),
    (1j, np.float32, np.complex64),
    (1j, np.float64, np.complex128),
    (1j, np.int32, np.complex128),
    (2.0, np.complex64, np.complex64),
])
def test_python_scalar_cross_kind(scalar, dtype, expected):
    x = np.arange(3).astype(dtype)
    r = xp.asarray(x) * scalar
    assert r.dtype == np.dtype(expected) == np.result_type(x, scalar)
    check(r, x.astype(expected) * np.asarray(scalar, expected), expected)
    check(scalar * xp.asarray(x), np.asarray(scalar, expected) * x.astype(expected), expected)


def test_python_int_out_of_range_for_the_array_dtype():
    with pytest.raises(OverflowError):
        xp.asarray(np.zeros(2, np.int8)) + 300
    with pytest.raises(OverflowError):
        xp.asarray(np.zeros(2, np.uint8)) + (-1)


def test_two_python_scalars_is_a_type_error():
    with pytest.raises(TypeError):
        xp.add(1, 2)


def test_array_likes_are_accepted():
    check(xp.add(np.arange(3), [1, 2, 3]), np.arange(3) + np.array([1, 2, 3]))


# ---- where and clip -------------------------------------------------------------------------

@given(data=st.data())
def test_where(data):
    s0, s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3,
                                                             max_side=3)).input_shapes
    d1, d2 = _draw_pair_dtypes(data, ALL)
    c = data.draw(hnp.arrays(np.bool_, s0))
    a = data.draw(arrays(d1, s1))
    b = data.draw(arrays(d2, s2))
    r = xp.where(xp.asarray(c), xp.asarray(a), xp.asarray(b))
    check(r, np.where(c, a, b), np.result_type(d1, d2))


def test_where_scalars_and_errors():
    c = np.array([True, False, True])
    x = np.array([1.0, 2.0, 3.0], np.float32)
    check(xp.where(xp.asarray(c), xp.asarray(x), 0.5), np.where(c, x, np.float32(0.5)),
          np.float32)
    check(xp.where(xp.asarray(c), 7, xp.asarray(x)), np.where(c, np.float32(7), x), np.float32)
    check(xp.where(xp.asarray(c), 1, 2), np.where(c, 1, 2), np.int64)
    with pytest.raises(TypeError):
        xp.where(xp.asarray([1, 0, 1]), xp.asarray(x), 0.0)
    with pytest.raises(ValueError):
        xp.where(xp.asarray(c), xp.asarray(np.ones(2)), 0.0)


@given(data=st.data())
def test_clip(data):
    dt = data.draw(st.sampled_from(REAL), label="dtype")
    shape = data.draw(shapes, label="shape")
    x = data.draw(arrays(dt, shape, finite=True), label="x")
    kinds = st.sampled_from(["none", "scalar", "array"])
    lo_kind, hi_kind = data.draw(kinds, label="min"), data.draw(kinds, label="max")

    def bound(kind, label):
        if kind == "none":
            return None, None
        if kind == "scalar":
            if dt.kind == "u":
                s = data.draw(st.integers(0, 50), label=label)
            elif dt.kind == "i":
                s = data.draw(st.integers(-50, 50), label=label)
            else:
                s = data.draw(st.floats(-50, 50), label=label)
            return s, s
        sub = shape[data.draw(st.integers(0, len(shape)), label=label + " ndim"):]
        b = data.draw(arrays(dt, sub, finite=True), label=label)
        return xp.asarray(b), b

    lo, lo_np = bound(lo_kind, "min")
    hi, hi_np = bound(hi_kind, "max")
    r = xp.clip(xp.asarray(x), lo, hi)
    expected = x
    if lo_np is not None:
        expected = np.maximum(expected, np.asarray(lo_np).astype(dt))
    if hi_np is not None:
        expected = np.minimum(expected, np.asarray(hi_np).astype(dt))
    check(r, expected, dt)


def test_clip_float_bounds_on_integers_and_errors():
    x = np.arange(-3, 4, dtype=np.int16)
    check(xp.clip(xp.asarray(x), -1.5, 2.5), np.clip(x, -1, 2), np.int16)
    check(xp.clip(xp.asarray(np.array([np.nan, 1.0, 5.0])), 0.0, 2.0), [np.nan, 1.0, 2.0])
    with pytest.raises(TypeError):
        xp.clip(xp.asarray([1j]), 0, 1)
    with pytest.raises(ValueError):  # bounds must broadcast with x
        xp.clip(xp.asarray([1.0, 2.0]), xp.asarray(np.zeros(3)))


def test_clip_result_has_the_broadcast_shape_of_x_and_the_bounds():
    """The standard's bounds need only broadcast with x (array_api_strict and NumPy give the
    broadcast shape, x's dtype); a bound that broadcast x to a bigger shape was refused."""
    strict = pytest.importorskip("array_api_strict")
    x, lo, hi = np.array([0.5, 2.0]), np.zeros((2, 1)), np.array([[1.0], [0.25]])
    for h in (1.0, hi):
        got = xp.clip(xp.asarray(x), xp.asarray(lo), h if isinstance(h, float) else xp.asarray(h))
        want = strict.clip(strict.asarray(x), strict.asarray(lo),
                           h if isinstance(h, float) else strict.asarray(h))
        assert got.shape == (2, 2)
        check(got, np.asarray(want), np.float64)
    x8, lo8 = np.array([1, 5], np.int8), np.array([[0], [2]], np.int8)
    check(xp.clip(xp.asarray(x8), xp.asarray(lo8)), np.clip(x8, lo8, None), np.int8)


_WIDE = [  # (x dtype, min, max): bounds outside x's dtype's range, as arrays or scalars
    (np.int8, np.array(-300, np.int16), np.array(300, np.int16)),
    (np.int8, np.array([-300, 0, 2, 50], np.int16), np.array([300, 1, 200, 40], np.int16)),
    (np.int8, np.array(0, np.uint8), np.array(200, np.uint8)),
    (np.uint8, np.array(-5, np.int8), np.array(100, np.int8)),
    (np.uint8, -5, 300),
    (np.int8, -300, 300),
    (np.int16, np.array([-1e6, 0.5, -1e6, 0.5]), np.array([1e6, 2.5, 1e6, 2.5])),
    (np.int8, -300.5, 300.5),
]


@pytest.mark.parametrize("dt,lo,hi", _WIDE)
def test_clip_bounds_outside_the_dtype_range_saturate(dt, lo, hi):
    """A bound beyond x's dtype's range acts as that range's end: an int16 bound of -300 on
    int8 x was cast to int8 (-44, wrapped). The values are NumPy's clip, computed in the
    promoted dtype, which lies in x's range here."""
    x = np.array([0, 1, 3, 100], dt)
    got = xp.clip(xp.asarray(x), *(xp.asarray(b) if isinstance(b, np.ndarray) else b
                                   for b in (lo, hi)))
    with np.errstate(all="ignore"):
        want = np.clip(x.astype(np.float64), np.float64(lo), np.float64(hi))
    info = np.iinfo(dt)
    assert want.min() >= info.min and want.max() <= info.max
    check(got, np.trunc(want).astype(dt), dt)


# ---- operators ------------------------------------------------------------------------------

BIN_OPS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "&": operator.and_,
    "|": operator.or_, "^": operator.xor, "<<": operator.lshift, ">>": operator.rshift,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
INPLACE = {"+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv,
           "//": operator.ifloordiv, "%": operator.imod, "**": operator.ipow,
           "&": operator.iand, "|": operator.ior, "^": operator.ixor, "<<": operator.ilshift,
           ">>": operator.irshift}


def _operands(sym):
    if sym in ("&", "|", "^"):
        return [(np.array([[3, 5, 9]], np.int32), np.array([6, 1, 12], np.int32)),
                (np.array([True, False]), np.array([[True], [False]]))]
    if sym in ("<<", ">>"):
        return [(np.array([1, -8, 100], np.int64), np.array([1, 2, 3], np.int64))]
    if sym == "**":
        return [(np.array([1.5, 2.0, -3.0]), np.array([2.0, 0.5, 3.0])),
                (np.array([2, 3, 4], np.int16), np.array([3, 0, 2], np.int16))]
    return [(np.array([[1.5, -2.0, 3.0]]), np.array([[2.0], [-0.5]])),
            (np.array([7, -3, 8], np.int32), np.array([2, 5, -3], np.int32)),
            (np.array([1.0, 2.0], np.float32), np.array([3, 4], np.uint8))]


@pytest.mark.parametrize("sym", list(BIN_OPS))
def test_binary_operators(sym):
    op = BIN_OPS[sym]
    for a, b in _operands(sym):
        expected = op(a, b)  # NumPy's operators: the same semantics (int / int is float64)
        check(op(xp.asarray(a), xp.asarray(b)), expected)
        check(op(xp.asarray(a), b), expected)       # NumPy array on the right
        check(op(a, xp.asarray(b)), expected)       # reflected (NumPy array on the left)
        s = b.flat[0].item()
        check(op(xp.asarray(a), s), op(a, s))        # Python scalar on the right
        check(op(s, xp.asarray(a)), op(s, a))        # reflected Python scalar


@pytest.mark.parametrize("dtype, value", [(np.uint8, 300), (np.uint8, -1), (np.int8, -1000),
                                          (np.uint64, -1), (np.int64, 2**63)])
def test_comparison_operators_with_an_out_of_range_python_int(dtype, value):
    """u8 == 300 raised OverflowError; NumPy 2 compares exactly (arithmetic still raises)."""
    a = np.array([0, 7, 100], dtype=dtype)
    x = xp.asarray(a)
    for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
        check(op(x, value), op(a, value))
        check(op(value, x), op(value, a))


def test_integer_array_to_a_negative_python_int_is_numpys_value_error():
    """a ** -1 for an int array gave 0s (C's truncation); NumPy raises ValueError. Float
    arrays and non-negative powers are unchanged."""
    a = xp.asarray([1, 2, 3])
    with pytest.raises(ValueError, match="negative integer powers"):
        a ** -1
    with pytest.raises(ValueError, match="negative integer powers"):
        a **= -2
    with pytest.raises(ValueError, match="negative integer powers"):
        xp.pow(a, -1)
    check(a ** 2, np.array([1, 4, 9]))
    check(xp.asarray([1.0, 2.0]) ** -1, np.array([1.0, 0.5]))


def test_divmod_as_numpy():
    """divmod(x, y) and divmod(scalar, x): NumPy's (x // y, x % y) (it raised TypeError)."""
    a, b = np.array([7, -7, 9]), np.array([4, 4, -2])
    for got, want in ((divmod(xp.asarray(a), xp.asarray(b)), divmod(a, b)),
                      (divmod(xp.asarray(a), 4), divmod(a, 4)),
                      (divmod(10.5, xp.asarray([3.0, -4.0])), divmod(10.5, np.array([3.0, -4.0])))):
        check(got[0], want[0])
        check(got[1], want[1])


@pytest.mark.parametrize("sym", list(INPLACE))
def test_inplace_operators_are_functional_updates(sym):
    op = INPLACE[sym]
    for a, b in _operands(sym):
        res = np.asarray(BIN_OPS[sym](a, b))
        if res.dtype != a.dtype or res.shape != a.shape:
            continue
        x = xp.asarray(a)
        keep = x            # another reference to the old value
        derived = x * 1 if a.dtype != np.bool_ else x & True
        y = op(x, xp.asarray(b))
        assert y is x       # in place: the same Array object, now a new value
        check(x, res)
        check(keep, res)    # same object
        check(derived, a)   # built from the old value: keeps it


def test_inplace_never_changes_dtype_or_shape():
    x = xp.asarray(np.arange(3, dtype=np.int32))
    with pytest.raises(TypeError):
        x /= 2               # would give float64
    with pytest.raises(TypeError):
        x += 1.5
    y = xp.asarray(np.ones(3, np.float32))
    with pytest.raises(TypeError):
        y += xp.asarray(np.ones(3))  # float64 operand would promote the result
    with pytest.raises(ValueError):
        y += xp.asarray(np.ones((2, 3), np.float32))
    check(x, np.arange(3, dtype=np.int32))  # unchanged after the failed updates
    y += 2
    check(y, np.full(3, 3.0, np.float32))


def test_inplace_operators_in_a_long_loop_with_views_and_run_time_sizes():
    """``x OP= y`` re-points ``x`` in C (`_front.inplace`) unless ``x`` has views or a base
    (`coerce.rebind`): values past the depth bound, a view following, a base written, a size
    known only at run time, all as NumPy."""
    x, xn = xp.zeros(5), np.zeros(5)
    for _ in range(300):
        x += 1.0
        x *= 0.5
        xn += 1.0
        xn *= 0.5
    np.testing.assert_allclose(np.asarray(x), xn, rtol=1e-15)
    a, an = xp.asarray(np.arange(6.0)), np.arange(6.0)
    v, vn = a[1:4], an[1:4]
    a += 10.0
    an += 10.0
    np.testing.assert_array_equal(np.asarray(v), vn)
    v -= 100.0
    vn -= 100.0
    np.testing.assert_array_equal(np.asarray(a), an)
    m = xp.asarray(np.arange(5.0))
    s = m[m > 1.5]
    s += 1.0
    np.testing.assert_array_equal(np.asarray(s), [3.0, 4.0, 5.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int8, np.uint16, np.complex64])
def test_unary_operators(dtype):
    a = np.array([[1, 2], [3, 0]]).astype(dtype)
    x = xp.asarray(a)
    check(-x, -a)
    check(+x, +a)
    check(abs(x), np.abs(a))
    if np.dtype(dtype).kind in "iu":
        check(~x, ~a)
    else:
        with pytest.raises(TypeError):
            _ = ~x


def test_bool_operators():
    a = np.array([True, False, True])
    x = xp.asarray(a)
    check(~x, ~a)
    check(x & ~x, a & ~a)
    check(x ^ True, a ^ True)
    with pytest.raises(TypeError):
        _ = -x
    with pytest.raises(TypeError):
        _ = x + x


def test_matmul_operator():
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(12.0).reshape(3, 4) - 5
    check(xp.asarray(a) @ xp.asarray(b), a @ b)
    check(a @ xp.asarray(b), a @ b)
    check(xp.asarray(a) @ b, a @ b)
    x = xp.asarray(np.eye(3))
    x @= xp.asarray(b[:, :3])
    check(x, b[:, :3])


def test_comparison_with_foreign_objects_is_not_implemented():
    x = xp.asarray([1, 2])
    assert (x == "a") is False
    assert (x != None) is True  # noqa: E711


def test_signed_zero_scalars_keep_their_sign():
    a = xp.asarray([1.0, -2.0])
    check(a * 0.0, np.array([0.0, -0.0]))      # +0.0 first, then -0.0: not shared
    check(xp.copysign(a, -0.0), [-1.0, -2.0])
    check(a / -0.0, [-np.inf, np.inf])
    check(xp.copysign(a, 0.0), [1.0, 2.0])
    check(xp.signbit(xp.asarray(np.zeros(2, np.float32)) * -0.0), [True, True])


class _Answers:
    """An operand lazyarr cannot take as an array, with every reflected operator of its own
    (as a SciPy sparse matrix has ``__rmul__``)."""

    def _answer(name):  # noqa: N805  (builds the methods below)
        return lambda self, other: (name, type(other).__name__)

    for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
                "lshift", "rshift", "matmul"):
        locals()[f"__r{_op}__"] = _answer(f"r{_op}")
        locals()[f"__{_op}__"] = _answer(_op)
    del _op


@pytest.mark.parametrize("name", ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                  "and", "or", "xor", "lshift", "rshift", "matmul"])
def test_operators_defer_to_an_operand_that_answers_them(name):
    """``x OP y`` with a ``y`` lazyarr cannot convert but whose type has ``__rOP__`` returns
    NotImplemented, so Python asks ``y`` (NumPy arrays do the same); ``y OP x`` likewise
    reaches ``y.__OP__``; the namespace function still refuses ``y``."""
    x = xp.asarray(np.arange(1, 5, dtype=np.int64))
    y = _Answers()
    fn = getattr(operator, {"and": "and_", "or": "or_"}.get(name, name))
    assert fn(x, y) == (f"r{name}", "Array")
    assert fn(y, x) == (name, "Array")
    with pytest.raises(TypeError):
        fn(x, object())
    inplace = getattr(operator, "i" + name)
    z = x
    assert inplace(z, y) == (f"r{name}", "Array")  # x OP= y: Python asks y too
    if name != "matmul":
        with pytest.raises(TypeError, match="not supported"):  # a str is no operand
            fn(x, "a")


def test_multiply_by_a_sparse_matrix_is_the_matrix_s():
    """``x * csr`` is SciPy's elementwise product (its ``__rmul__``), as with NumPy."""
    sp = pytest.importorskip("scipy.sparse")
    m = sp.csr_array(np.array([[0.0, 2.0], [3.0, 0.0]]))
    d = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = xp.asarray(d) * m
    np.testing.assert_array_equal(got.toarray(), (d * m).toarray())
    with pytest.raises(TypeError):
        xp.multiply(xp.asarray(d), m)


@pytest.mark.parametrize("dt", [np.complex64, np.complex128])
def test_complex_expm1_special_cases_of_the_standard(dt):
    """expm1(+inf+0j) is +inf+0j (it was inf+nanj, as NumPy's), expm1(-inf+bj) is exactly
    -1 + 0 cis(b) (it was -0.9999999999999998), +inf with a non-finite b gives +inf+NaN j;
    the kernel and the reference agree (LAZYARR_MODE=debug compares them)."""
    from lazyarr.array.ops.scalar_table import TABLE

    inf, nan = np.inf, np.nan
    z = np.array([complex(inf, 0.0), complex(-inf, 1.0), complex(-inf, -1.0),
                  complex(-inf, inf), complex(-inf, nan), complex(inf, inf), complex(inf, nan),
                  complex(nan, 0.0), complex(0.0, 0.0), complex(1.0, 2.0)], dtype=dt)
    want_re = [inf, -1, -1, -1, -1, inf, inf, nan, 0.0, np.expm1(dt(1 + 2j)).real]
    want_im = [0.0, 0.0, -0.0, None, None, nan, nan, 0.0, 0.0, np.expm1(dt(1 + 2j)).imag]
    for got in (np.asarray(xp.expm1(xp.asarray(z))), TABLE["expm1"].np_fn(z)):
        assert got.dtype == dt
        np.testing.assert_allclose(got.real, want_re, rtol=1e-6)
        for g, w in zip(got.imag, want_im):
            if w is None:
                assert g == 0
            elif np.isnan(w):
                assert np.isnan(g)
            else:
                assert g == w and np.signbit(g) == np.signbit(w)


def test_integer_to_a_negative_power_agrees_between_kernel_and_reference():
    """1 for 1, +-1 for -1, 0 otherwise (1 / a**|b| truncated: the standard leaves it open);
    the reference raised NumPy's ValueError where the kernel gave these, so debug mode and
    arrays of more than 16 dimensions (the reference path) failed."""
    from lazyarr.array.ops.scalar_table import TABLE

    a = np.array([2, 1, -1, -1, 0, 3, -2], dtype=np.int8)
    b = np.array([-1, -3, -3, -2, -1, 2, 3], dtype=np.int8)
    want = np.array([0, 1, -1, 1, 0, 9, -8], dtype=np.int8)
    np.testing.assert_array_equal(np.asarray(xp.asarray(a) ** xp.asarray(b)), want)
    np.testing.assert_array_equal(TABLE["pow"].np_fn(a, b), want)
    deep = xp.reshape(xp.asarray(a), (1,) * 16 + (7,)) ** xp.asarray(b)
    np.testing.assert_array_equal(np.asarray(deep).ravel(), want)


def test_clip_of_large_integers_by_float_bounds_keeps_the_elements_kept():
    """An int64 or uint64 element kept by a float bound comes back unchanged: comparing in
    float64 then converting every element back turned 2**63 - 1 into -2**63 (the float rounds
    to 2**63) and 2**53 + 1 into 2**53."""
    big = np.array([2**62, 2**63 - 1, -(2**63)], np.int64)
    a = xp.asarray(big)
    check(xp.clip(a, xp.asarray(2.5)), np.array([2**62, 2**63 - 1, 2], np.int64), np.int64)
    check(xp.clip(a, xp.asarray(np.float32(0))), np.array([2**62, 2**63 - 1, 0], np.int64),
          np.int64)
    check(xp.clip(xp.asarray(np.array([2**53 + 1], np.int64)), None, xp.asarray(1e300)),
          np.array([2**53 + 1], np.int64), np.int64)
    check(xp.clip(a, xp.asarray(1e19)), np.full(3, 2**63 - 1, np.int64), np.int64)
    check(xp.clip(a, None, -1e19), np.full(3, -(2**63), np.int64), np.int64)
    u = xp.asarray(np.array([0, 2**64 - 1], np.uint64))
    check(xp.clip(u, 3.7, 5.2), np.array([3, 5], np.uint64), np.uint64)
    check(xp.clip(u, -1.0, 1e30), np.array([0, 2**64 - 1], np.uint64), np.uint64)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_square_root_power_at_minus_zero_and_minus_infinity(dt):
    """``x ** 0.5`` is +inf at -inf and +0 at -0 (the standard, as C's pow) on every path: one
    call, fused with another op (the kernel's vectorized sqrt gave NaN and -0 except in the
    scalar tail), compiled, folded from constants, and the reference (NumPy's power by a scalar
    0.5 is a sqrt too)."""
    from lazyarr.array.ops.scalar_table import TABLE

    x = np.array([-np.inf, -0.0, 4.0, -np.inf, -0.0, -1.0, 0.0, -np.inf, -0.0], dtype=dt)
    want = np.array([np.inf, 0.0, 2.0, np.inf, 0.0, np.nan, 0.0, np.inf, 0.0], dtype=dt)
    z = np.full_like(x, -0.0)
    ax, az = xp.asarray(x), xp.asarray(z)
    got = {
        "call": ax ** 0.5,
        "pow": xp.pow(ax, 0.5),
        "fused": (ax + az) ** 0.5,
        "compiled": xp.compile(lambda a, b: (a + b) ** 0.5)(ax, az),
    }
    with np.errstate(invalid="ignore"):  # NumPy's warning at -1
        got["reference"] = TABLE["pow"].np_fn(x, np.asarray(0.5, dt))
    for path, g in got.items():
        g = np.asarray(g)
        np.testing.assert_array_equal(g, want, err_msg=path)
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(g[zero]), False, err_msg=path)
    for v, w in ((-np.inf, np.inf), (-0.0, 0.0)):  # folded: every input is a constant
        g = np.asarray(xp.full(x.shape, v, dtype=dt) ** 0.5 + 0.0)
        np.testing.assert_array_equal(g, np.full(x.shape, w, dt), err_msg=f"folded {v}")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_square_root_power_reference_warns_only_where_numpy_means_it(dt):
    """The reference ``pow`` gives +inf at -inf (and +0 at -0) for an exponent 0.5 on
    purpose, but NumPy's sqrt shortcut warned "invalid value encountered in power" computing
    the NaN it then replaced. No warning there now, by a scalar or an array 0.5; a NaN that
    stays in the result (-1 ** 0.5) still warns, as NumPy does."""
    import warnings

    x = np.array([-np.inf, -0.0, 4.0, np.inf, 0.0, np.nan], dtype=dt)
    want = np.array([np.inf, 0.0, 2.0, np.inf, 0.0, np.nan], dtype=dt)
    for half in (np.asarray(0.5, dt), np.full(x.shape, 0.5, dt)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = TABLE["pow"].np_fn(x, half)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == dt and not np.signbit(got[1])
        with pytest.warns(RuntimeWarning, match="invalid value"):
            r = TABLE["pow"].np_fn(np.array([-1.0, -np.inf], dt), half[:2] if half.ndim else half)
        assert np.isnan(r[0]) and r[1] == np.inf


@pytest.mark.parametrize("dt", [np.complex64, np.complex128])
def test_complex_square_is_the_textbook_product_at_overflow_and_infinity(dt):
    """square(z) is z * z computed as the standard writes the product, (a*a - b*b) + (2ab) j,
    each part with the real special cases: at -max + inf j the real part is inf - inf = NaN.
    The kernel gave that; the reference was NumPy's square (-inf there, its product fused), so
    debug mode and the kernel disagreed."""
    from lazyarr.array.ops.scalar_table import TABLE

    big, inf = np.finfo(np.dtype(dt).char.lower()).max, np.inf
    parts = [(-big, inf), (-big, -inf), (-big, -big), (big, big), (inf, inf), (inf, 0.0),
             (np.nan, 1.0), (1.0, 2.0), (-0.0, 0.0), (3.0, -0.5), (1e30, 1e-30)]
    z = np.array([complex(a, b) for a, b in parts] * 3, dtype=dt)
    a, b = z.real, z.imag
    with np.errstate(all="ignore"):
        want_re, want_im = a * a - b * b, a * b + a * b
        ref = TABLE["square"].np_fn(z)
    az, minus_zero = xp.asarray(z), xp.asarray(np.full_like(z, complex(-0.0, -0.0)))
    paths = {"call": xp.square(az), "fused": xp.square(az + minus_zero), "reference": ref}
    for path, got in paths.items():
        got = np.asarray(got)
        assert got.dtype == dt, path
        np.testing.assert_array_equal(got.real, want_re, err_msg=path)
        np.testing.assert_array_equal(got.imag, want_im, err_msg=path)


@pytest.mark.parametrize("dt", [np.complex64, np.complex128])
def test_complex_sign_of_subnormal_and_huge_values(dt):
    """sign(z) = z / |z| for every finite nonzero z: dividing by hypot overflowed (1 / a
    subnormal |z| is inf) or |z| itself overflowed (1.7e308 + 1.7e308j gave 0), in the kernel
    and in the reference (NumPy's division), so both are checked against the quotient taken
    in a wider float; 0 gives 0 + 0j and a NaN part NaN + NaN j (the standard)."""
    from lazyarr.array.ops.scalar_table import TABLE

    tiny, big = np.finfo(np.dtype(dt).char.lower()).smallest_subnormal, np.finfo(dt).max
    z = np.array([complex(-tiny, 0), complex(3 * tiny, 4 * tiny), complex(big, big),
                  complex(-big, big / 2), complex(0.0, -tiny), complex(3.0, -4.0),
                  complex(1e-30, 2e-31), complex(-0.0, -0.0), complex(np.nan, 1.0),
                  complex(np.nan, 0.0)] * 2, dt)
    wide = z.astype(np.clongdouble) if dt == np.complex128 else z.astype(np.complex128)
    with np.errstate(all="ignore"):
        want = (wide / np.abs(wide)).astype(dt)
    want[z == 0] = 0
    for path, got in (("call", xp.sign(xp.asarray(z))), ("reference", TABLE["sign"].np_fn(z))):
        got = np.asarray(got)
        np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dt).eps, err_msg=path)
        zero = z == 0
        assert not np.signbit(got[zero].real).any() and not np.signbit(got[zero].imag).any()


@pytest.mark.parametrize("dt", [np.complex64, np.complex128])
def test_complex_log1p_keeps_the_precision_of_small_values(dt):
    """The real part of log1p(z) is log|1 + z|: log(hypot(1 + x, y)) rounded 1 + x and lost
    every digit of a small z (log1p(1e-20 + 1e-20j) gave 0 + 1e-20j); it is now
    0.5 * log1p(x * (2 + x) + y * y) for |z| < 1/2, in the kernel and the reference, checked
    against mpmath at 50 digits, near -1 and for large z too."""
    from lazyarr.array.ops.scalar_table import TABLE

    z = np.array([1e-20 + 1e-20j, 1e-10 + 0j, -1e-10 + 3e-11j, 1e-5 - 2e-6j, 0.3 - 0.4j,
                  -0.45 + 0.2j, 1e-3j, -1 + 1e-10j, -1.5 - 0.2j, 2 + 3j, 1e30 - 1e30j,
                  -2e-30 + 0j] * 2, dtype=dt)
    with mpmath.workdps(50):
        want = np.array([complex(mpmath.log1p(mpmath.mpc(complex(v)))) for v in z]).astype(dt)
    f32 = dt == np.complex64
    for path, got in (("call", xp.log1p(xp.asarray(z))), ("reference", TABLE["log1p"].np_fn(z))):
        got = np.asarray(got)
        assert got.dtype == dt, path
        for part in ("real", "imag"):
            np.testing.assert_allclose(getattr(got, part), getattr(want, part),
                                       rtol=4e-7 if f32 else 4e-16, atol=0, err_msg=path)
