"""The elementwise table: every scalar function of the standard, one row each.

A row gives the function's name, its arity, its dtype rule (``kind``), its NumPy reference,
its C expression (type-generic ``<tgmath.h>`` names or ``LA_*`` helpers of the kernel prelude;
``{0}``, ``{1}``... are the operands), and its partial derivatives. ``partials(ns, *xs, out)``
returns one elementwise partial derivative per input, written with the namespace ``ns`` (a
Python number stands for a constant); ``None`` marks a function that is not differentiable
(piecewise constant or boolean valued): its derivative is zero. From the partials, ``diff``
builds both the vjp (``g * conj(partial)``) and the jvp (``sum(partial * t)``).

Adding a scalar function is adding a row here; the namespace function, the op, the reference
kernel, the C kernel and both derivative rules all follow from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScalarFn:
    name: str
    nin: int
    kind: str
    np_fn: Callable
    c: str | None
    partials: Callable | None = None
    #: C expression for complex operands where it differs from ``c`` (None: same)
    c_complex: str | None = None

    def __repr__(self) -> str:
        return self.name


def _round(x):
    return np.round(x)


def _sign(x):
    # The standard's complex sign is x/|x| (0 + 0j at 0), so an infinite part gives NaN
    # (inf/inf); NumPy's complex sign returns finite values there instead. The parts are
    # scaled by the larger one first (the kernels' la_csign): |x| of a huge x overflows,
    # and NumPy divides by a real through its reciprocal, inf for a subnormal |x|.
    if x.dtype.kind != "c":
        return np.sign(x)
    zero = x == 0
    m = np.maximum(np.abs(x.real), np.abs(x.imag))
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = x.real / m, x.imag / m
        h = np.hypot(a, b)
        out = np.empty_like(x)
        out.real, out.imag = a / h, b / h
    return np.where(zero, np.zeros((), x.dtype), out)


def _expm1(x):
    # The standard's complex special cases (NumPy gives inf+nanj at inf+0j, and rounds
    # -inf+bj to about -1): -1 + 0 cis(b) at a = -inf, +inf + NaN j at a = +inf with b not
    # finite, a zero b kept. Parts are set one by one (complex arithmetic loses zeros' signs).
    with np.errstate(invalid="ignore"):
        r = np.asarray(np.expm1(x))
        if x.dtype.kind != "c":
            return r
        a, b = x.real, x.imag
        re, im = r.real.copy(), r.imag.copy()
        neg = np.isneginf(a)
        pos = np.isposinf(a) & ~np.isfinite(b)
        zero = (b == 0) & ~neg & ~pos
        re[neg] = -1
        im[neg] = np.where(np.isfinite(b), 0 * np.sin(b), 0)[neg]
        re[pos] = a[pos]
        im[pos] = np.nan
        im[zero] = b[zero]
    out = np.empty_like(r)
    out.real, out.imag = re, im
    return out


def _log1p(x):
    # NumPy's complex log1p is log(hypot(1 + x, y)) + atan2(y, 1 + x) j, no digit left of
    # a small z's real part; the kernels' la_clog1p takes log1p(|1 + z|^2 - 1) / 2 there.
    if x.dtype.kind != "c":
        return np.log1p(x)
    a, b = x.real, x.imag
    small = (np.abs(a) < 0.5) & (np.abs(b) < 0.5)
    with np.errstate(all="ignore"):
        re = np.where(small, 0.5 * np.log1p(a * (2 + a) + b * b), np.log(np.hypot(a + 1, b)))
        out = np.empty_like(x)
        out.real, out.imag = re, np.arctan2(b, a + 1)
    return out


def _power(a, b):
    # An integer to a negative integer power: 1 for 1, +-1 for -1, else 0 (the kernels' C
    # rule: 1 / a**|b| truncated); NumPy raises ValueError, so the reference would fail
    # where the program does not (the standard leaves the value unspecified).
    if a.dtype.kind == "i" and b.dtype.kind == "i" and np.any(b < 0):
        neg = b < 0
        r = np.power(a, np.where(neg, 0, b))
        odd = (b & 1) == 1
        r = np.where(neg, np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)), r)
        return np.asarray(r, dtype=np.result_type(a, b))
    if a.dtype.kind == "f" and np.result_type(a, b).kind == "f":
        # NumPy takes a ** 0.5 as sqrt(a): -0 at -0 and NaN at -inf, where the standard (and
        # C's pow) give +0 and +inf, that is |a| ** 0.5; raised from |a| there, so NumPy
        # warns of no invalid value that the result does not hold (-1 ** 0.5 still does)
        a = np.where((b == 0.5) & ((a == 0) | np.isneginf(a)), np.abs(a), a)
    return np.power(a, b)


def _square(x):
    # The standard's square is x * x with its product (a*a - b*b) + (ab + ab) j, each part
    # rounded (the kernels' `x * x`): NumPy's complex square is fused, -inf where a*a - b*b
    # is inf - inf (at -max + inf j).
    if x.dtype.kind != "c":
        return np.square(x)
    a, b = x.real, x.imag
    out = np.empty_like(x)
    with np.errstate(over="ignore", invalid="ignore"):
        out.real, out.imag = a * a - b * b, a * b + a * b
    return out


def _conj(x):
    # NumPy's conj turns booleans into int8; the standard's conj keeps the dtype.
    return np.conj(x) if x.dtype.kind == "c" else x.copy()


def _floor_divide(a, b):
    return np.floor_divide(a, b)


def _where(c, a, b):
    return np.where(c, a, b)


def _logaddexp_partials(ns, x, y, out):
    # sigmoid(x - y) and sigmoid(y - x): exp(x - out) is exp(inf - inf), NaN, at x = +inf;
    # equal infinite arguments share the derivative equally (the difference is taken as 0
    # only there, so second derivatives at finite ties still see x - y)
    d = ns.where((x == y) & ns.isinf(x), 0.0, x - y)
    return 1.0 / (1.0 + ns.exp(-d)), 1.0 / (1.0 + ns.exp(d))


def _extremum_partials(ns, wins, tie):
    # maximum/minimum: the operand that wins takes the derivative, a tie splits it evenly
    # (PyTorch's and JAX's convention); a NaN operand (neither wins nor ties) gives it to y
    px = ns.where(wins, 1.0, ns.where(tie, 0.5, 0.0))
    return px, 1.0 - px


def _hypot_partials(ns, x, y, out):
    # x/h and y/h; 0 at h == 0 (both operands 0), the subgradient vector_norm's rule takes,
    # not 0/0, and with a denominator of 1 there so second derivatives are 0 too, not NaN
    zero = out == 0
    h = ns.where(zero, 1.0, out)
    return ns.where(zero, 0.0, x / h), ns.where(zero, 0.0, y / h)


def _pow_partials(ns, x, y, out):
    # d/dx x**y = y*x**(y-1); d/dy = log(x)*x**y, taken as 0 where x == 0 (JAX's convention)
    dx = ns.where(y == 0, 0.0 * x, y * x ** (y - 1))
    dy = ns.where(x == 0, 0.0 * x, ns.log(ns.where(x == 0, 1.0 + 0 * x, x)) * out)
    return dx, dy


_ROWS = [
    # name, nin, kind, numpy, C, partials
    ScalarFn("add", 2, "numeric", np.add, "({0} + {1})", lambda ns, x, y, o: (1, 1)),
    ScalarFn("subtract", 2, "numeric", np.subtract, "({0} - {1})",
             lambda ns, x, y, o: (1, -1)),
    ScalarFn("multiply", 2, "numeric", np.multiply, "({0} * {1})",
             lambda ns, x, y, o: (y, x)),
    ScalarFn("divide", 2, "float", np.divide, "({0} / {1})",
             lambda ns, x, y, o: (1 / y, -o / y)),
    ScalarFn("floor_divide", 2, "real", _floor_divide, "LA_FLOORDIV({0}, {1})"),
    ScalarFn("remainder", 2, "real", np.remainder, "LA_REMAINDER({0}, {1})",
             lambda ns, x, y, o: (1, -ns.floor_divide(x, y))),
    ScalarFn("pow", 2, "numeric", _power, "LA_POW({0}, {1})", _pow_partials),
    ScalarFn("atan2", 2, "realfloat", np.arctan2, "atan2({0}, {1})",
             lambda ns, x, y, o: (y / (x * x + y * y), -x / (x * x + y * y))),
    ScalarFn("hypot", 2, "realfloat", np.hypot, "hypot({0}, {1})",
             _hypot_partials),
    ScalarFn("copysign", 2, "realfloat", np.copysign, "copysign({0}, {1})",
             lambda ns, x, y, o: (ns.where(ns.signbit(x) == ns.signbit(y), 1.0, -1.0) + 0 * x,
                                  0)),
    ScalarFn("logaddexp", 2, "realfloat", np.logaddexp, "LA_LOGADDEXP({0}, {1})",
             _logaddexp_partials),
    ScalarFn("nextafter", 2, "realfloat", np.nextafter, "nextafter({0}, {1})"),
    ScalarFn("maximum", 2, "real", np.maximum, "LA_MAX({0}, {1})",
             lambda ns, x, y, o: _extremum_partials(ns, x > y, x == y)),
    ScalarFn("minimum", 2, "real", np.minimum, "LA_MIN({0}, {1})",
             lambda ns, x, y, o: _extremum_partials(ns, x < y, x == y)),
    ScalarFn("equal", 2, "cmp", np.equal, "({0} == {1})"),
    ScalarFn("not_equal", 2, "cmp", np.not_equal, "({0} != {1})"),
    ScalarFn("less", 2, "order", np.less, "({0} < {1})"),
    ScalarFn("less_equal", 2, "order", np.less_equal, "({0} <= {1})"),
    ScalarFn("greater", 2, "order", np.greater, "({0} > {1})"),
    ScalarFn("greater_equal", 2, "order", np.greater_equal, "({0} >= {1})"),
    ScalarFn("logical_and", 2, "logical", np.logical_and, "({0} && {1})"),
    ScalarFn("logical_or", 2, "logical", np.logical_or, "({0} || {1})"),
    ScalarFn("logical_xor", 2, "logical", np.logical_xor, "(!{0} != !{1})"),
    ScalarFn("bitwise_and", 2, "bitwise", np.bitwise_and, "({0} & {1})"),
    ScalarFn("bitwise_or", 2, "bitwise", np.bitwise_or, "({0} | {1})"),
    ScalarFn("bitwise_xor", 2, "bitwise", np.bitwise_xor, "({0} ^ {1})"),
    ScalarFn("bitwise_left_shift", 2, "shift", np.left_shift, "LA_LSHIFT({0}, {1})"),
    ScalarFn("bitwise_right_shift", 2, "shift", np.right_shift, "LA_RSHIFT({0}, {1})"),
    # unary
    ScalarFn("negative", 1, "numeric", np.negative, "(-{0})", lambda ns, x, o: (-1,)),
    ScalarFn("positive", 1, "numeric", np.positive, "(+{0})", lambda ns, x, o: (1,)),
    ScalarFn("abs", 1, "abs", np.abs, "LA_ABS({0})",
             lambda ns, x, o: (ns.sign(x),), c_complex="cabs({0})"),
    ScalarFn("square", 1, "numeric", _square, "({0} * {0})", lambda ns, x, o: (2 * x,)),
    ScalarFn("sqrt", 1, "float", np.sqrt, "sqrt({0})", lambda ns, x, o: (0.5 / o,)),
    ScalarFn("exp", 1, "float", np.exp, "exp({0})", lambda ns, x, o: (o,)),
    ScalarFn("expm1", 1, "float", _expm1, "LA_EXPM1({0})", lambda ns, x, o: (o + 1,)),
    ScalarFn("log", 1, "float", np.log, "log({0})", lambda ns, x, o: (1 / x,)),
    ScalarFn("log1p", 1, "float", _log1p, "LA_LOG1P({0})", lambda ns, x, o: (1 / (1 + x),)),
    ScalarFn("log2", 1, "float", np.log2, "LA_LOG2({0})",
             lambda ns, x, o: (1 / (x * float(np.log(2))),)),
    ScalarFn("log10", 1, "float", np.log10, "LA_LOG10({0})",
             lambda ns, x, o: (1 / (x * float(np.log(10))),)),
    ScalarFn("sin", 1, "float", np.sin, "sin({0})", lambda ns, x, o: (ns.cos(x),)),
    ScalarFn("cos", 1, "float", np.cos, "cos({0})", lambda ns, x, o: (-ns.sin(x),)),
    ScalarFn("tan", 1, "float", np.tan, "tan({0})", lambda ns, x, o: (1 + o * o,)),
    ScalarFn("asin", 1, "float", np.arcsin, "asin({0})",
             lambda ns, x, o: (1 / ns.sqrt(1 - x * x),)),
    ScalarFn("acos", 1, "float", np.arccos, "acos({0})",
             lambda ns, x, o: (-1 / ns.sqrt(1 - x * x),)),
    ScalarFn("atan", 1, "float", np.arctan, "atan({0})", lambda ns, x, o: (1 / (1 + x * x),)),
    ScalarFn("sinh", 1, "float", np.sinh, "sinh({0})", lambda ns, x, o: (ns.cosh(x),)),
    ScalarFn("cosh", 1, "float", np.cosh, "cosh({0})", lambda ns, x, o: (ns.sinh(x),)),
    ScalarFn("tanh", 1, "float", np.tanh, "tanh({0})", lambda ns, x, o: (1 - o * o,)),
    ScalarFn("asinh", 1, "float", np.arcsinh, "asinh({0})",
             lambda ns, x, o: (1 / ns.sqrt(x * x + 1),)),
    ScalarFn("acosh", 1, "float", np.arccosh, "acosh({0})",
             lambda ns, x, o: (1 / ns.sqrt(x * x - 1),)),
    ScalarFn("atanh", 1, "float", np.arctanh, "atanh({0})",
             lambda ns, x, o: (1 / (1 - x * x),)),
    ScalarFn("floor", 1, "real", np.floor, "LA_FLOOR({0})"),
    ScalarFn("ceil", 1, "real", np.ceil, "LA_CEIL({0})"),
    ScalarFn("trunc", 1, "real", np.trunc, "LA_TRUNC({0})"),
    ScalarFn("round", 1, "numeric", _round, "LA_ROUND({0})"),
    ScalarFn("sign", 1, "numeric", _sign, "LA_SIGN({0})"),
    ScalarFn("signbit", 1, "signbit", np.signbit, "signbit({0})"),
    ScalarFn("isnan", 1, "pred", np.isnan, "LA_ISNAN({0})"),
    ScalarFn("isinf", 1, "pred", np.isinf, "LA_ISINF({0})"),
    ScalarFn("isfinite", 1, "pred", np.isfinite, "LA_ISFINITE({0})"),
    ScalarFn("logical_not", 1, "logical", np.logical_not, "(!{0})"),
    ScalarFn("bitwise_invert", 1, "bitwise", np.invert, "LA_INVERT({0})"),
    ScalarFn("reciprocal", 1, "float", np.reciprocal, "(1 / {0})", lambda ns, x, o: (-o * o,)),
    ScalarFn("conj", 1, "numeric_or_bool", _conj, "{0}", c_complex="conj({0})"),
    ScalarFn("real", 1, "part", np.real, "{0}", lambda ns, x, o: (1,), c_complex="creal({0})"),
    ScalarFn("imag", 1, "part", np.imag, "LA_ZERO({0})", c_complex="cimag({0})"),
    # three operands: where(condition, x1, x2)
    ScalarFn("where", 3, "where", _where, "({0} ? {1} : {2})"),
]

TABLE: dict[str, ScalarFn] = {row.name: row for row in _ROWS}
