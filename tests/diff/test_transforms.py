"""The transforms (grad, value_and_grad, vjp, jvp, hvp, jacobian, hessian) and the Theano-style
operators (gradient, Lop, Rop) against hand-derived derivatives, NumPy and finite differences."""

import array_api_compat
import numpy as np
import pytest

import lazyarr as xp

RNG = np.random.default_rng(42)
X = RNG.standard_normal((5, 4))
W0 = RNG.standard_normal((4, 3))


def _hand_grad(W):
    t = np.tanh(X @ W)
    return X.T @ (2 * t * (1 - t ** 2))


def loss_lazyarr(W):
    return xp.sum(xp.tanh(X @ W) ** 2)


def loss_array_api(W):
    ns = array_api_compat.array_namespace(W)
    return ns.sum(ns.tanh(ns.matmul(ns.asarray(X), W)) ** 2)


def loss_numpy(W):
    return np.sum(np.tanh(X @ W) ** 2)


@pytest.mark.parametrize("loss", [loss_lazyarr, loss_array_api, loss_numpy])
def test_grad_of_one_loss_written_three_ways(loss, native_pipeline):
    g = xp.grad(loss)(W0)
    assert isinstance(g, xp.Array) and g.shape == W0.shape and g.dtype == xp.float64
    np.testing.assert_allclose(np.asarray(g), _hand_grad(W0), rtol=1e-12, atol=1e-12)


def test_value_and_grad_pytree_argnums_and_aux():
    def f(params, x, scale):
        W, b = params["W"], params["b"]
        out = xp.sum(xp.exp(x @ W + b)) * scale
        return out, {"pre": x @ W}

    params = {"W": W0, "b": np.ones(3)}
    (val, aux), (gp, gs) = xp.value_and_grad(f, argnums=(0, 2), has_aux=True)(params, X, 2.0)
    e = np.exp(X @ W0 + 1)
    np.testing.assert_allclose(float(val), 2 * e.sum())
    np.testing.assert_allclose(np.asarray(aux["pre"]), X @ W0)
    assert set(gp) == {"W", "b"}
    np.testing.assert_allclose(np.asarray(gp["W"]), 2 * X.T @ e)
    np.testing.assert_allclose(np.asarray(gp["b"]), 2 * e.sum(0))
    np.testing.assert_allclose(float(gs), e.sum())


def test_grad_of_python_scalar_and_float32_keeps_dtype():
    assert float(xp.grad(lambda x: x * x * x)(2.0)) == pytest.approx(12.0)
    x32 = np.linspace(-1, 1, 7, dtype=np.float32)
    g = xp.grad(lambda x: xp.sum(xp.sin(x)))(x32)
    assert g.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(g), np.cos(x32), rtol=1e-6)


def test_vjp_and_jvp_match_jacobian():
    def f(x, W):
        return xp.tanh(x @ W)

    x = RNG.standard_normal(4)
    out, vjp_fn = xp.vjp(f, x, W0)
    u = RNG.standard_normal(3)
    gx, gW = vjp_fn(u)
    t = np.tanh(x @ W0)
    d = u * (1 - t ** 2)
    np.testing.assert_allclose(np.asarray(out), t)
    np.testing.assert_allclose(np.asarray(gx), W0 @ d)
    np.testing.assert_allclose(np.asarray(gW), np.outer(x, d))
    tx, tW = RNG.standard_normal(4), RNG.standard_normal((4, 3))
    out2, tout = xp.jvp(f, (x, W0), (tx, tW))
    np.testing.assert_allclose(np.asarray(tout), (1 - t ** 2) * (tx @ W0 + x @ tW))


def test_grad_of_grad_hvp_jacobian_hessian_vs_numpy():
    def f(x):
        return xp.sum(xp.sin(x) * x ** 2)

    x = np.array([0.3, -1.2, 2.0, 0.7])
    d2 = 2 * np.sin(x) + 4 * x * np.cos(x) - x ** 2 * np.sin(x)  # f'' per element
    H = np.asarray(xp.hessian(f)(x))
    np.testing.assert_allclose(H, np.diag(d2), atol=1e-12)
    gg = xp.grad(lambda x: xp.sum(xp.grad(f)(x)))(x)
    np.testing.assert_allclose(np.asarray(gg), d2)
    v = RNG.standard_normal(4)
    np.testing.assert_allclose(np.asarray(xp.hvp(f, (x,), (v,))), d2 * v)
    J = np.asarray(xp.jacobian(lambda x: xp.tanh(x @ W0))(np.ones(4)))
    t = np.tanh(np.ones(4) @ W0)
    np.testing.assert_allclose(J, ((1 - t ** 2)[:, None] * W0.T))
    Jw = np.asarray(xp.jacobian(lambda W: xp.tanh(np.ones(4) @ W))(W0))  # reverse mode
    assert Jw.shape == (3, 4, 3)
    np.testing.assert_allclose(Jw, np.einsum("j,i,jk->jik", 1 - t ** 2, np.ones(4), np.eye(3)))


def test_hessian_of_mlp_like_loss_vs_finite_differences(native_pipeline):
    x = RNG.standard_normal(3)

    def f(w):
        return xp.sum(xp.log1p(xp.exp(x * w))) + xp.prod(w) * 0.1

    w = np.array([0.5, -0.3, 1.1])
    H = np.asarray(xp.hessian(f)(w))
    eps = 1e-5
    g = xp.grad(f)
    fd = np.stack([(np.asarray(g(w + eps * e)) - np.asarray(g(w - eps * e))) / (2 * eps)
                   for e in np.eye(3)])
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)


def test_theano_style_gradient_lop_rop():
    W = xp.asarray(W0)
    x = xp.asarray(RNG.standard_normal(4))
    y = xp.tanh(x @ W)
    cost = xp.sum(y ** 2)
    gW, gx = xp.gradient(cost, [W, x])
    t = np.tanh(np.asarray(x) @ W0)
    d = 2 * t * (1 - t ** 2)
    np.testing.assert_allclose(np.asarray(gW), np.outer(np.asarray(x), d))
    np.testing.assert_allclose(np.asarray(gx), W0 @ d)
    v = xp.asarray(RNG.standard_normal((4, 3)))
    y2 = xp.tanh(x @ W)
    jv = xp.Rop(y2, W, v)
    np.testing.assert_allclose(np.asarray(jv), (1 - t ** 2) * (np.asarray(x) @ np.asarray(v)))
    y3 = xp.tanh(x @ W)
    gn = xp.Lop(y3, W, xp.Rop(y3, W, v))  # Gauss-Newton product
    jvv = (1 - t ** 2) * (np.asarray(x) @ np.asarray(v))
    np.testing.assert_allclose(np.asarray(gn), np.outer(np.asarray(x), jvv * (1 - t ** 2)))


def test_gradient_after_materialization_is_an_error():
    W = xp.asarray(W0)
    cost = xp.sum(xp.tanh(X @ W))
    float(cost)
    with pytest.raises(ValueError, match="already materialized"):
        xp.gradient(cost, W)


def test_disconnected_inputs_zero_or_raise():
    def f(a, b):
        return xp.sum(a * 2.0)

    ga, gb = xp.grad(f, argnums=(0, 1))(np.ones(3), np.ones((2, 2)))
    np.testing.assert_array_equal(np.asarray(gb), np.zeros((2, 2)))
    np.testing.assert_array_equal(np.asarray(ga), np.full(3, 2.0))
    with pytest.raises(xp.DisconnectedInputError, match="argument leaf 1"):
        xp.grad(f, argnums=(0, 1), disconnected_inputs="raise")(np.ones(3), np.ones(2))
    a, b = xp.asarray(np.ones(3)), xp.asarray(np.ones(3))
    assert np.all(np.asarray(xp.gradient(xp.sum(a * a), b)) == 0)
    with pytest.raises(ValueError, match="not part of the computational graph"):
        xp.gradient(xp.sum(a * a), b, disconnected_inputs="raise")


def test_errors():
    with pytest.raises(TypeError, match=r"shape \(4, 3\).*test_transforms.py"):
        xp.grad(lambda W: xp.tanh(W))(W0)
    # a (loss, aux) pair without has_aux is named as such (it was stacked: a stack() error)
    with pytest.raises(TypeError, match=r"got a tuple of 2; with has_aux=True"):
        xp.grad(lambda W: (xp.sum(W), W))(W0)
    with pytest.raises(TypeError, match=r"got a tuple of 2; with has_aux=True"):
        xp.value_and_grad(lambda W: (xp.sum(W), xp.sum(W)))(W0)
    with pytest.raises(TypeError, match="integer or boolean"):
        xp.grad(lambda i: xp.sum(i * 1.0))(np.arange(3))
    with pytest.raises(TypeError, match="integer or boolean"):
        xp.gradient(xp.sum(xp.asarray([1, 2]) * 1.0), xp.asarray([1, 2]))
    with pytest.raises(ValueError, match=r"tangent leaf 0 has shape \(3,\)"):
        xp.jvp(lambda x: x * 2, (np.ones(4),), (np.ones(3),))
    with pytest.raises(TypeError, match="dtype float32"):  # a wrong dtype: JAX's TypeError
        xp.jvp(lambda x: x * 2, (np.ones(4),), (np.ones(4, np.float32),))
    _, vjp_fn = xp.vjp(lambda x: x * 2, np.ones(4))
    with pytest.raises(ValueError, match="cotangent leaf 0 has shape"):
        vjp_fn(np.ones(5))
    with pytest.raises(ValueError, match=r"v\[0\] has shape"):
        xp.Rop(xp.asarray(np.ones(3)) * 2, xp.asarray(np.ones(3)), np.ones(2))


def test_an_integer_primal_takes_no_tangent_of_another_dtype():
    """An integer or boolean primal carries no derivative (vjp gives it None): its tangent is
    an array of its own dtype (zeros_like(primal)), taken as zero; a float tangent, which
    jvp checked only for float primals (and took as zero), is a TypeError saying so. The
    same for vjp's cotangent of an integer output."""
    i = np.arange(3)
    with pytest.raises(TypeError, match=r"tangent leaf 0 has dtype float64, its primal has "
                                        r"dtype int64, which carries no derivative"):
        xp.jvp(lambda x: x * 1.5, (i,), (np.ones(3),))
    with pytest.raises(TypeError, match="tangent leaf 1 has dtype int64, its primal has dtype "
                                        "bool"):
        xp.jvp(lambda x, b: x * b, (np.ones(3), np.array([True, False, True])),
               (np.ones(3), np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="tangent leaf 0 has dtype float64"):
        xp.jvp(lambda x: x * 1.5, (np.array(2),), (0.0,))
    _, tan = xp.jvp(lambda x: x * 1.5, (np.array(2),), (0,))  # a Python int: its dtype
    assert float(tan) == 0.0
    for t in (np.zeros(3, np.int64), xp.zeros_like(xp.asarray(i))):
        out, tan = xp.jvp(lambda x: x * 1.5, (i,), (t,))
        np.testing.assert_array_equal(np.asarray(out), i * 1.5)
        np.testing.assert_array_equal(np.asarray(tan), np.zeros(3))
    x = np.array([0.5, 2.0, -1.0])  # a float primal's tangent still flows beside it
    _, tan = xp.jvp(lambda x, k: x * k, (x, i), (np.ones(3), np.zeros_like(i)))
    np.testing.assert_array_equal(np.asarray(tan), i.astype(float))
    _, pull = xp.vjp(lambda a: (a * 2.0, xp.astype(a, xp.int32)), xp.asarray(x))
    with pytest.raises(TypeError, match="cotangent leaf 1 has dtype float64, its primal has "
                                        "dtype int32, which carries no derivative"):
        pull((np.ones(3), np.ones(3)))
    (g,) = pull((np.ones(3), np.zeros(3, np.int32)))
    np.testing.assert_array_equal(np.asarray(g), np.full(3, 2.0))
    assert xp.vjp(lambda a: a * 1.5, i)[1](np.ones(3)) == (None,)


def test_integer_and_comparison_outputs_give_zero_cotangents():
    def f(x):
        k = xp.astype(x > 0, xp.float64)  # piecewise constant
        return xp.sum(k * x + xp.floor(x))

    x = np.array([-1.5, 0.5, 2.5])
    np.testing.assert_array_equal(np.asarray(xp.grad(f)(x)), (x > 0).astype(float))


def test_reading_a_value_that_depends_on_the_argument_inside_f_is_an_error():
    def f(x):
        y = xp.sin(x)
        if float(xp.sum(y)) > 0:  # Python control flow on a traced value
            return xp.sum(y)
        return xp.sum(y * 2.0)

    with pytest.raises(xp.ConcretizationError, match="test_transforms.py"):
        xp.grad(f)(np.ones(2))
    closure = xp.asarray(np.ones(2)) * 3.0
    g = xp.grad(lambda x: xp.sum(x * float(xp.sum(closure))))(np.ones(2))  # independent: fine
    np.testing.assert_array_equal(np.asarray(g), [6.0, 6.0])


def test_deep_graph_is_not_cut_while_differentiating():
    def f(x):
        for _ in range(600):  # deeper than the pending-depth bound
            x = xp.sin(x) * 0.9 + 0.1
        return xp.sum(x)

    x0 = np.array([0.3, 0.5])
    d, x = np.ones(2), x0.copy()
    for _ in range(600):
        d, x = d * np.cos(x) * 0.9, np.sin(x) * 0.9 + 0.1
    np.testing.assert_allclose(np.asarray(xp.grad(f)(x0)), d, rtol=1e-10, atol=1e-300)


def test_vjp_fn_works_after_the_output_was_read():
    x0 = np.array([0.3, 0.5])
    out, vjp_fn = xp.vjp(lambda x: xp.sin(x) * x, x0)
    np.testing.assert_allclose(np.asarray(out), np.sin(x0) * x0)
    (g,) = vjp_fn(np.ones(2))
    np.testing.assert_allclose(np.asarray(g), np.cos(x0) * x0 + np.sin(x0))


def test_training_loop_finds_its_program_in_the_trace_cache(native_pipeline):
    W = xp.asarray(RNG.standard_normal((3, 3)))
    vg = xp.value_and_grad(lambda W: xp.sum(xp.tanh(W @ W)))
    for step in range(4):
        v, g = vg(W)
        xp.realize(v, g)
        W = W - 0.1 * g
        if step == 1:
            before = xp.trace_cache_info()["misses"]
    assert xp.trace_cache_info()["misses"] == before


def test_total_derivative_wrt_an_intermediate_and_rop_of_several_inputs():
    x = xp.asarray(np.array([0.5, 1.5]))
    h = xp.exp(x)
    cost = xp.sum(h * x)
    gx, gh = xp.gradient(cost, [x, h])
    e = np.exp([0.5, 1.5])
    np.testing.assert_allclose(np.asarray(gh), [0.5, 1.5])
    np.testing.assert_allclose(np.asarray(gx), e * np.array([0.5, 1.5]) + e)
    a, b = xp.asarray(np.ones(2)), xp.asarray(np.full(2, 2.0))
    y1, y2 = a * b, xp.sin(a)
    r1, r2 = xp.Rop([y1, y2], [a, b], [np.full(2, 0.5), np.ones(2)])
    np.testing.assert_allclose(np.asarray(r1), 2.0 * 0.5 + 1.0)
    np.testing.assert_allclose(np.asarray(r2), np.cos(1.0) * 0.5)


def test_hvp_of_two_arguments_and_jacobian_of_pytrees():
    def f(a, b):
        return xp.sum(a * a * b) + xp.sum(b ** 3)

    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    ta, tb = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    ha, hb = xp.hvp(f, (a, b), (ta, tb))
    # H = [[2b, 2a], [2a, 6b]] blockwise-diagonal per element
    np.testing.assert_allclose(np.asarray(ha), 2 * b * ta + 2 * a * tb)
    np.testing.assert_allclose(np.asarray(hb), 2 * a * ta + 6 * b * tb)

    def g(p, s):
        return {"y": xp.sin(p["u"]) * s, "z": xp.sum(p["u"] * p["v"])}

    p = {"u": np.array([0.1, 0.2, 0.3]), "v": np.array([1.0, 2.0, 3.0])}
    J = xp.jacobian(g, argnums=(0, 1))(p, 2.0)
    np.testing.assert_allclose(np.asarray(J["y"][0]["u"]), np.diag(2 * np.cos(p["u"])))
    np.testing.assert_allclose(np.asarray(J["y"][0]["v"]), np.zeros((3, 3)))
    np.testing.assert_allclose(np.asarray(J["y"][1]), np.sin(p["u"]))
    np.testing.assert_allclose(np.asarray(J["z"][0]["v"]), p["u"])
    assert J["z"][1].shape == ()


def test_op_without_a_rule_is_named():
    from lazyarr.array.coerce import as_var, build
    from lazyarr.graph.basic import Op

    class Twice(Op):  # a float op nobody registered rules for
        def infer(self, x):
            return [(x.dtype, x.shape)]

        def perform(self, x):
            return 2 * x

    f = lambda x: xp.sum(build(Twice(), as_var(x)))  # noqa: E731
    with pytest.raises(NotImplementedError, match=r"no vjp rule .*Twice.*test_transforms.py"):
        xp.grad(f)(np.ones(2))
    with pytest.raises(NotImplementedError, match="no jvp rule"):
        xp.jvp(f, (np.ones(2),), (np.ones(2),))


def test_statistics_and_aux_of_vjp_jvp_and_warn_mode():
    x = np.array([[0.5, 1.5, -1.0], [2.0, 0.1, 0.3]])
    xp.verify_grad(lambda x: xp.var(x, axis=1, correction=1) + xp.std(x, axis=0)[0], [x])
    out, vjp_fn, aux = xp.vjp(lambda x: (x * 2.0, xp.sum(x)), x, has_aux=True)
    np.testing.assert_allclose(float(aux), x.sum())
    np.testing.assert_allclose(np.asarray(vjp_fn(np.ones_like(x))[0]), np.full_like(x, 2.0))
    out, t, aux = xp.jvp(lambda x: (x * 2.0, "tag"), (x,), (np.ones_like(x),), has_aux=True)
    assert aux == "tag"
    np.testing.assert_allclose(np.asarray(t), np.full_like(x, 2.0))
    with pytest.warns(UserWarning, match="argument leaf 1 does not reach"):
        xp.grad(lambda a, b: xp.sum(a), argnums=(0, 1), disconnected_inputs="warn")(x, x)


def test_gradient_of_max_shifted_logsumexp_is_the_softmax_at_large_values():
    x = np.array([1000.0, 1001.0, 1002.0, 1002.0])

    def lse(x):
        m = xp.max(x)
        return m + xp.log(xp.sum(xp.exp(x - m)))

    g = np.asarray(xp.grad(lse)(x))
    e = np.exp(x - x.max())
    np.testing.assert_allclose(g, e / e.sum(), rtol=1e-12)


def test_consider_constant_blocks_the_derivative_through_an_array():
    x = xp.asarray(np.array([0.5, 1.5]))
    h = xp.exp(x)
    cost = xp.sum(h * x)
    g = xp.gradient(cost, x, consider_constant=[h])  # h held fixed: d(h*x)/dx = h
    np.testing.assert_allclose(np.asarray(g), np.exp([0.5, 1.5]))
    u = xp.asarray(np.array([1.0, 2.0]))
    y = xp.sin(x) * h
    gl = xp.Lop(y, x, u, consider_constant=[h])
    np.testing.assert_allclose(np.asarray(gl), np.cos([0.5, 1.5]) * np.exp([0.5, 1.5]) * [1, 2])


def test_negative_argnums_per_call_arity_and_range_errors_every_call():
    # argnums are resolved once per number of arguments: -1 is the last argument of each call
    def f(*args):
        return xp.sum(args[-1] * args[-1]) + xp.sum(args[0])

    g = xp.grad(f, argnums=-1)
    a, b = np.arange(3.0), np.array([1.0, -2.0])
    np.testing.assert_allclose(np.asarray(g(a, b)), 2 * b)
    np.testing.assert_allclose(np.asarray(g(a, a, b)), 2 * b)
    np.testing.assert_allclose(np.asarray(g(b)), 2 * b + 1)
    bad = xp.grad(f, argnums=2)
    for _ in range(2):
        with pytest.raises(ValueError, match="argnums 2 is out of range.*test_transforms"):
            bad(a, b)
    np.testing.assert_allclose(np.asarray(bad(a, a, b)), 2 * b)


def test_the_same_array_twice_in_wrt():
    """Theano's convention: Lop gives every entry of wrt its full gradient; Rop sums
    J(wrt_j) v_j over the entries, a repeated one included."""
    v = np.array([0.3, -1.2, 0.8])
    x = xp.asarray(v)
    got = xp.Lop(xp.sum(x * x), [x, x], xp.asarray(1.0))
    for g in got:
        np.testing.assert_allclose(np.asarray(g), 2 * v)
    ones = xp.ones(3, dtype=xp.float64)
    np.testing.assert_allclose(np.asarray(xp.Rop(x * x, [x, x], [ones, ones])), 4 * v)
    g1, g2 = xp.gradient(xp.sum(x * x), [x, x])
    np.testing.assert_allclose(np.asarray(g1), 2 * v)
    np.testing.assert_allclose(np.asarray(g2), 2 * v)


@pytest.mark.parametrize("call", [
    lambda m: xp.grad(lambda a: xp.sum(a), disconnected_inputs=m)(xp.asarray(np.ones(2))),
    lambda m: xp.gradient(xp.sum(xp.asarray(np.ones(2)) * 2.0), xp.asarray(np.ones(2)),
                          disconnected_inputs=m),
], ids=["grad", "gradient"])
def test_an_unknown_disconnected_inputs_mode_is_refused(call):
    with pytest.raises(ValueError, match="disconnected_inputs"):
        call("rasie")



def test_namedtuple_arguments_and_cotangents():
    """grad, vjp and jacobian take and return namedtuples as pytrees of arrays (fields
    differentiated), as JAX does."""
    from collections import namedtuple

    P = namedtuple("P", "a b")
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])

    def f(p):
        return xp.sum(p.a * p.a * p.b)

    g = xp.grad(f)(P(xp.asarray(a), xp.asarray(b)))
    assert type(g) is P
    np.testing.assert_allclose(np.asarray(g.a), 2 * a * b)
    np.testing.assert_allclose(np.asarray(g.b), a * a)
    out, pull = xp.vjp(lambda p: P(p.a * 2.0, p.b * p.a), P(xp.asarray(a), xp.asarray(b)))
    assert type(out) is P
    (ct,) = pull(P(xp.ones(2, dtype=xp.float64), xp.ones(2, dtype=xp.float64)))
    assert type(ct) is P
    np.testing.assert_allclose(np.asarray(ct.a), 2.0 + b)
    np.testing.assert_allclose(np.asarray(ct.b), a)


@pytest.mark.parametrize("transform", [xp.grad, xp.value_and_grad, xp.jacobian, xp.hessian])
def test_repeated_argnums_are_refused(transform):
    """argnums=(1, 1) (or 1 and -1) gave zeros for the first copy: it is a ValueError, as JAX
    refuses it."""
    x = xp.asarray([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="more than once"):
        transform(lambda a, b: xp.sum(a * b * b), argnums=(1, -1))(x, x)


def test_jacobian_dtype_does_not_depend_on_the_mode():
    """Forward mode (inputs no larger than outputs) gave the output's dtype and reverse mode
    the input's: a float32 input with a float64 output gave float64 or float32 by size. Both
    now give the input's dtype, as a gradient has (promoting would only pretend: reverse
    mode computes in the input's precision)."""
    x32 = xp.asarray([1.0, 2.0], dtype=xp.float32)
    fwd = xp.jacobian(lambda a: xp.astype(a, xp.float64) ** 2)(x32)                 # 2 <= 2
    rev = xp.jacobian(lambda a: xp.sum(xp.astype(a, xp.float64) ** 2, keepdims=True))(x32)
    assert fwd.dtype == rev.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(fwd), np.diag([2.0, 4.0]))
    np.testing.assert_allclose(np.asarray(rev), [[2.0, 4.0]])
    x64 = xp.asarray([1.0, 2.0])
    assert xp.jacobian(lambda a: xp.astype(a, xp.float32) ** 2)(x64).dtype == xp.float64
    assert xp.jacobian(lambda a: xp.sum(xp.astype(a, xp.float32) ** 2, keepdims=True))(
        x64).dtype == xp.float64


def test_has_aux_without_a_pair_and_a_cotangent_of_another_dtype_say_so():
    """grad(has_aux=True) of an f returning one array raised "iteration over a 0-d array";
    a cotangent of the wrong dtype was a ValueError (JAX: TypeError)."""
    x = xp.asarray([1.0, 2.0])
    with pytest.raises(TypeError, match="has_aux=True, f must return a pair"):
        xp.grad(lambda a: xp.sum(a), has_aux=True)(x)
    _, pull = xp.vjp(lambda a: a * 2.0, x)
    with pytest.raises(TypeError, match="has dtype float32, its primal has dtype float64"):
        pull(xp.asarray([1.0, 1.0], dtype=xp.float32))


@pytest.mark.parametrize("name, make, arg", [
    ("value_and_grad", lambda f: xp.value_and_grad(f), [1, 2]),
    ("value_and_grad", lambda f: xp.value_and_grad(lambda x: x), [1.0, 2.0]),
    ("grad", lambda f: xp.grad(f), [1, 2]),
    ("hessian", lambda f: xp.hessian(f), [1, 2]),
    ("hessian", lambda f: xp.hessian(lambda x: x), [1.0, 2.0]),
    ("hessian", lambda f: xp.hessian(f, argnums=2), [1.0, 2.0]),
])
def test_errors_name_the_transform_called(name, make, arg):
    """value_and_grad's and hessian's errors named grad() and jacobian(), which the user
    did not call."""
    with pytest.raises((TypeError, ValueError), match=rf"^{name}\(\)"):
        make(lambda x: xp.sum(x))(xp.asarray(arg))


@pytest.mark.parametrize("cached", [False, True])
def test_an_unreached_input_names_value_and_grad(cached):
    """The disconnected-input error of value_and_grad named grad(), on the rules' path and on
    a template hit."""
    vg = xp.value_and_grad(lambda a, b: xp.sum(a), argnums=(0, 1),
                           disconnected_inputs="raise")
    x, y = xp.asarray([1.0, 2.0]), xp.asarray([3.0])
    if cached:
        xp.value_and_grad(lambda a, b: xp.sum(a), argnums=(0, 1))(x, y)
    with pytest.raises(xp.DisconnectedInputError, match=r"^value_and_grad\(\): argument leaf 1"):
        vg(x, y)


def test_consider_constant_on_one_output_of_a_node_with_several():
    """A constant that is one output of a multi-output node (a scan's per-step outputs, one
    branch result of a cond) blocks its own derivative, not its siblings': the node is
    reached through them, and its rule gets no cotangent for the constant."""
    a = np.array([0.5, -1.0, 2.0])
    b = np.array([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [0.7, 0.8, -0.9]])
    al = xp.asarray(a)
    p, q = xp.cond(xp.sum(al) > -100, lambda t: (t * 3.0, t * t), lambda t: (t, t), al)
    np.testing.assert_allclose(
        np.asarray(xp.gradient(xp.sum(p) + xp.sum(q), al, consider_constant=[p])), 2 * a)
    np.testing.assert_allclose(
        np.asarray(xp.gradient(xp.sum(p) + xp.sum(q), al, consider_constant=[q])), [3.0] * 3)

    # scan: c_{k+1} = c_k * x_k + a, ys_k = c_k; with ys constant only the carry's path counts
    c, ys = xp.scan(lambda c, x: (c * x + al, c), al, xp.asarray(b))
    got = xp.gradient(xp.sum(ys ** 2) + xp.sum(c), al, consider_constant=[ys])
    d = np.ones(3)  # d c_k / d a, with c_0 = a
    for k in range(3):
        d = d * b[k] + 1
    np.testing.assert_allclose(np.asarray(got), d, rtol=1e-12)
    got = xp.Lop([c, ys], al, [xp.ones(3), xp.ones((3, 3))], consider_constant=[ys])
    np.testing.assert_allclose(np.asarray(got), d, rtol=1e-12)


def test_gradients_of_size_one_operands_broadcast_against_run_time_rows():
    """A (1, n) operand broadcast against rows a mask keeps (a size known only at run time),
    then reduced: its cotangent is summed over the rows (None against 1 is not the same
    size), and operands with added leading axes are summed over them without a reshape."""
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [2.5, 1.1, 0.4], [-3.0, 0.2, 0.9]])
    b = np.array([[0.1, -0.2, 0.3]])
    rows = x[x[:, 0] > 0]

    def m(v):
        return v[v[:, 0] > 0]

    g = xp.grad(lambda bb: xp.sum((m(xp.asarray(x)) + bb) ** 2))(b)
    np.testing.assert_allclose(np.asarray(g), 2 * (rows + b).sum(0, keepdims=True))
    g = xp.grad(lambda bb: xp.sum((m(xp.asarray(x)) + bb) ** 2))(b[0])
    np.testing.assert_allclose(np.asarray(g), 2 * (rows + b[0]).sum(0))
    g = xp.grad(lambda v: xp.sum((m(v) - xp.mean(m(v), axis=0, keepdims=True)) ** 2))(x)
    centered = rows - rows.mean(0)
    want = np.zeros_like(x)
    want[x[:, 0] > 0] = 2 * centered  # the mean's own term sums to zero
    np.testing.assert_allclose(np.asarray(g), want, atol=1e-12)
    y = np.arange(9.0).reshape(3, 1, 3)
    g = xp.grad(lambda v: xp.sum(m(v) * xp.asarray(y)))(x)  # m: (None, 3) -> (3, None, 3)
    want = np.zeros_like(x)
    want[x[:, 0] > 0] = y.sum(0)
    np.testing.assert_allclose(np.asarray(g), want)


def _fd_grad(f, x, eps=1e-6):
    """Central finite differences of ``f(np, x)`` (NumPy, float64): the oracle."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(np, x + d) - f(np, x - d)) / (2 * eps)
    return g


# f(ns, x) with ns = numpy or lazyarr; a mask keeps one element (a size known only at run time,
# 1 when it runs) that is broadcast against a known size, or against another run-time size
_RUN_TIME_ONES = {
    "mul": lambda ns, x: ns.sum(x[x > 2] * x),
    "mul_const": lambda ns, x: ns.sum(x[x > 2] * ns.asarray([1.0, 2.0, 3.0])),
    "maximum": lambda ns, x: ns.sum(ns.maximum(x[x > 2], x * 0.5)),
    "where": lambda ns, x: ns.sum(ns.where(x > 0, x[x > 2], x) ** 2),
    "clip": lambda ns, x: ns.sum(ns.clip(x, x[x > 2] - 4.5, None) ** 2),
    "sort": lambda ns, x: ns.sum(ns.sort(x[x > 2]) * x ** 2),
    "take": lambda ns, x: ns.sum(ns.take(x, ns.nonzero(x > 2)[0]) * x),
    "two_masks": lambda ns, x: ns.sum((x[x > 2.5] + x[x > 0]) ** 2),
    "two_masks_mul": lambda ns, x: ns.sum((x[x > 0] * x[x > 2.5]) ** 2),
    "added_axis": lambda ns, x: ns.sum(x[x > 2] * ns.ones((2, 3)) * x),
    "broadcast_to": lambda ns, x: ns.sum(ns.broadcast_to(x[x > 2], (4, 3))
                                         * ns.reshape(ns.arange(12.0), (4, 3))),
    "broadcast_to_1": lambda ns, x: ns.sum(ns.broadcast_to(x[x > 2], (4, 1))
                                           * ns.arange(4.0)[:, None]),
}


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", list(_RUN_TIME_ONES))
def test_a_run_time_size_of_one_broadcast_against_a_known_size_sums_its_cotangent(
        name, compiled):
    """Broadcasting stretched a size known only at run time that turned out to be 1: the
    cotangent is summed over that axis (`SumLike`), as for a known 1."""
    f = _RUN_TIME_ONES[name]
    x = np.array([1.0, -2.0, 3.0])
    g = xp.grad(lambda v: f(xp, v))
    if compiled:
        g = xp.compile(g)
    np.testing.assert_allclose(np.asarray(g(xp.asarray(x))), _fd_grad(f, x), atol=1e-6)


# f(ns, x) as above; the mask keeps 3 of 4 elements (a size known only at run time), and the
# backward rule of the op applied to them needs that size: it must not read it (inside
# `compile` it has no value)
_A3 = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
_W3 = np.array([1.0, -2.0, 0.5])
_RUN_TIME_SIZES = {
    "reshape": lambda ns, x: ns.sum(ns.reshape(x[x > 0], (-1, 1)) ** 2
                                    * ns.asarray([[1.0, 2.0]])),
    "take": lambda ns, x: ns.sum(ns.take(x[x > 0], ns.asarray([2, 0, 2])) ** 2 * _W3),
    "take_along_axis": lambda ns, x: ns.sum(
        ns.take_along_axis(x[x > 0], ns.asarray([2, 0, 2]), axis=0) ** 2 * _W3),
    "concat": lambda ns, x: ns.sum(ns.concat([x[x > 0], x, x[x > 1]]) ** 2
                                   * ns.arange(1.0, 10.0)),
    "concat_rows": lambda ns, x: ns.sum(ns.concat([x[:, None] * _W3, x[x > 0][:, None] * _W3])
                                        ** 2 * ns.reshape(ns.arange(21.0), (7, 3))),
    "stack": lambda ns, x: ns.sum(ns.stack([x[x > 0], x[x > 0] ** 2]) * _W3),
    "stack_axis_1": lambda ns, x: ns.sum(ns.stack([x[x > 0], x[x > 0] ** 2], axis=1)
                                         * ns.asarray([1.0, -3.0])),
    "tile": lambda ns, x: ns.sum(ns.tile(x[x > 0], (2,)) ** 2 * ns.arange(6.0)),
    "tile_2d": lambda ns, x: ns.sum(ns.tile(x[x > 0], (2, 2)) ** 2 * ns.arange(6.0)),
    "repeat": lambda ns, x: ns.sum(ns.repeat(x[x > 0], 2) ** 2 * ns.arange(6.0)),
    "repeat_counts": lambda ns, x: ns.sum(ns.repeat(x[x > 0], ns.asarray([1, 2, 0])) ** 2
                                          * ns.arange(3.0)),
    "tile_rows": lambda ns, x: ns.sum(ns.tile(x[x > 0][:, None] * _W3, (2, 2, 1)) ** 2
                                      * ns.reshape(ns.arange(12.0), (2, 6, 1))),
    "repeat_rows": lambda ns, x: ns.sum(ns.repeat(x[x > 0][:, None] * _W3, 2, axis=0) ** 2
                                        * ns.arange(6.0)[:, None]),
    "prod": lambda ns, x: ns.prod(x[x > 0]),
    "prod_axis": lambda ns, x: ns.sum(ns.prod(ns.reshape(x[x > 0], (-1, 1)) * _W3, axis=0)),
    "prod_all_axes": lambda ns, x: ns.prod(ns.reshape(x[x > 0], (-1, 1)) * _W3),
    "cumulative_prod": lambda ns, x: ns.sum(ns.cumulative_prod(x[x > 0]) * _W3),
    "matmul": lambda ns, x: x[x > 0] @ (x[x > 0] * _W3),
    "matmul_matrix": lambda ns, x: ns.sum((_A3 @ x[x > 0]) ** 2),
    "matmul_batched": lambda ns, x: ns.sum((ns.stack([_A3, 2 * _A3]) @ x[x > 0]) ** 2),
    "matmul_rows": lambda ns, x: ns.sum((x[x > 0] @ (x[x > 0][:, None] * _A3)) * _W3),
    "solve": lambda ns, x: ns.sum(ns.linalg.solve(ns.asarray(_A3), x[x > 0]) * _W3),
    "cross": lambda ns, x: ns.sum(ns.linalg.cross(x[x > 0], ns.asarray(_W3)) ** 2 * _W3),
    "solve_batched": lambda ns, x: ns.sum(ns.linalg.solve(
        x[x > 0][:, None, None] * _A3 + ns.eye(3), ns.asarray(_W3)) * _W3),
    "cross_both": lambda ns, x: ns.sum(ns.linalg.cross(x[x > 0], x[x > 0] ** 2) * _W3),
    "vecdot": lambda ns, x: ns.vecdot(x[x > 0], x[x > 0] * _W3),
}


@pytest.mark.parametrize("name", list(_RUN_TIME_SIZES))
def test_gradients_through_run_time_sizes_compile(name):
    """The gradient of ``f`` compiles, and eager and compiled gradients both match finite
    differences."""
    f = _RUN_TIME_SIZES[name]
    x = np.array([0.5, -1.5, 2.0, 3.0])
    want = _fd_grad(f, x)
    g = xp.grad(lambda v: f(xp, v))
    eager = np.asarray(g(xp.asarray(x)))
    compiled = np.asarray(xp.compile(g)(xp.asarray(x)))
    np.testing.assert_allclose(eager, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(compiled, eager, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["cross_both", "solve_batched"])
def test_jvp_of_solve_and_cross_with_run_time_sizes_compile(name):
    """Their outputs' sizes are known only at run time too: the jvps broadcast the tangent to
    the output's shape without reading it."""
    f = _RUN_TIME_SIZES[name]
    x = np.array([0.5, -1.5, 2.0, 3.0])
    t = np.array([1.0, 2.0, -3.0, 0.5])
    eps = 1e-6
    want = (f(np, x + eps * t) - f(np, x - eps * t)) / (2 * eps)

    def jvp(a, u):
        return xp.jvp(lambda v: f(xp, v), (a,), (u,))[1]

    for run in (jvp, xp.compile(jvp)):
        np.testing.assert_allclose(float(run(xp.asarray(x), xp.asarray(t))), want, rtol=1e-6)


def test_hvp_of_solve_and_cross_of_a_run_time_size_compile():
    """hvp runs their vjps (the sums back to the inputs' shapes) and jvps on a masked
    operand; NumPy hand derivation: solve is linear in b, the cross term quadratic."""
    x = np.array([0.5, -1.5, 2.0, 3.0])
    t = np.array([1.0, 2.0, -3.0, 0.5])
    pos = x > 0
    c = np.stack([np.cross(e, _W3) for e in np.eye(3)], axis=1)  # cross(m, w) = c @ m
    hess = 2 * c.T @ (_W3[:, None] * c)  # of sum(cross(m, w)**2 * w) in m
    want = np.zeros(4)
    want[pos] = hess @ t[pos]
    cases = [(_RUN_TIME_SIZES["solve"], np.zeros(4)), (_RUN_TIME_SIZES["cross"], want)]
    for f, hvp in cases:
        def run(a, u, f=f):
            return xp.hvp(lambda v: f(xp, v), (a,), (u,))

        for h in (run, xp.compile(run)):
            np.testing.assert_allclose(np.asarray(h(xp.asarray(x), xp.asarray(t))), hvp,
                                       atol=1e-12)

def test_grad_with_respect_to_an_argument_of_run_time_size_inside_grad_and_compile():
    """An inner `grad`'s argument is a mask's result of the outer argument: its symbolic input
    keeps the size None (reading it would need the outer traced value), eagerly and under
    `compile`; the outer gradients match NumPy hand derivations and finite differences."""
    x = np.array([1.0, -2.0, 3.0, 4.0])
    w = np.array([1.0, 2.0, 3.0])
    pos = x > 0
    rank = np.argsort(np.argsort(x[pos]))

    def inner(a):  # 3 b**2 w[rank(b)], the gradient of sum(sort(b)**3 * w), at b = a[a > 0]
        return xp.grad(lambda b: xp.sum(xp.sort(b) ** 3 * xp.asarray(w)))(a[a > 0])

    def h(a):
        return xp.sum(inner(a) ** 2)

    def k(ns, a):  # sum of the gradient of prod(b): the products leaving one element out
        m = a[a > 0]
        if ns is np:
            return sum(np.prod(np.delete(m, i)) for i in range(m.size))
        return xp.sum(xp.grad(xp.prod)(m))

    want_h = np.zeros_like(x)
    want_h[pos] = 36 * x[pos] ** 3 * w[rank] ** 2
    np.testing.assert_allclose(np.asarray(xp.compile(inner)(xp.asarray(x))),
                               3 * x[pos] ** 2 * w[rank])
    grad_k = xp.grad(lambda a: k(xp, a))
    for compiled in (False, True):
        run_h, run_k = (xp.compile(xp.grad(h)), xp.compile(grad_k)) if compiled else (
            xp.grad(h), grad_k)
        np.testing.assert_allclose(np.asarray(run_h(xp.asarray(x))), want_h)
        np.testing.assert_allclose(np.asarray(run_k(xp.asarray(x))), _fd_grad(k, x), atol=1e-6)


def test_run_time_sizes_of_one_in_rows_and_tensordot_and_higher_order():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.5, 1.1, 0.4]])

    def rows(ns, v):  # (None, 3) rows, 1 at run time, against (3, 3)
        return ns.sum((v[v[:, 0] > 1] * v) ** 2)

    def cols(ns, v):  # (None, 1) against (None, 3): 1 against 2 rows at run time
        return ns.sum((v[v[:, 0] > 1][:, :1] * v[v[:, 0] > 0]) ** 2)

    def tdot(ns, v):  # contracted run-time sizes: a broadcast product
        m = v[v[:, 0] > 0]
        return ns.sum(ns.tensordot(m, m * m, axes=([0, 1], [0, 1])) * v)

    def sort_rows(ns, v):  # sorted along the known axis, then along the run-time one
        m = v[v[:, 0] > 0]
        return ns.sum(ns.sort(m, axis=1) * ns.arange(3.0) + ns.sort(m, axis=0) ** 2)

    for f in (rows, cols, tdot, sort_rows):
        want = _fd_grad(f, x)
        g = xp.grad(lambda v, f=f: f(xp, v))
        np.testing.assert_allclose(np.asarray(g(xp.asarray(x))), want, atol=1e-6)
        np.testing.assert_allclose(np.asarray(xp.compile(g)(xp.asarray(x))), want, atol=1e-6)
    # second order and forward over reverse through the summed cotangent
    v = np.array([1.0, -2.0, 3.0])

    def f(ns, x):
        return ns.sum(x[x > 2] * x ** 2)

    a = v[2]  # f = a * sum(x**2): grad 2 a x + e2 sum(x**2)
    hess = 2 * a * np.eye(3)
    hess[2] += 2 * v
    hess[:, 2] += 2 * v
    t = np.array([1.0, 0.5, -1.0])
    np.testing.assert_allclose(np.asarray(xp.hvp(lambda x: f(xp, x), (v,), (t,))), hess @ t)
    gg = xp.grad(lambda x: xp.sum(xp.grad(lambda y: f(xp, y))(x) ** 2))(xp.asarray(v))
    grad = 2 * a * v + np.array([0, 0, 1.0]) * np.sum(v ** 2)
    np.testing.assert_allclose(np.asarray(gg), 2 * hess @ grad)


def test_unique_values_broadcast_against_a_known_size():
    """``unique_values`` of equal elements is one value (its derivative the mean of them):
    its cotangent is summed over the three products before it is shared."""
    x = xp.asarray([2.0, 2.0, 2.0])
    g = xp.grad(lambda x: xp.sum(xp.unique_values(x) * xp.ones(3)))(x)
    np.testing.assert_allclose(np.asarray(g), [1.0, 1.0, 1.0])
    g = xp.grad(lambda x: xp.sum(xp.unique_values(x) * xp.asarray([1.0, 2.0, 3.0])))(x)
    np.testing.assert_allclose(np.asarray(g), [2.0, 2.0, 2.0])
    # float32 and complex cotangents keep their dtype
    g = xp.grad(lambda x: xp.sum(x[x > 2] * x))(xp.asarray([1.0, -2.0, 3.0], dtype=xp.float32))
    assert g.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(g), [3.0, 3.0, 5.0])
    z = xp.asarray([1 + 1j, -2 + 0j, 3 - 1j])
    (gz,) = xp.vjp(lambda z: z[xp.real(z) > 2] * z, z)[1](xp.ones(3, dtype=xp.complex128))
    np.testing.assert_allclose(np.asarray(gz), [3 + 1j, 3 + 1j, 5 + 1j])  # conj(3-1j) + sum(conj z)


def test_lop_rop_and_vjp_with_run_time_sizes_read_no_size():
    """A ``y`` or ``wrt`` with a size known only at run time: its (co)tangent's shape is
    checked where both sizes are known; reading the run-time size would realize the pending
    graph (cutting the path from ``wrt``: zeros) or, inside `compile`, need a traced value."""
    x = xp.asarray([1.0, -2.0, 3.0]) * 1.0  # pending
    np.testing.assert_allclose(np.asarray(xp.Lop(x[x > 0] * 2.0, x, xp.asarray([1.0, 1.0]))),
                               [2.0, 0.0, 2.0])
    x = xp.asarray([1.0, -2.0, 3.0]) * 1.0
    z = x[x > 0]
    np.testing.assert_allclose(float(xp.Rop(xp.sum(z ** 2), z, xp.asarray([1.0, 1.0]))), 8.0)
    x = xp.asarray([1.0, -2.0, 3.0]) * 1.0
    y = x[x > 0] ** 3
    np.testing.assert_allclose(np.asarray(xp.Rop(y, x, xp.asarray([1.0, 1.0, 0.5]))),
                               [3.0, 13.5])
    X = xp.asarray([1.0, -2.0, 3.0])

    def pullback(x):
        return xp.vjp(lambda y: y[y > 0] ** 2, x)[1](xp.ones_like(x[x > 0]))[0]

    np.testing.assert_allclose(np.asarray(pullback(X)), [2.0, 0.0, 6.0])
    np.testing.assert_allclose(np.asarray(xp.compile(pullback)(X)), [2.0, 0.0, 6.0])
    # known sizes are still compared at once; a wrong run-time size fails when it runs
    x = xp.asarray([1.0, -2.0, 3.0]) * 1.0
    with pytest.raises(ValueError, match=r"u\[0\] has shape \(2, 1\)"):
        xp.Lop(x[x > 0], x, xp.ones((2, 1)))
    with pytest.raises(ValueError):
        np.asarray(xp.Lop(x[x > 0] * 2.0, x, xp.ones(3)))


def test_a_size_one_cotangent_against_a_run_time_size_is_refused():
    """It was taken and broadcast by the sweep's kernels: Lop gave [2, 0, 2, 2] for a
    cotangent [1.] of 3 selected values, vjp a gradient of shape (1, 4) for a (4,) primal.
    The shapes cannot be compared without reading the size: refused, as before 79606a6."""
    x = xp.asarray([1.0, -2.0, 3.0, 0.5]) * 1.0
    z = x[x > 0]
    with pytest.raises(ValueError, match="known only when it runs"):
        xp.Lop(z * 2.0, x, xp.asarray([1.0]))
    with pytest.raises(ValueError, match="known only when it runs"):
        xp.Rop(z * 2.0, z, xp.asarray([1.0]))
    pull = xp.vjp(lambda a: a[a > 0] * 2.0, xp.asarray([1.0, -2.0, 3.0, 0.5]))[1]
    with pytest.raises(ValueError, match="known only when it runs"):
        pull(xp.asarray([1.0]))


def test_reshape_gradient_with_two_run_time_sizes():
    """4f86b57 made the reshape vjp build Reshape((None, None)), which perform cannot fill:
    two run-time sizes are read again (eagerly), as before."""
    a = xp.asarray([1.0, -2.0, 3.0, 0.5])

    def f(a):
        o = xp.expand_dims(a[a > 0], axis=1) * xp.expand_dims(a[a > 1], axis=0)
        return xp.sum(xp.expand_dims(o, axis=0) ** 2)

    np.testing.assert_allclose(np.asarray(xp.grad(f)(a)), [18.0, 0.0, 115.5, 9.0])


def test_jacobian_of_a_complex_output_of_a_real_input_does_not_depend_on_the_mode():
    """Reverse mode (more inputs than outputs) fed only real basis cotangents, and a real
    input's cotangent keeps the real part of Jᴴu: the Jacobian of a real->complex function
    lost its imaginary part (1+2j came out as 1). A second sweep with cotangent i·e_k gives
    it; complex inputs keep the documented conjugated rows."""
    x = np.array([3.0, 4.0, -0.5])
    c = np.array([1 + 2j, -0.5 + 0.25j, 2 - 1j])

    def f(a):
        z = xp.astype(a, xp.complex128)
        return z * c + xp.sin(z) * z

    want = np.diag(c + np.cos(x) * x + np.sin(x))  # elementwise: d/da (a c + a sin a)
    fwd = np.asarray(xp.jacobian(f)(xp.asarray(x)))
    rev = np.asarray(xp.jacobian(lambda a: f(a)[:2])(xp.asarray(x)))
    np.testing.assert_allclose(fwd, want, rtol=1e-12)
    np.testing.assert_allclose(rev, want[:2], rtol=1e-12)
    # a real input beside a complex one: the real one's rows are J, the complex one's Jᴴ
    w0 = 2 - 1j
    ja, jw = xp.jacobian(lambda a, w: xp.reshape(xp.sum(xp.astype(a, xp.complex128) * w * w),
                                                 (1,)), argnums=(0, 1))(
        xp.asarray(x), xp.asarray(np.full(3, w0)))
    np.testing.assert_allclose(np.asarray(ja), [np.full(3, w0 ** 2)], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jw), [np.conj(2 * x * w0)], rtol=1e-12)
    # complex -> complex and complex -> real reverse rows keep PyTorch's convention
    zz = np.array([1 + 1j, 2 - 1j, 0.5j])
    hol = np.asarray(xp.jacobian(lambda w: (w * w * c)[:1])(xp.asarray(zz)))
    np.testing.assert_allclose(hol, np.conj(np.diag(2 * zz * c))[:1], rtol=1e-12)
    cr = np.asarray(xp.jacobian(lambda w: xp.real(w * xp.conj(w))[:1])(xp.asarray(zz)))
    np.testing.assert_allclose(cr, [[2 * zz[0], 0, 0]], rtol=1e-12)
