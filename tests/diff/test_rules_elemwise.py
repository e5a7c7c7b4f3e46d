"""Every differentiable row of the elementwise table, `where` and `Cast`: finite differences
and forward/reverse adjointness on hypothesis shapes (broadcasting and 0-d included), complex
values, and second derivatives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp
from lazyarr.array.ops.elemwise import Cast
from lazyarr.array.ops.scalar_table import TABLE
from lazyarr.diff.util import apply_op

from .rule_checks import SEEDS, SHAPES, check, values

# (lo, hi, signed_away) per function where the default [-2, 2] is outside the domain or hits
# a kink
UNARY_DOMAIN = {
    "log": (0.5, 3, False), "log2": (0.5, 3, False), "log10": (0.5, 3, False),
    "sqrt": (0.5, 3, False), "log1p": (-0.5, 2, False), "reciprocal": (0.5, 2, True),
    "asin": (-0.8, 0.8, False), "acos": (-0.8, 0.8, False), "atanh": (-0.8, 0.8, False),
    "acosh": (1.5, 3, False), "tan": (-1, 1, False), "abs": (0.3, 2, True),
}
BINARY_DOMAIN = {  # (x range, y range)
    "divide": ((-2, 2, False), (0.5, 2, True)),
    "pow": ((0.5, 2, False), (-2, 2, False)),
    "remainder": ((0.2, 1.0, False), (1.5, 2.5, False)),
    "atan2": ((0.5, 2, True), (0.5, 2, True)),
    "hypot": ((0.5, 2, True), (0.5, 2, True)),
    "copysign": ((0.5, 2, True), (0.5, 2, True)),
}
UNARY = sorted(n for n, r in TABLE.items() if r.nin == 1 and r.partials is not None)
BINARY = sorted(n for n, r in TABLE.items() if r.nin == 2 and r.partials is not None)
PIECEWISE_CONSTANT = ["floor", "ceil", "trunc", "round", "sign"]


def test_the_lists_cover_the_table():
    written_out = {"conj", "imag", "where"}  # rules without table partials
    no_derivative = {n for n, r in TABLE.items()
                     if r.kind in ("cmp", "order", "logical", "bitwise", "shift", "pred",
                                   "signbit")} | {"floor_divide", "nextafter"}
    covered = set(UNARY) | set(BINARY) | set(PIECEWISE_CONSTANT) | written_out | no_derivative
    assert covered == set(TABLE)


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=4)
@given(shape=SHAPES, seed=SEEDS)
def test_unary(name, shape, seed):
    lo, hi, signed = UNARY_DOMAIN.get(name, (-2, 2, False))
    fn = getattr(xp, name)
    check(fn, [values(seed, shape, lo, hi, signed)])


@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=4)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=SEEDS)
def test_binary_broadcasting(name, shapes, seed):
    (sx, sy) = shapes.input_shapes
    (ax, ay) = BINARY_DOMAIN.get(name, ((-2, 2, False), (-2, 2, False)))
    check(getattr(xp, name), [values(seed, sx, *ax), values(seed + 1, sy, *ay)])


@pytest.mark.parametrize("name", PIECEWISE_CONSTANT)
def test_piecewise_constant_functions_have_zero_derivative(name):
    x = np.array([-1.7, -0.2, 0.3, 2.6])
    g = xp.grad(lambda x: xp.sum(getattr(xp, name)(x) * x))(x)
    np.testing.assert_allclose(np.asarray(g), getattr(np, name)(x))  # d(k*x) = k


@settings(max_examples=6)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=SEEDS)
def test_where(shapes, seed):
    sc, sx, sy = shapes.input_shapes
    cond = values(seed, sc) > 0

    def f(x, y):
        return xp.where(xp.asarray(cond), x, y)

    check(f, [values(seed + 1, sx), values(seed + 2, sy)])


def test_clip_through_maximum_minimum():
    x = np.array([-2.0, -0.3, 0.4, 1.7])
    check(lambda x: xp.clip(x, -1.0, 1.0) * x, [x])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_split_the_derivative_at_ties(name):
    """At x == y each operand takes half (PyTorch's and JAX's choice: the mean of the one-
    sided derivatives), in both modes; away from ties the larger (smaller) operand takes all;
    a NaN operand sends it to y, as before (x >= y and x <= y are false there)."""
    f = getattr(xp, name)
    x = np.array([1.0, 2.0, 0.0, -3.0, np.nan, 1.0])
    y = np.array([1.0, 1.0, 0.0, 1.0, 1.0, np.nan])
    win = x > y if name == "maximum" else x < y
    want_x = np.where(x == y, 0.5, np.where(win, 1.0, 0.0))
    gx, gy = xp.grad(lambda a, b: xp.sum(f(a, b)), argnums=(0, 1))(xp.asarray(x),
                                                                  xp.asarray(y))
    np.testing.assert_array_equal(np.asarray(gx), want_x)
    np.testing.assert_array_equal(np.asarray(gy), 1.0 - want_x)
    tx, ty = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]), np.array([3.0, 5.0, 7.0, 9.0, 11.0, 13.0])
    _, t = xp.jvp(f, (xp.asarray(x), xp.asarray(y)), (xp.asarray(tx), xp.asarray(ty)))
    np.testing.assert_array_equal(np.asarray(t), want_x * tx + (1.0 - want_x) * ty)
    # a Python scalar bound: d/dx sum(maximum(x, 1)) at [1, 2] is [0.5, 1]
    g = xp.grad(lambda a: xp.sum(f(a, 1.0)))(xp.asarray([1.0, 2.0, 0.0]))
    np.testing.assert_array_equal(np.asarray(g), [0.5, 1.0, 0.0] if name == "maximum"
                                  else [0.5, 0.0, 1.0])


def test_maximum_second_derivatives_at_and_away_from_ties():
    """Hessian of sum(maximum(x, c) ** 2 + maximum(x, y) * x): by hand, d2/dx2 of m(x, c)^2
    is 2 p^2 (p the partial: 1, 0 or 1/2 at a tie) and of m(x, y) * x is 2 p; the mixed
    block d2/dx dy is (1 - p) for each element."""
    c = 1.0
    x = np.array([1.0, 2.0, 0.5])
    y = np.array([1.0, 3.0, 0.0])

    def f(v):
        a, b = v[:3], v[3:]
        return xp.sum(xp.maximum(a, c) ** 2 + xp.maximum(a, b) * a)

    h = np.asarray(xp.hessian(f)(xp.asarray(np.concatenate([x, y]))))
    pc = np.where(x == c, 0.5, np.where(x > c, 1.0, 0.0))
    py = np.where(x == y, 0.5, np.where(x > y, 1.0, 0.0))
    want = np.zeros((6, 6))
    want[:3, :3] = np.diag(2 * pc ** 2 + 2 * py)
    want[:3, 3:] = want[3:, :3] = np.diag(1 - py)
    np.testing.assert_array_equal(h, want)
    v = np.arange(1.0, 7.0)
    hv = xp.hvp(f, (xp.asarray(np.concatenate([x, y])),), (xp.asarray(v),))
    np.testing.assert_allclose(np.asarray(hv), want @ v, rtol=1e-15)


def test_clip_derivative_is_one_at_its_bounds():
    """clip keeps torch.clamp's derivative: x takes all of it at a bound (and NaN sends it
    on to the bound, as maximum/minimum do); a bound takes it only where x is past it."""
    x = np.array([1.0, 2.0, 1.5, 0.0, 3.0, np.nan])
    g = xp.grad(lambda a: xp.sum(xp.clip(a, 1.0, 2.0)))(xp.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    lo, hi = np.ones(6), np.full(6, 2.0)
    gx, glo, ghi = xp.grad(lambda a, b, c: xp.sum(xp.clip(a, b, c)), argnums=(0, 1, 2))(
        xp.asarray(x), xp.asarray(lo), xp.asarray(hi))
    np.testing.assert_array_equal(np.asarray(gx), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(glo), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(ghi), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    _, t = xp.jvp(lambda a: xp.clip(a, 1.0, 2.0), (xp.asarray(x),), (xp.asarray(np.ones(6)),))
    np.testing.assert_array_equal(np.asarray(t), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


COMPLEX = ["exp", "sin", "cos", "tanh", "log", "sqrt", "square", "reciprocal", "conj",
           "real", "imag", "abs", "negative"]


@pytest.mark.parametrize("name", COMPLEX)
def test_complex_unary(name):
    z = values(3, (2, 3), 0.5, 1.5, True, complex_=True)
    check(getattr(xp, name), [z])


@pytest.mark.parametrize("name", ["multiply", "divide", "add", "subtract", "pow"])
def test_complex_binary(name):
    a = values(4, (3,), 0.5, 1.5, True, complex_=True)
    b = values(5, (2, 1), 0.5, 1.5, True, complex_=True)
    check(getattr(xp, name), [a, b])


def test_grad_of_real_loss_of_complex_input_is_the_pytorch_convention():
    z = np.array([0.5 + 1j, -1.0 + 0.3j])
    g = xp.grad(lambda z: xp.sum(xp.real(z * z)))(z)  # L = x^2 - y^2
    np.testing.assert_allclose(np.asarray(g), 2 * np.conj(z))


def test_cast():
    x = values(6, (2, 3))
    check(lambda x: xp.astype(x, xp.complex128) * (1.5 - 0.5j), [x])
    z = values(7, (3,), complex_=True)
    check(lambda z: apply_op(Cast(xp.float64), z), [z])  # the op keeps the real part
    x32 = values(8, (3,)).astype(np.float32)
    g = xp.grad(lambda x: xp.sum(xp.astype(x, xp.float64) ** 2))(x32)
    assert g.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(g), 2 * x32.astype(np.float64), rtol=1e-6)
    xp.check_vjp_jvp(lambda x: xp.astype(xp.astype(x, xp.float32), xp.float64) * x, [x],
                     rtol=1e-6)


@pytest.mark.parametrize("name", ["tanh", "sin", "exp", "log", "sqrt", "atan", "reciprocal",
                                  "square", "abs"])
def test_second_derivative(name):
    lo, hi, signed = UNARY_DOMAIN.get(name, (-2, 2, False))
    fn = getattr(xp, name)
    grad_fn = xp.grad(lambda x: xp.sum(fn(x)))
    check(grad_fn, [values(8, (4,), lo, hi, signed)])


@settings(max_examples=6)
@given(shape=SHAPES, seed=SEEDS, n=st.sampled_from([2.0, 3.0, 0.5]))
def test_python_scalar_operands(shape, seed, n):
    check(lambda x: 2.0 / (x ** n + 1.0) - 3.0 * x, [values(seed, shape, 0.5, 2.0)])


def _fd_complex_grad(f, z, eps=1e-6):
    """dL/dRe + i dL/dIm of real ``f`` at complex ``z`` by central differences."""
    out = np.zeros_like(z)
    for i in range(z.size):
        for u in (1, 1j):
            zp, zm = z.copy(), z.copy()
            zp[i] += eps * u
            zm[i] -= eps * u
            out[i] += u * (f(zp) - f(zm)) / (2 * eps)
    return out


def test_complex_sign_is_z_over_its_modulus_in_both_modes():
    """sign(z) = z / |z| is not piecewise constant for complex z; second derivatives of
    complex abs go through it."""
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j])
    c = np.array([0.7 - 0.2j, 1.1 + 0.4j])
    got = np.asarray(xp.grad(lambda z: xp.sum(xp.real(xp.sign(z) * xp.asarray(c))))(z))
    want = _fd_complex_grad(lambda z: np.sum(np.real(z / np.abs(z) * c)), z)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    t = np.array([0.3 + 0.1j, -0.2 + 0.5j])
    _, jt = xp.jvp(xp.sign, (z,), (t,))
    e = 1e-6
    want_t = ((z + e * t) / np.abs(z + e * t) - (z - e * t) / np.abs(z - e * t)) / (2 * e)
    np.testing.assert_allclose(np.asarray(jt), want_t, rtol=1e-6)
    # at 0 the derivative is taken as 0 (no NaN)
    g0 = np.asarray(xp.grad(lambda z: xp.sum(xp.real(xp.sign(z))))(np.array([0j, 1 + 1j])))
    assert np.isfinite(g0).all() and g0[0] == 0


def test_second_derivative_of_complex_abs():
    x = np.array([0.3, -1.2, 0.8])
    tv = np.array([1.0, 0.5, -0.7])

    def h(x):
        return xp.sum(xp.abs(xp.sin(xp.astype(x, xp.complex128) * (1 + 2j))))

    gr = xp.grad(h)
    want = (np.asarray(gr(x + 1e-5 * tv)) - np.asarray(gr(x - 1e-5 * tv))) / 2e-5
    np.testing.assert_allclose(np.asarray(xp.hvp(h, (x,), (tv,))), want, rtol=1e-5)


def test_jvp_of_an_operand_broadcast_by_the_other():
    """The tangent of a scalar operand of ``eye(2) + w[0]`` is broadcast to the output."""
    f = lambda w: xp.sum(xp.eye(2) + w[0] * xp.ones(()))  # noqa: E731
    _, t = xp.jvp(f, (np.array([0.3, 0.1]),), (np.array([1.0, 0.0]),))
    assert float(t) == 4.0
    g = lambda w: xp.sum(xp.eye(2) + w[0])  # noqa: E731
    _, t = xp.jvp(g, (np.array([0.3, 0.1]),), (np.array([1.0, 0.0]),))
    assert float(t) == 4.0


def test_jvp_of_an_operand_broadcast_against_a_run_time_sized_one():
    x = np.array([1.0, -2.0, 3.0, 4.0])
    mask = xp.asarray(x > 0)
    f = lambda w: xp.sum(xp.asarray(x)[mask] + w[0])  # noqa: E731
    _, t = xp.jvp(f, (np.array([0.3, 0.1]),), (np.array([1.0, 0.0]),))
    assert float(t) == 3.0


def test_hypot_derivative_at_zero_is_zero_as_vector_norms():
    """hypot(x, y) = vector_norm([x, y]): at (0, 0) both partials are 0, the subgradient
    vector_norm takes (not 0/0); elsewhere x/h and y/h, second derivatives included."""
    x = np.array([0.0, -0.0, 3.0, 0.0, -1e-200])
    y = np.array([0.0, 0.0, 4.0, -2.0, 0.0])
    h = np.hypot(x, y)
    gx, gy = xp.grad(lambda a, b: xp.sum(xp.hypot(a, b)), argnums=(0, 1))(xp.asarray(x),
                                                                          xp.asarray(y))
    want_x = np.array([0.0, 0.0, 0.6, 0.0, -1.0])
    want_y = np.array([0.0, 0.0, 0.8, -1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(gx), want_x)
    np.testing.assert_array_equal(np.asarray(gy), want_y)
    np.testing.assert_array_equal(np.asarray(gx[:2]), np.asarray(
        xp.grad(lambda v: xp.linalg.vector_norm(v))(xp.asarray(np.zeros(2)))))
    tx, ty = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0, 9.0, 10.0])
    _, t = xp.jvp(xp.hypot, (xp.asarray(x), xp.asarray(y)), (xp.asarray(tx), xp.asarray(ty)))
    np.testing.assert_array_equal(np.asarray(t), want_x * tx + want_y * ty)
    # second derivatives stay finite at 0 (d2h/dx2 = y^2/h^3 elsewhere)
    hxx = xp.grad(lambda a: xp.sum(xp.grad(lambda u: xp.sum(xp.hypot(u, xp.asarray(y))))(a)))(
        xp.asarray(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(h == 0, 0.0, y ** 2 / h ** 3)
    np.testing.assert_allclose(np.asarray(hxx)[[0, 1, 2, 3]], want[[0, 1, 2, 3]], rtol=1e-15)
    check(xp.hypot, [values(3, (4,), 0.5, 2, True), values(4, (4,), 0.5, 2, True)])


def test_logaddexp_derivatives_at_infinite_arguments():
    """d/da logaddexp(a, b) is sigmoid(a - b): 1 where a is +inf and b finite, 0 for b; the
    formula exp(a - out) gave exp(inf - inf), NaN. Equal arguments share it equally."""
    a = np.array([np.inf, 1.0, -np.inf, -np.inf, np.inf, 2.0])
    b = np.array([0.5, np.inf, 0.5, -np.inf, np.inf, 3.0])
    ga, gb = xp.grad(lambda a, b: xp.sum(xp.logaddexp(a, b)), argnums=(0, 1))(
        xp.asarray(a), xp.asarray(b))
    s = 1 / (1 + np.exp(b[-1] - a[-1]))
    np.testing.assert_allclose(np.asarray(ga), [1.0, 0.0, 0.0, 0.5, 0.5, s], rtol=1e-15)
    np.testing.assert_allclose(np.asarray(gb), [0.0, 1.0, 1.0, 0.5, 0.5, 1 - s], rtol=1e-15)
    _, t = xp.jvp(lambda a: xp.logaddexp(a, xp.asarray(b)), (xp.asarray(a),),
                  (xp.asarray(np.ones_like(a)),))
    np.testing.assert_allclose(np.asarray(t), np.asarray(ga), rtol=1e-15)


def test_logaddexp_second_derivative_at_equal_arguments():
    """d2/da2 logaddexp(a, b) = s(1 - s) with s = sigmoid(a - b): 0.25 at a == b too (softplus
    written as logaddexp(x, 0) at x = 0), checked against central differences of the first."""
    a = np.array([1.0, 2.0000001, 0.0, -3.0])
    b = np.array([1.0, 2.0, 0.0, 0.5])

    def first(x):
        return xp.grad(lambda u: xp.sum(xp.logaddexp(u, xp.asarray(b))))(x)

    second = xp.grad(lambda u: xp.sum(first(u)))(xp.asarray(a))
    s = 1 / (1 + np.exp(b - a))
    np.testing.assert_allclose(np.asarray(second), s * (1 - s), rtol=1e-12)
