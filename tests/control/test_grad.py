"""Gradients through cond, scan, fori_loop and while_loop (reverse and forward mode) against
hand-derived gradients and finite differences; the two-pass Gauss-Newton product."""

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.control import ops as control_ops
from lazyarr.diff import Lop, Rop, grad, jvp

from ..finite_differences import central_differences as _fd
from .test_loops import _bptt_np, _elman_params, _loss_np, elman_xp


def test_elman_bptt_by_grad_matches_hand_derived_and_finite_differences():
    x, h0, Wx, Wh, b = _elman_params()

    def loss(Wh_, Wx_, h0_):
        _, hs = elman_xp(xp.asarray(x), h0_, Wx_, Wh_, xp.asarray(b))
        return 0.5 * xp.sum(hs ** 2)

    gWh, gWx, gh0 = grad(loss, argnums=(0, 1, 2))(xp.asarray(Wh), xp.asarray(Wx),
                                                 xp.asarray(h0))
    np.testing.assert_allclose(np.asarray(gWh), _bptt_np(x, h0, Wx, Wh, b), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(gWx), _fd(lambda w: _loss_np(x, h0, w, Wh, b), Wx),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gh0), _fd(lambda h: _loss_np(x, h, Wx, Wh, b), h0),
                               rtol=1e-6, atol=1e-8)


def test_grad_with_respect_to_the_sequence_and_reverse_scan():
    x, h0, Wx, Wh, b = _elman_params(T=4, I=3, H=3)

    def loss(xs):
        def step(h, xt):
            h = xp.tanh(xt @ xp.asarray(Wx) + h @ xp.asarray(Wh))
            return h, xp.sum(h * h)
        _, ys = xp.scan(step, xp.asarray(h0[:3]), xs, reverse=True)
        return xp.sum(ys * xp.arange(1.0, 5.0))

    def loss_np(xs):
        h, tot = h0[:3], 0.0
        for t in reversed(range(4)):
            h = np.tanh(xs[t] @ Wx + h @ Wh)
            tot += (t + 1) * np.sum(h * h)
        return tot

    g = grad(loss)(xp.asarray(x))
    np.testing.assert_allclose(np.asarray(g), _fd(loss_np, x), rtol=1e-6, atol=1e-8)


def test_scan_jvp_matches_finite_differences():
    x, h0, Wx, Wh, b = _elman_params(T=5, I=3, H=4)
    v = np.random.default_rng(3).standard_normal(Wh.shape)

    def hs_of(Wh_):
        return elman_xp(xp.asarray(x), xp.asarray(h0), xp.asarray(Wx), Wh_, xp.asarray(b))[1]

    def hs_np(W):
        return np.asarray(elman_xp(*map(xp.asarray, (x, h0, Wx, W, b)))[1])

    _, t = jvp(hs_of, (xp.asarray(Wh),), (xp.asarray(v),))
    eps = 1e-6
    fd = (hs_np(Wh + eps * v) - hs_np(Wh - eps * v)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(t), fd, rtol=1e-6, atol=1e-9)


def test_fori_loop_gradient():
    def f(a):
        return xp.sum(xp.fori_loop(0, 5, lambda i, v: xp.sin(v) * a + xp.astype(i, xp.float64),
                                   xp.ones(3)))

    def f_np(a):
        v = np.ones(3)
        for i in range(5):
            v = np.sin(v) * a + i
        return v.sum()

    a = np.array([0.3, -0.7, 1.1])
    g_fd = _fd(f_np, a)
    np.testing.assert_allclose(np.asarray(grad(f)(xp.asarray(a))), g_fd, rtol=1e-7)
    d = np.array([1.0, 0.5, -2.0])
    _, t = jvp(f, (xp.asarray(a),), (xp.asarray(d),))
    assert float(t) == pytest.approx(float(g_fd @ d), rel=1e-7)


def _newton_sqrt(a, x0):
    return xp.while_loop(lambda s: xp.abs(s[0] * s[0] - a) > 1e-12,
                         lambda s: (0.5 * (s[0] + a / s[0]), s[1] + 1), (x0, xp.asarray(0)))


def test_while_loop_newton_to_tolerance_and_its_gradient():
    a = 2.5
    steps0 = control_ops.counters["while_steps"]
    r, n = _newton_sqrt(xp.asarray(a), xp.asarray(1.0))
    assert float(r) == pytest.approx(np.sqrt(a), rel=1e-14)
    assert int(n) == control_ops.counters["while_steps"] - steps0 > 2
    # through the recorded trajectory: d/da of the converged iterate is 1 / (2 sqrt(a))
    g = grad(lambda a_: _newton_sqrt(a_, xp.asarray(1.0))[0])(xp.asarray(a))
    np.testing.assert_allclose(float(g), 0.5 / np.sqrt(a), rtol=1e-9)
    # and w.r.t. the initial guess: the iteration forgets it (quadratic convergence)
    g0 = grad(lambda x0: _newton_sqrt(xp.asarray(a), x0)[0])(xp.asarray(1.0))
    assert abs(float(g0)) < 1e-6


def test_while_loop_gradient_of_a_fixed_step_count_matches_finite_differences():
    def f(w):
        v, _ = xp.while_loop(lambda s: s[1] < 4, lambda s: (xp.tanh(s[0] * w) + 0.1, s[1] + 1),
                             (xp.ones(2), xp.asarray(0)))
        return xp.sum(v * v)

    def f_np(w):
        v = np.ones(2)
        for _ in range(4):
            v = np.tanh(v * w) + 0.1
        return np.sum(v * v)

    w = np.array([0.8, -1.3])
    np.testing.assert_allclose(np.asarray(grad(f)(xp.asarray(w))), _fd(f_np, w), rtol=1e-7)
    _, t = jvp(f, (xp.asarray(w),), (xp.asarray(np.array([1.0, 2.0])),))
    eps = 1e-6
    fd = (f_np(w + eps * np.array([1.0, 2.0])) - f_np(w - eps * np.array([1.0, 2.0]))) / (2 * eps)
    assert float(t) == pytest.approx(fd, rel=1e-7)


@pytest.mark.parametrize("p", [0.5, -0.5])
def test_cond_gradient_and_jvp_through_the_taken_branch_only(p):
    x0 = np.array([0.4, 1.3])
    runs = dict(control_ops.counters)

    def f(x):
        return xp.sum(xp.cond(xp.asarray(p) > 0, lambda v: xp.sin(v) * v, lambda v: xp.exp(v),
                              x))

    g = np.asarray(grad(f)(xp.asarray(x0)))
    expect = np.sin(x0) + x0 * np.cos(x0) if p > 0 else np.exp(x0)
    np.testing.assert_allclose(g, expect, rtol=1e-12)
    taken, other = ("cond_true", "cond_false") if p > 0 else ("cond_false", "cond_true")
    assert control_ops.counters[taken] > runs[taken]
    assert control_ops.counters[other] == runs[other]
    _, t = jvp(f, (xp.asarray(x0),), (xp.asarray(np.array([1.0, -2.0])),))
    assert float(t) == pytest.approx(float(expect @ np.array([1.0, -2.0])), rel=1e-12)


def test_cond_gradient_of_a_captured_array():
    w = np.array([2.0, -1.0])

    def f(w_):
        return xp.sum(xp.cond(xp.asarray(True), lambda: w_ * w_, lambda: xp.zeros(2)))

    np.testing.assert_allclose(np.asarray(grad(f)(xp.asarray(w))), 2 * w)


def _branch_capture_loss(np_, cond, scan, m, x):
    """A scan whose body's cond reads, in one branch only, captures made by ops that may raise
    (an inverse, a gather) from the differentiated ``m``."""
    b = np_.linalg.inv(m)
    g = np_.take(np_.reshape(b, (-1,)), np_.asarray([0, 3, 1]))

    def step(c, xt):
        inv_t = np_.linalg.inv(m * xt)
        c = cond(c > 1.0, lambda v: v * (np_.sum(g * g) + inv_t[0, 1]),
                 lambda v: v * xt + b[1, 0], c)
        return c, c
    c, ys = scan(step, x[0], x)
    return np_.sum(ys) + c


@pytest.mark.parametrize("x0", [0.5, 1.2, 3.0])  # no step, the first, all take it
def test_cond_gradient_through_captures_read_by_one_branch_matches_jax(x0):
    """The vjps of captures only one branch reads run under that branch's cond: where it is
    taken (some steps, or all) the gradients are finite differences' (and JAX's, when it is
    installed)."""
    m0 = np.array([[2.0, 0.5], [0.3, 1.5]])
    x = np.array([x0, 0.8, 1.7])

    def loss_xp(m, x_):
        return _branch_capture_loss(xp, xp.cond, lambda f, c, xs: xp.scan(f, c, xs), m, x_)

    got = grad(loss_xp, argnums=(0, 1))(xp.asarray(m0), xp.asarray(x))
    fd_m = _fd(lambda mm: float(loss_xp(xp.asarray(mm), xp.asarray(x))), m0)
    fd_x = _fd(lambda xx: float(loss_xp(xp.asarray(m0), xp.asarray(xx))), x)
    np.testing.assert_allclose(np.asarray(got[0]), fd_m, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(got[1]), fd_x, rtol=1e-6, atol=1e-9)
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss_jax(m, x_):
        return _branch_capture_loss(jnp, jax.lax.cond, jax.lax.scan, m, x_)

    want = [np.asarray(g) for g in jax.grad(loss_jax, argnums=(0, 1))(m0, x)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10)


def _nested_loss(np_, cond, m, x, p, q):
    """Nested conds whose inner true branch alone reads an inverse and an exp of ``x``."""
    a = np_.linalg.inv(m * x[0])
    e = np_.exp(x)
    inner = cond(p, lambda: cond(q, lambda: a @ e, lambda: x * 3.0), lambda: x * x)
    return np_.sum(inner) + np_.sum(cond(q, lambda: a[0] * x, lambda: e))


@pytest.mark.parametrize("p", [True, False])
@pytest.mark.parametrize("q", [True, False])
def test_nested_cond_gradients_match_finite_differences_and_jax(p, q):
    """Gradients through nested conds, whose reverse mode gates cotangents by both branches,
    are finite differences' (and JAX's, when it is installed) on every path."""
    m0 = np.array([[2.0, 0.5], [0.3, 1.5]])
    x0 = np.array([0.7, -1.2])

    def loss_xp(m, x):
        return _nested_loss(xp, xp.cond, m, x, xp.asarray(p), xp.asarray(q))

    got = [np.asarray(g) for g in grad(loss_xp, argnums=(0, 1))(xp.asarray(m0), xp.asarray(x0))]
    fd_m = _fd(lambda mm: float(loss_xp(xp.asarray(mm), xp.asarray(x0))), m0)
    fd_x = _fd(lambda xx: float(loss_xp(xp.asarray(m0), xp.asarray(xx))), x0)
    np.testing.assert_allclose(got[0], fd_m, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got[1], fd_x, rtol=1e-6, atol=1e-9)
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss_jax(m, x):
        return _nested_loss(jnp, lambda c, t, f: jax.lax.cond(c, t, f), m, x, p, q)

    want = jax.grad(loss_jax, argnums=(0, 1))(m0, x0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-12, atol=1e-15)


def test_gauss_newton_product_runs_the_loop_in_two_passes():
    x, h0, Wx, Wh, b = _elman_params(T=6, I=4, H=5)
    v = np.random.default_rng(5).standard_normal(Wh.shape)
    W = xp.asarray(Wh)
    _, hs = elman_xp(xp.asarray(x), xp.asarray(h0), xp.asarray(Wx), W, xp.asarray(b))
    gn = Lop(hs, W, Rop(hs, W, xp.asarray(v)))
    runs = control_ops.counters["scan_runs"]
    got = np.asarray(gn)
    assert control_ops.counters["scan_runs"] - runs == 2
    # J^T (J v) with J the Jacobian of the stacked hidden states, by finite differences
    eps = 1e-6

    def hs_np(Wf):
        return _elman_np_hs(x, h0, Wx, Wf.reshape(Wh.shape), b).ravel()

    J = np.stack([(hs_np(Wh.ravel() + eps * e) - hs_np(Wh.ravel() - eps * e)) / (2 * eps)
                  for e in np.eye(Wh.size)], axis=1)
    np.testing.assert_allclose(got.ravel(), J.T @ (J @ v.ravel()), rtol=1e-6, atol=1e-9)


def _elman_np_hs(x, h0, Wx, Wh, b):
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = 1 / (1 + np.exp(-(x[t] @ Wx + h @ Wh + b)))
        hs.append(h)
    return np.stack(hs)


def _cond_in_scan(w, x):
    def step(c, xt):
        c = xp.cond(xp.sum(xt) > 0, lambda a: xp.sin(a * w), lambda a: a * w + 1.0, c + xt)
        return c, xp.sum(c)
    c, ys = xp.scan(step, xp.zeros(3), x)
    return xp.sum(ys) + xp.sum(c * c)


def test_second_order_through_scan_and_cond():
    """hvp (forward over reverse) and reverse over reverse agree with finite differences of
    the gradient; verify_grad and the vjp/jvp adjointness check pass on a cond inside a scan."""
    from lazyarr.diff import check_vjp_jvp, hvp, verify_grad

    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((5, 3)))
    w, v = rng.standard_normal(3), rng.standard_normal(3)

    def f(w_):
        return _cond_in_scan(w_, x)

    def g_np(w_):
        return np.asarray(grad(f)(xp.asarray(w_)))

    h_fd = (g_np(w + 1e-5 * v) - g_np(w - 1e-5 * v)) / 2e-5
    hv = hvp(f, (xp.asarray(w),), (xp.asarray(v),))
    np.testing.assert_allclose(np.asarray(hv), h_fd, rtol=1e-6, atol=1e-7)
    rr = grad(lambda w_: xp.sum(grad(f)(w_) * xp.asarray(v)))(xp.asarray(w))
    np.testing.assert_allclose(np.asarray(rr), h_fd, rtol=1e-6, atol=1e-7)
    verify_grad(_cond_in_scan, [w, np.asarray(x)])
    check_vjp_jvp(_cond_in_scan, [w, np.asarray(x)])


def test_backward_scan_is_built_once_and_reused_with_new_values():
    from lazyarr.control import rules

    x, h0, Wx, Wh, b = _elman_params(T=5, I=3, H=4)

    def loss(W):
        _, hs = elman_xp(xp.asarray(x), xp.asarray(h0), xp.asarray(Wx), W, xp.asarray(b))
        return 0.5 * xp.sum(hs ** 2)

    before = len(rules._backward_cache)
    for scale in (1.0, 0.5):
        g = grad(loss)(xp.asarray(Wh * scale))
        np.testing.assert_allclose(np.asarray(g), _bptt_np(x, h0, Wx, Wh * scale, b),
                                   rtol=1e-9)
    assert len(rules._backward_cache) == before + 1


def test_lazy_length_walks_a_prefix_and_differentiates():
    x = np.random.default_rng(6).standard_normal((5, 3))

    def f(w):
        n = xp.asarray(2) + 1  # known only when the graph runs
        c, ys = xp.scan(lambda c, xt: (xp.sin(c * w + xt), c), xp.zeros(3), xp.asarray(x),
                        length=n)
        return xp.sum(ys) + xp.sum(c)

    def f_np(w):
        c, tot = np.zeros(3), 0.0
        for t in range(3):
            tot += c.sum()
            c = np.sin(c * w + x[t])
        return tot + c.sum()

    w = np.array([0.5, -1.0, 2.0])
    assert float(f(xp.asarray(w))) == pytest.approx(f_np(w), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad(f)(xp.asarray(w))), _fd(f_np, w), rtol=1e-7)


def test_gradients_of_a_while_inside_a_scan_and_a_scan_inside_a_while():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 2))
    w = np.array([0.7, -0.4])

    def while_in_scan(w_):
        def step(c, xt):
            v, _ = xp.while_loop(lambda s: s[1] < 3,
                                 lambda s: (xp.tanh(s[0] * w_ + xt), s[1] + 1),
                                 (c, xp.asarray(0)))
            return v, xp.sum(v)
        return xp.sum(xp.scan(step, xp.ones(2), xp.asarray(x))[1])

    def while_in_scan_np(w_):
        c, tot = np.ones(2), 0.0
        for xt in x:
            for _ in range(3):
                c = np.tanh(c * w_ + xt)
            tot += c.sum()
        return tot

    def scan_in_while(w_):
        def body(s):
            _, ys = xp.scan(lambda c, xt: (c * w_ + xt, c), s[0], xp.asarray(x))
            return xp.tanh(ys[-1]), s[1] + 1
        return xp.sum(xp.while_loop(lambda s: s[1] < 2, body, (xp.ones(2), xp.asarray(0)))[0])

    def scan_in_while_np(w_):
        v = np.ones(2)
        for _ in range(2):
            c = v
            for xt in x[:-1]:
                c = c * w_ + xt
            v = np.tanh(c)
        return v.sum()

    for f, f_np in ((while_in_scan, while_in_scan_np), (scan_in_while, scan_in_while_np)):
        g_fd = _fd(f_np, w)
        np.testing.assert_allclose(np.asarray(grad(f)(xp.asarray(w))), g_fd, rtol=1e-7)
        _, t = jvp(f, (xp.asarray(w),), (xp.asarray(np.array([1.0, 2.0])),))
        assert float(t) == pytest.approx(float(g_fd @ [1.0, 2.0]), rel=1e-7)


@pytest.mark.parametrize("reverse", [False, True])
def test_grad_wrt_a_sequence_longer_than_a_lazy_length(reverse):
    """A lazy length may be shorter than the sequences: the rows past it get zero gradient."""
    x = np.arange(15.0).reshape(5, 3) / 10

    def f(xs):
        n = xp.asarray(2) + 1
        c, _ = xp.scan(lambda c, xt: (c + xt * xt, c), xp.zeros(3), xs, length=n,
                       reverse=reverse)
        return xp.sum(c)

    want = np.zeros_like(x)
    want[:3] = 2 * x[:3]
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(xp.grad(f)(xp.asarray(x))), want)


def test_second_derivatives_through_while_loop():
    """hvp (forward over reverse) and grad of grad (reverse over reverse) read the recorded
    trajectory's derivatives: they must match finite differences of the gradient."""
    def f(w):  # 3 steps of c = sin(c * w) from c = 1
        c, _ = xp.while_loop(lambda s: s[1] < 3, lambda s: (xp.sin(s[0] * w), s[1] + 1),
                             (xp.ones(2), xp.asarray(0)))
        return xp.sum(c ** 2)

    def f_np(w):
        c = np.ones(2)
        for _ in range(3):
            c = np.sin(c * w)
        return np.sum(c ** 2)

    def fd_grad(w, e=1e-6):
        return np.array([(f_np(w + e * d) - f_np(w - e * d)) / (2 * e) for d in np.eye(2)])

    w, v = np.array([0.7, -0.4]), np.array([1.0, 0.5])
    want = (fd_grad(w + 1e-4 * v) - fd_grad(w - 1e-4 * v)) / 2e-4
    np.testing.assert_allclose(np.asarray(xp.grad(f)(xp.asarray(w))), fd_grad(w), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(xp.hvp(f, (xp.asarray(w),), (xp.asarray(v),))),
                               want, rtol=1e-5)
    rr = xp.grad(lambda a: xp.sum(xp.grad(f)(a) * xp.asarray(v)))(xp.asarray(w))
    np.testing.assert_allclose(np.asarray(rr), want, rtol=1e-5)


def test_grad_wrt_a_sequence_with_a_negative_lazy_length():
    """A negative length runs no step (as the forward clamps it): a zero gradient."""
    x = np.arange(15.0).reshape(5, 3)

    def f(xs):
        c, _ = xp.scan(lambda c, xt: (c + xt * xt, c), xp.zeros(3), xs,
                       length=xp.asarray(0) - 3)
        return xp.sum(c)

    assert float(f(xp.asarray(x))) == 0.0
    np.testing.assert_array_equal(np.asarray(xp.grad(f)(xp.asarray(x))), np.zeros_like(x))


@pytest.mark.parametrize("reduce", [xp.sum, xp.mean, xp.max,
                                    lambda ys: ys[-1] * ys[0]],
                         ids=["sum", "mean", "max", "index"])
def test_second_order_through_a_scan_of_lazy_length(reduce):
    """The per-step outputs of a scan whose length only the run knows, reduced: hessian,
    hvp, grad of grad and a compiled grad build no read of the length (they raised
    ConcretizationError), and equal the same scan of static length."""
    xs = np.random.default_rng(3).standard_normal((4, 3))
    h0 = np.array([0.3, -0.7, 1.1])
    v = np.array([1.0, -0.5, 0.25])

    def make(lazy):
        def f(h):
            n = xp.asarray(np.int64(4)) + 0 if lazy else None
            _, ys = xp.scan(lambda c, x: (xp.sin(c) + x, c * x), h, xp.asarray(xs), length=n)
            return xp.sum(reduce(ys))
        return f

    lazy, static = make(True), make(False)
    for fn in (lambda f: xp.hessian(f)(h0), lambda f: xp.hvp(f, (h0,), (v,)),
               lambda f: xp.grad(lambda h: xp.sum(xp.grad(f)(h) * v))(h0),
               lambda f: xp.compile(xp.grad(f))(h0)):
        np.testing.assert_allclose(np.asarray(fn(lazy)), np.asarray(fn(static)), rtol=1e-12)


# ---- higher orders through loops: only the wanted constants are differentiated -------------

def test_second_order_through_a_scan_of_a_power_at_a_negative_base():
    """The backward scan also accumulated a cotangent for the exponent of ``w ** k`` (a float
    constant nothing is differentiated against): its partial ``log(w) * w**k`` is NaN for
    ``w < 0``, and the next order multiplied its zero cotangent by that NaN."""
    k = np.array(2.0)
    f = lambda a: xp.scan(lambda w, _: (w - 0.1 * w ** k, None), a, None, length=1)[0]  # noqa: E731
    g = lambda a: xp.scan(lambda w, _: (w - 0.1 * w ** 2, None), a, None, length=1)[0]  # noqa: E731
    for x in (-0.5, 0.5):  # f(x) = x - 0.1 x^2: f'' = -0.2, f''' = 0
        assert float(xp.grad(xp.grad(f))(x)) == pytest.approx(-0.2)
        assert float(xp.grad(xp.grad(xp.grad(g)))(x)) == pytest.approx(0.0, abs=1e-12)


def test_second_order_of_an_inner_gradient_step_loop_matches_finite_differences():
    """MAML's pattern: a loop of gradient steps on a squared loss, differentiated twice (the
    hoisted ``y - 1`` of the square's derivative was accumulated, and NaN where negative)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal(4)
    w0 = rng.standard_normal(3)

    def maml(w, ns, loop):
        inner = lambda v: ns.mean((X @ v - Y) ** 2)  # noqa: E731
        return inner(loop(w))

    def steps_np(w):
        for _ in range(3):
            w = w - 0.1 * (2 / 4) * X.T @ (X @ w - Y)
        return w

    def outer_np(w):  # sum of squares of maml's gradient, by central differences
        h = 1e-6
        gm = [(maml(w + h * e, np, steps_np) - maml(w - h * e, np, steps_np)) / (2 * h)
              for e in np.eye(3)]
        return float(np.sum(np.square(gm)))

    def loops(kind):
        inner = lambda v: xp.mean((X @ v - Y) ** 2)  # noqa: E731
        step = lambda v: v - 0.1 * xp.grad(inner)(v)  # noqa: E731
        if kind == "fori":
            return lambda w: xp.fori_loop(0, 3, lambda i, v: step(v), w)
        return lambda w: xp.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, step(s[1])),
                                       (xp.asarray(0), w))[1]

    h = 1e-4
    want = np.array([(outer_np(w0 + h * e) - outer_np(w0 - h * e)) / (2 * h) for e in np.eye(3)])
    for kind in ("fori", "while"):
        loop = loops(kind)
        got = xp.grad(lambda w, loop=loop: xp.sum(
            xp.grad(lambda v: maml(v, xp, loop))(w) ** 2))(w0)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-6)
