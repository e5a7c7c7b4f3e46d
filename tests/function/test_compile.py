"""lazyarr.compile: results vs eager and NumPy, retracing, donation, trust_input, N-step loops."""

from __future__ import annotations

import collections
import enum
import math

import numpy as np
import pytest

import lazyarr as xp

from ..mlp_reference import mlp_loss_and_grads

RNG = np.random.default_rng(7)


def _mlp_params(sizes=(6, 5, 3)):
    ps = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        ps.append(xp.asarray((RNG.standard_normal((a, b)) * 0.3).astype(np.float32)))
        ps.append(xp.asarray((RNG.standard_normal(b) * 0.1).astype(np.float32)))
    return ps


def _loss(ps, x, y):
    h = x
    n = len(ps) // 2
    for i in range(n):
        z = h @ ps[2 * i] + ps[2 * i + 1]
        h = xp.tanh(z) if i < n - 1 else z
    m = xp.max(h, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(h - m), axis=1, keepdims=True)) + m
    return xp.mean(xp.sum(y * (lse - h), axis=1))


def _sgd_step(ps, x, y):
    loss, g = xp.value_and_grad(_loss)(ps, x, y)
    return [p - 0.1 * gp for p, gp in zip(ps, g)], loss


def _numpy_step(ps, x, y):
    """One SGD step (lr 0.1) with the hand-derived gradients; ``(new ps, loss)``."""
    loss, grads = mlp_loss_and_grads(ps, x, y)
    return [a - 0.1 * g for a, g in zip(ps, grads)], loss


def _data(b=4):
    x = RNG.standard_normal((b, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, b)]
    return x, y


def test_compiled_equals_eager_and_numpy():
    ps = _mlp_params()
    x, y = _data()
    eager_ps, eager_loss = _sgd_step(ps, xp.asarray(x), xp.asarray(y))
    np_ps, np_loss = _numpy_step([np.asarray(p) for p in ps], x, y)
    step = xp.compile(_sgd_step)
    new_ps, loss = step(ps, xp.asarray(x), y)  # Arrays and NumPy arrays mix
    assert isinstance(loss, xp.Array) and loss._v.owner is None  # a realized leaf
    assert float(loss) == pytest.approx(float(eager_loss), rel=1e-6)
    assert float(loss) == pytest.approx(float(np_loss), rel=1e-5)
    for a, b, c in zip(new_ps, eager_ps, np_ps):
        assert a.dtype == xp.float32 and a.shape == c.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(a), c, rtol=1e-4, atol=1e-5)


def test_pytrees_in_and_out():
    def f(tree, scale):
        return {"sum": tree["a"] + tree["b"][0], "rest": (tree["b"][1] * scale, None)}

    a, b0, b1 = (RNG.standard_normal(3) for _ in range(3))
    out = xp.compile(f)({"a": a, "b": [b0, b1]}, 2.0)
    assert set(out) == {"rest", "sum"} and out["rest"][1] is None
    np.testing.assert_allclose(np.asarray(out["sum"]), a + b0)
    np.testing.assert_allclose(np.asarray(out["rest"][0]), b1 * 2.0)


def test_namedtuples_in_and_out():
    """A namedtuple is a pytree node (as in JAX), not a leaf: its fields are traced, the
    result has its class, a call with the same class hits, a plain tuple or another class
    traces again; a linalg result namedtuple can be returned."""
    from collections import namedtuple

    Params = namedtuple("Params", "w b")
    Other = namedtuple("Other", "w b")

    def f(p, x):
        return Params(p.w * x, p.b + 1.0), xp.linalg.eigh(p.w[:2, :2] @ p.w[:2, :2].T)

    g = xp.compile(f)
    w, b, x = RNG.standard_normal((3, 3)), RNG.standard_normal(3), RNG.standard_normal(3)
    for _ in range(2):
        out, eig = g(Params(xp.asarray(w), xp.asarray(b)), x)
        assert type(out) is Params and type(eig).__name__ == "EighResult"
        np.testing.assert_allclose(np.asarray(out.w), w * x)
        np.testing.assert_allclose(np.asarray(out.b), b + 1.0)
        np.testing.assert_allclose(np.asarray(eig.eigenvalues),
                                   np.linalg.eigvalsh(w[:2, :2] @ w[:2, :2].T))
    assert g.n_traces == 1
    with pytest.raises(AttributeError):
        g((w, b), x)  # a plain tuple has no .w: traced again, and f fails as it would
    g(Other(w, b), x)
    assert g.n_traces == 2  # the failed trace is not counted

    class Wrapped(namedtuple("Wrapped", "w b")):  # its own __new__, as pytree.unflatten allows
        def __new__(cls, pair):
            return super().__new__(cls, *pair)

    got = xp.compile(lambda p: p)(Wrapped((w, b)))
    assert type(got) is Wrapped
    np.testing.assert_array_equal(np.asarray(got.b), b)


def test_retraces_only_on_a_new_signature():
    def f(x, n, flag):
        return x * n + (1.0 if flag else 0.0)

    g = xp.compile(f, static_argnums=2)
    x = np.arange(4.0)
    for _ in range(3):
        np.testing.assert_allclose(np.asarray(g(x, 2.0, True)), x * 2 + 1)
        np.testing.assert_allclose(np.asarray(g(xp.asarray(x + 1), 2.0, True)), (x + 1) * 2 + 1)
    assert g.n_traces == 1
    g(x.astype(np.float32), 2.0, True)       # new dtype
    g(np.arange(5.0), 2.0, True)             # new shape
    np.testing.assert_allclose(np.asarray(g(x, 3.0, True)), x * 3 + 1)  # new scalar value
    np.testing.assert_allclose(np.asarray(g(x, 3.0, False)), x * 3)     # new static value
    assert g.n_traces == 5
    g(x, 3.0, False)
    g(x.astype(np.float32), 2.0, True)
    assert g.n_traces == 5
    # an int is not a float (promotion differs), a list is not a tuple
    assert g(x.astype(np.float32), 2, True).dtype == np.float32
    assert g.n_traces == 6
    h = xp.compile(lambda t: t[0] - t[1])
    h((x, x))
    h([x, x])
    h([x, x])
    assert h.n_traces == 2


def test_the_signature_cache_keeps_the_most_recent_programs(monkeypatch):
    """A static argument that changes every call traces every call; the programs kept are the
    `MAX_SIGNATURES` most recently used, and a dropped one traces again."""
    from lazyarr.function import compiled

    monkeypatch.setattr(compiled, "MAX_SIGNATURES", 4)
    g = xp.compile(lambda x, lr: x - lr * x, static_argnums=1)
    x = np.arange(3.0)
    for i in range(10):
        np.testing.assert_allclose(np.asarray(g(x, 0.5 + i)), x - (0.5 + i) * x)
    assert g.n_traces == 10 and len(g._cache) == 4
    g(x, 6.5)  # of the last four, made most recent
    g(x, 10.5)
    g(x, 11.5)
    g(x, 12.5)
    g(x, 6.5)
    assert g.n_traces == 13
    g(x, 0.5)  # dropped long ago
    assert g.n_traces == 14


def test_closed_over_arrays_are_captured_and_pending_args_realized():
    w = xp.asarray(RNG.standard_normal((3, 3)))
    g = xp.compile(lambda x: x @ w)
    x = xp.asarray(RNG.standard_normal((2, 3))) * 2.0  # pending argument
    np.testing.assert_allclose(np.asarray(g(x)), np.asarray(x) @ np.asarray(w))
    assert g.n_traces == 1


def test_donation_writes_results_into_the_donated_buffers():
    ps = _mlp_params()
    x, y = _data()
    step = xp.compile(_sgd_step, donate_argnums=0)
    ref = [np.asarray(p).copy() for p in ps]
    ps, _ = step(ps, x, y)
    ptrs = [np.asarray(p).ctypes.data for p in ps]
    for _ in range(3):
        ref, ref_loss = _numpy_step(ref, x, y)
    for _ in range(2):
        ps, loss = step(ps, x, y)
    assert [np.asarray(p).ctypes.data for p in ps] == ptrs
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-4)
    for a, b in zip(ps, ref):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-5)
        assert not np.asarray(a).flags.writeable  # the caller gets read-only results


def test_donation_never_writes_into_a_callers_array():
    w = RNG.standard_normal(5)
    keep = w.copy()
    g = xp.compile(lambda p, d: p - d, donate_argnums=0)
    out = g(w, np.ones(5))
    out2 = g(out, np.ones(5))
    np.testing.assert_array_equal(w, keep)
    np.testing.assert_allclose(np.asarray(out2), keep - 2)
    other = g(w, np.ones(5))  # a fresh argument: a fresh buffer, out2 keeps its value
    np.testing.assert_allclose(np.asarray(out2), keep - 2)
    np.testing.assert_allclose(np.asarray(other), keep - 1)


def test_trust_input_runs_the_previous_program_and_wrong_input_is_reported():
    g = xp.compile(lambda a, b: (a * b, xp.sum(a)), trust_input=True)
    a = np.arange(4, dtype=np.float32)
    b = np.full(4, 2, np.float32)
    p, s = g(a, b)  # first call: traced through the checked path
    p2, s2 = g(a + 1, b)
    np.testing.assert_allclose(np.asarray(p2), (a + 1) * 2)
    assert float(s2) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="shape"):
        g(np.ones(5, np.float32), b)
    with pytest.raises(TypeError, match="trust_input"):
        g([1.0, 2.0, 3.0, 4.0], b)
    with pytest.raises(TypeError, match="trust_input"):
        g(a)
    # a wrong dtype is computed by NumPy's rules (documented): values stay right
    p3, _ = g(np.arange(4, dtype=np.float64), b)
    np.testing.assert_allclose(np.asarray(p3), np.arange(4) * 2)
    assert g.n_traces == 1


def test_trust_input_computes_pending_arrays_first():
    """Arrays not computed yet (``ones(3)``, ``a + 1``) are arrays of the call's structure: a
    trusted call computes them and runs; a wrong shape is still a ValueError."""
    f = xp.compile(lambda a, b: a * 2.0 + b, trust_input=True)
    a = np.arange(3.0)
    f(xp.asarray(a), np.ones(3))
    np.testing.assert_array_equal(np.asarray(f(xp.ones(3), np.ones(3))), np.full(3, 3.0))
    np.testing.assert_array_equal(np.asarray(f(xp.asarray(a) + 1.0, xp.asarray(a) * 3.0)),
                                  (a + 1.0) * 2.0 + a * 3.0)
    with pytest.raises(ValueError, match="shape"):
        f(xp.ones(4), np.ones(3))
    assert f.n_traces == 1
    g = xp.compile(lambda w: w - 1.0, donate_argnums=0, trust_input=True)
    w = g(xp.asarray(a))
    before = xp.asarray(a) * 10.0
    np.testing.assert_array_equal(np.asarray(g(w + 1.0)), a - 1.0)
    np.testing.assert_array_equal(np.asarray(w), a - 1.0)  # read, not written
    np.testing.assert_array_equal(np.asarray(g(before)), a * 10.0 - 1.0)


def test_n_step_loop_equals_n_python_calls():
    ps = _mlp_params()
    xs = RNG.standard_normal((5, 4, 6)).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, (5, 4))]
    step = xp.compile(_sgd_step, donate_argnums=0)
    ref = [np.asarray(p) for p in ps]
    cur = list(ps)
    for i in range(5):
        cur, loss = step(cur, xs[i], ys[i])
        ref, ref_loss = _numpy_step(ref, xs[i], ys[i])
    looped, loop_loss = step.loop(5, list(ps), xs, ys)
    assert float(loop_loss) == pytest.approx(float(loss), rel=1e-6)
    assert float(loop_loss) == pytest.approx(float(ref_loss), rel=1e-4)
    for a, b, c in zip(looped, cur, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(a), c, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="slices"):
        step.loop(6, list(ps), xs, ys)


def test_inside_an_enclosing_trace_f_is_inlined():
    g = xp.compile(lambda x: xp.sum(xp.sin(x) * x))
    x = RNG.standard_normal(4)
    grad = xp.grad(g)(xp.asarray(x))
    np.testing.assert_allclose(np.asarray(grad), np.cos(x) * x + np.sin(x), rtol=1e-12)


def test_argument_numbers_of_numpy_integer_type():
    """``static_argnums``/``donate_argnums``/``stacked_argnums`` take any integer
    (``operator.index``), one or a sequence, as ``.loop(n)`` does; bools are refused."""
    x = np.arange(3.0)
    f = xp.compile(lambda a, s: a * s, static_argnums=np.int64(1))
    np.testing.assert_array_equal(np.asarray(f(x, 2.0)), x * 2.0)
    assert f.static_argnums == (1,) and type(f.static_argnums[0]) is int
    g = xp.compile(lambda w, d: w - d, donate_argnums=[np.int32(0)])
    np.testing.assert_array_equal(np.asarray(g(x, x)), np.zeros(3))
    assert g.donate_argnums == (0,)
    h = xp.compile(lambda a, b: a + b)
    np.testing.assert_array_equal(
        np.asarray(h.loop(2, np.ones((2, 3)), x, stacked_argnums=np.uint8(0))), x + 1.0)
    for bad in (True, [np.bool_(True)], 1.0, "1"):
        with pytest.raises(TypeError, match="static_argnums"):
            xp.compile(lambda a: a, static_argnums=bad)


def test_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        xp.compile(3)
    with pytest.raises(TypeError, match="static_argnums"):
        xp.compile(lambda x: x, static_argnums=-1)
    with pytest.raises(TypeError, match="hashable"):
        xp.compile(lambda x, s: x, static_argnums=1)(np.ones(2), [1])
    with pytest.raises(TypeError, match="argument number"):
        xp.compile(lambda x: x, donate_argnums=3)(np.ones(2))


def test_results_the_caller_keeps_are_locked_and_never_alias_its_arguments():
    f = xp.compile(lambda a, b: (a, b * 2.0))
    a = np.arange(3, dtype=np.float64)
    b = np.ones(3)
    for _ in range(2):  # first (traced) and later (fast-path) calls
        ra, rb = f(a, b)
        assert a.flags.writeable  # the caller's array is not locked
        with pytest.raises(ValueError):
            np.asarray(ra)[0] = 5.0
        np.testing.assert_array_equal(np.asarray(ra), a)
        np.testing.assert_array_equal(np.asarray(rb), b * 2.0)


def test_loop_copies_a_non_contiguous_result_into_its_donated_state():
    # the new state (a transpose plus a slice) is written or copied into the donated buffer
    step = xp.compile(lambda s, x: (xp.matrix_transpose(s) + x,), donate_argnums=0)
    s0 = RNG.standard_normal((3, 3))
    xs = RNG.standard_normal((4, 3, 3))
    ref = s0.copy()
    for i in range(4):
        ref = ref.T + xs[i]
    (out,) = step.loop(4, xp.asarray(s0.copy()), xs)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12)
    (out2,) = step.loop(4, out, xs)  # the state fed back as the program's own buffer
    for i in range(4):
        ref = ref.T + xs[i]
    np.testing.assert_allclose(np.asarray(out2), ref, rtol=1e-12)


def test_loop_slices_of_strided_and_one_dimensional_stacks():
    # each step reads slice i through one moving window; a result that is the slice itself
    # is the last slice's values
    step = xp.compile(lambda s, x, v: (s + x * v, x), donate_argnums=0)
    xs = RNG.standard_normal((5, 6))[:, ::2]  # strided rows
    vs = RNG.standard_normal(5)               # 0-d slices
    s0 = RNG.standard_normal(3)
    ref = s0.copy()
    for i in range(5):
        ref = ref + xs[i] * vs[i]
    out, last = step.loop(5, xp.asarray(s0.copy()), xs, vs)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(last), xs[4])


def test_loop_again_with_the_last_loops_signature():
    """A loop with the last loop's signature skips the signature lookup (checked in C):
    the state chains across loops as in one long loop, nothing is traced again; another
    per-step shape or dtype, another Python scalar, a pending argument or too few slices take
    the full path (a new trace, a realization or the error)."""
    step = xp.compile(lambda s, x, c: (s * c + x,), donate_argnums=0)
    xs = RNG.standard_normal((6, 3))
    s = xp.asarray(RNG.standard_normal(3))
    ref = np.asarray(s).copy()
    for k in range(3):
        (s,) = step.loop(2, s, xs[2 * k:], 0.5)
        for i in range(2):
            ref = ref * 0.5 + xs[2 * k + i]
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-12)
    assert step.n_traces == 1
    (s,) = step.loop(2, s, xs, 2.0)  # another scalar: traced again
    ref = (ref * 2.0 + xs[0]) * 2.0 + xs[1]
    assert step.n_traces == 2
    (s,) = step.loop(1, s, xs.astype(np.float32), 2.0)  # another dtype: traced again
    ref = ref * 2.0 + xs[0].astype(np.float32)
    assert step.n_traces == 3
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-6)
    pending = xp.asarray(xs) * 1.0  # not realized yet
    (s,) = step.loop(1, s, pending, 2.0)
    ref = ref * 2.0 + xs[0]
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="slices"):
        step.loop(7, s, xs, 2.0)


# ---- donated buffers shared with other results ---------------------------------------------

def test_a_donated_input_returned_beside_its_update_keeps_its_old_value():
    """An output that is the donated input, or a view of it, is the value before the call:
    the update written into the input's buffer must not show through it."""
    p0 = np.arange(4.0)
    for g, want in [(lambda p: p, p0), (lambda p: p[1], p0[1]),
                    (lambda p: xp.reshape(p, (2, 2)), p0.reshape(2, 2)),
                    (lambda p: xp.flip(p), p0[::-1])]:
        f = xp.compile(lambda p, g=g: (p * 2.0 + 1.0, g(p)), donate_argnums=0)
        new, old = f(p0)
        np.testing.assert_array_equal(np.asarray(new), p0 * 2.0 + 1.0)
        np.testing.assert_array_equal(np.asarray(old), want)
        new2, old2 = f(new)  # the buffer is taken over and written again: old must not move
        np.testing.assert_array_equal(np.asarray(old), want)
        np.testing.assert_array_equal(np.asarray(old2), g(xp.asarray(p0 * 2.0 + 1.0)))


def test_donated_inputs_returned_swapped():
    """Each donated buffer gets the other input's old value, in a call and in a loop."""
    a0, b0 = np.zeros(3), np.ones(3)
    f = xp.compile(lambda a, b: (b, a), donate_argnums=(0, 1))
    x, y = f(a0, b0)
    np.testing.assert_array_equal(np.asarray(x), b0)
    np.testing.assert_array_equal(np.asarray(y), a0)
    g = xp.compile(lambda a, b, s: (b, a + 0.0 * s), donate_argnums=(0, 1))
    x, y = g.loop(3, a0, b0, np.zeros((3, 3)))
    np.testing.assert_array_equal(np.asarray(x), b0)
    np.testing.assert_array_equal(np.asarray(y), a0)


def test_heavy_ball_momentum_with_both_states_donated():
    """``(p, p_prev) -> (p - lr*g + mu*(p - p_prev), p)``: the second output is the first
    input, whose buffer the first output takes; compiled, looped and NumPy agree."""
    lr, mu, target = 0.1, 0.9, np.array([1.0, -2.0, 3.0])

    def step(p, p_prev):
        return p - lr * 2.0 * (p - target) + mu * (p - p_prev), p

    def step_np(p, p_prev):
        return p - lr * 2.0 * (p - target) + mu * (p - p_prev), p

    want = (np.zeros(3), np.zeros(3))
    for _ in range(5):
        want = step_np(*want)
    f = xp.compile(step, donate_argnums=(0, 1))
    got = (np.zeros(3), np.zeros(3))
    for _ in range(5):
        got = f(*got)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12)
    h = xp.compile(lambda p, q, s: step(p, q + 0.0 * s), donate_argnums=(0, 1))
    got = h.loop(5, np.zeros(3), np.zeros(3), np.zeros((5, 3)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12)


def test_python_float_arguments_key_by_sign_of_zero_and_nan():
    """Python scalars are constants of the program: -0.0 is not 0.0 (x / -0.0 is -inf), and
    every NaN is the same constant (one trace, not one per call). A third value (1.0) runs
    as eager code."""
    x = np.ones(3)
    f = xp.compile(lambda x, s: x / s)
    with np.errstate(divide="ignore"):
        for s in (0.0, -0.0, 0.0, 1.0, -0.0):
            np.testing.assert_array_equal(np.asarray(f(x, s)), x / s)
        f(np.ones(4), 2.0)  # the dict lookup, not the last program's matcher
        np.testing.assert_array_equal(np.asarray(f(x, -0.0)), x / -0.0)
    assert f.n_traces == 3
    g = xp.compile(lambda x, s: x * s)
    for _ in range(5):
        assert np.isnan(np.asarray(g(x, float("nan")))).all()
    assert g.n_traces == 1
    k = xp.compile(lambda x, s: x / s)
    with np.errstate(divide="ignore"):
        for s in (np.float64(0.0), np.float64(-0.0)):  # NumPy's float64 is a float too
            np.testing.assert_array_equal(np.asarray(k(x, s)), x / s)
    for _ in range(3):
        k(x, np.float64("nan"))  # a third value: eager code, then traced as it recurs
    assert k.n_traces == 3
    h = xp.compile(lambda x, s: x * s)
    for s in (complex(0.0, 0.0), complex(-0.0, 0.0), complex(0.0, -0.0)):
        np.testing.assert_array_equal(np.asarray(h(x, s)), x * s)
        assert [np.signbit(v.real) for v in np.asarray(h(x, s))] == [np.signbit(s.real)] * 3


def test_a_nan_argument_keys_by_its_sign():
    """-NaN is not NaN to copysign: the two are two constants (a -NaN call ran the program
    traced for +NaN, [1, 2] for [-1, -2]), while NaNs of one sign stay one trace."""
    x = np.array([1.0, -2.0])
    nan = float("nan")
    f = xp.compile(lambda x, s: xp.copysign(x, s))
    for s in (nan, -nan, nan, -nan, np.float64(-nan), 1.0, -nan, 2.0, nan, -nan, 3.0, -nan):
        np.testing.assert_array_equal(np.asarray(f(x, s)), np.copysign(x, s))
    # +NaN and -NaN, and -NaN as np.float64 (another type); 1.0, 2.0, 3.0 ran as eager code
    assert f.n_traces == 3
    g = xp.compile(lambda x, s: xp.copysign(x, s))
    for s in (-nan, nan, -nan):  # the previous call's matcher, then the signature lookup
        np.testing.assert_array_equal(np.asarray(g(x, s)), np.copysign(x, s))
    assert g.n_traces == 2
    h = xp.compile(lambda x, s: xp.copysign(x, xp.real(xp.asarray(s))))
    for s in (complex(nan, 1.0), complex(-nan, 1.0), complex(nan, 1.0)):
        np.testing.assert_array_equal(np.asarray(h(x, s)), np.copysign(x, s.real))


def test_eager_copysign_by_nans_of_either_sign():
    """The trace cache keys a NaN constant by its bytes: -NaN and NaN alternating in an eager
    loop (baked, then lifted once other values came) give copysign's signs."""
    x = xp.asarray(np.array([1.0, -2.0]))
    nan = float("nan")
    for s in (nan, -nan, nan, -nan, 0.5, -0.5, 0.25, -nan, nan, -nan):
        np.testing.assert_array_equal(np.asarray(xp.copysign(x, s)),
                                      np.copysign([1.0, -2.0], s))


class _Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize("key", [float("inf"), _Color.RED, np.int64(3), "a'b", (1, "x")],
                         ids=["inf", "enum", "np.int64", "quote", "tuple"])
def test_dict_keys_that_are_not_literals(key):
    """Any hashable dict key, in arguments and in results (the generated flatten, unflatten and
    matcher must not spell keys as Python source)."""
    x = np.arange(3.0)
    f = xp.compile(lambda d: {k: v * 2.0 for k, v in d.items()})
    for _ in range(2):  # the trace, then the matcher's path
        out = f({key: x})
        assert list(out) == [key]
        np.testing.assert_array_equal(np.asarray(out[key]), x * 2.0)



def test_dict_keys_equal_but_of_other_types_are_other_signatures():
    """``{1: x}``, ``{True: x}``, ``{1.0: x}`` (and ``0.0`` vs ``-0.0``, ``(1,)`` vs ``(True,)``)
    have equal keys that ``f`` tells apart: each call gets what eager ``f`` returns."""
    x = np.array([1.0, 2.0])

    def tagged(d):
        return [v * (10.0 if isinstance(k, bool) else 1.0) * (3.0 if isinstance(k, float) else 1.0)
                * (5.0 if math.copysign(1.0, k[0] if isinstance(k, tuple) else k) < 0 else 1.0)
                for k, v in d.items()]

    f = xp.compile(tagged)
    for key in (1, True, 1.0, 1, 0.0, -0.0, (1,), (True,), (-0.0,), True):
        want = tagged({key: x})
        np.testing.assert_array_equal(np.asarray(f({key: x})[0]), want[0])
    assert f.n_traces == 8
    g = xp.compile(lambda d: {k: v * 2.0 for k, v in d.items()})
    for key in (1, True, 1, 1.0):
        (got,) = g({key: x})
        assert type(got) is type(key)


def test_dict_keys_that_do_not_sort_keep_their_order():
    """Keys no order sorts (frozensets) are kept in the order given: a dict of the same keys in
    another order is another signature, ``f`` iterating it as a trace of that call would."""
    x, y = np.array([1.0]), np.array([2.0])
    a, b = frozenset({1}), frozenset({2})
    f = xp.compile(lambda d: xp.concat([v for v in d.values()]))
    for d in ({a: x, b: y}, {b: y, a: x}, {a: x, b: y}):
        np.testing.assert_array_equal(np.asarray(f(d)), np.concatenate(list(d.values())))


def test_a_compiled_function_on_a_traced_expression_is_inlined():
    """Inside grad or compile, an argument built from a traced input is traced too: f runs
    inline, as it does on a bare traced input."""
    x = np.arange(3.0)
    g = xp.compile(lambda a: xp.sum(xp.sin(a)))
    np.testing.assert_allclose(np.asarray(xp.grad(lambda a: g(a * 2.0))(xp.asarray(x))),
                               2.0 * np.cos(2.0 * x))
    outer = xp.compile(lambda a: g(a * 2.0))
    np.testing.assert_allclose(float(outer(x)), np.sum(np.sin(2.0 * x)))



def test_loop_refuses_a_static_stacked_argument():
    st = xp.compile(lambda s, x, k: (s * k + x,), donate_argnums=0, static_argnums=2)
    with pytest.raises(ValueError, match="static"):
        st.loop(2, np.zeros(3), np.ones((2, 3)), 0.5, stacked_argnums=(1, 2))


def test_trust_input_reads_arrays_only():
    """As documented: a trusted call runs the previous call's program, whose Python scalars
    and static values are baked in; leaves beyond its structure are not read."""
    x = np.ones(3)
    f = xp.compile(lambda x, s: x * s)
    f(x, 2.0)
    f.trust_input = True
    np.testing.assert_array_equal(np.asarray(f(x, 3.0)), x * 2.0)
    g = xp.compile(lambda xs: xs[0] + xs[1])
    g([x, x])
    g.trust_input = True
    np.testing.assert_array_equal(np.asarray(g([x, x, x * 5.0])), x * 2.0)


def test_an_expression_built_before_a_donating_call_keeps_the_old_value():
    """An unrealized expression of a donated array reads that array's buffer: the call gives
    the array a fresh buffer instead of writing the one the expression reads."""
    f = xp.compile(lambda p: p * 2.0, donate_argnums=0)
    p = f(np.ones(4))          # p's buffer is the program's own: the next call may take it
    snap = p * 10.0            # pending, reads p's buffer
    p2 = f(p)
    np.testing.assert_array_equal(np.asarray(snap), np.full(4, 20.0))
    np.testing.assert_array_equal(np.asarray(p2), np.full(4, 4.0))
    p3 = f(p2)                 # nothing else reads p2: its buffer is taken again
    np.testing.assert_array_equal(np.asarray(p3), np.full(4, 8.0))
    assert np.asarray(p3).ctypes.data == np.asarray(p2).ctypes.data
    for s in (np.asarray(snap), np.asarray(p2)):
        assert not s.flags.writeable
    q = f.loop(1, p3)          # the loop's donation checks the same
    np.testing.assert_array_equal(np.asarray(q), np.full(4, 16.0))


def test_numpy_dtypes_lazyarr_does_not_have_convert_as_in_eager_code():
    f = xp.compile(lambda a: a * 2)
    h = np.arange(3, dtype=np.float16)
    for _ in range(2):
        assert np.asarray(f(h)).dtype == (xp.asarray(h) * 2).dtype == np.float32
    assert np.asarray(f(h.astype(np.longdouble))).dtype == np.float64
    with pytest.raises(TypeError, match="not supported"):
        f(np.arange(3, dtype=">i4"))


def test_keyword_arguments_bind_to_fs_parameters():
    """Keywords are bound to ``f``'s parameters (defaults filled in) and key the signature
    like positional arguments."""
    x = np.arange(3.0)
    f = xp.compile(lambda a, b=1.0: a * b)
    np.testing.assert_array_equal(np.asarray(f(x, b=3.0)), x * 3.0)
    np.testing.assert_array_equal(np.asarray(f(x)), x)
    np.testing.assert_array_equal(np.asarray(f(a=x, b=x)), x * x)
    np.testing.assert_array_equal(np.asarray(f(x, b=3.0)), x * 3.0)
    assert f.n_traces == 3
    with pytest.raises(TypeError, match="unexpected keyword"):
        f(x, c=1.0)
    g = xp.compile(lambda a, *, k: a + k)
    with pytest.raises(TypeError, match="keyword-only"):
        g(x, k=1.0)


def test_a_keyword_argument_may_skip_a_defaulted_parameter():
    """``f(x, c=1.0)`` with ``b`` left to its default binds ``c`` by position (it is no
    keyword-only parameter), dynamic or static."""
    def f(a, b=2.0, c=0.0):
        return a * b + c

    x = np.arange(3.0)
    for c in (xp.compile(f), xp.compile(f, static_argnums=2)):
        np.testing.assert_array_equal(np.asarray(c(x, c=1.0)), x * 2.0 + 1.0)
        np.testing.assert_array_equal(np.asarray(c(x, c=1.0, b=3.0)), x * 3.0 + 1.0)
        np.testing.assert_array_equal(np.asarray(c(a=x, c=-1.0)), x * 2.0 - 1.0)


def test_a_call_spelled_positionally_or_by_keyword_traces_once():
    """The same arguments passed by position or by keyword are one signature (a keyword
    call binds only up to the last parameter given, or the last argument number)."""
    def f(a, b=2.0, c=None):
        return a * b if c is None else a * b + c

    x = np.arange(3.0)
    cs = xp.compile(f, static_argnums=1)
    for call in (lambda: cs(x, b=4.0), lambda: cs(x, 4.0), lambda: cs(a=x, b=4.0)):
        np.testing.assert_array_equal(np.asarray(call()), x * 4.0)
    for call in (lambda: cs(x), lambda: cs(x, 2.0)):
        np.testing.assert_array_equal(np.asarray(call()), x * 2.0)
    assert cs.n_traces == 2
    cd = xp.compile(f)
    for call in (lambda: cd(x, 3.0), lambda: cd(x, b=3.0), lambda: cd(b=3.0, a=x)):
        np.testing.assert_array_equal(np.asarray(call()), x * 3.0)
    for call in (lambda: cd(x, c=x), lambda: cd(x, 2.0, x), lambda: cd(a=x, c=x)):
        np.testing.assert_array_equal(np.asarray(call()), x * 2.0 + x)
    assert cd.n_traces == 2


def test_a_keyword_only_parameter_left_to_its_default():
    """``f(x, n=2, *, k=1)`` called without k: f's default, whatever else is passed (k was
    refused when never passed, once n had been given or made static)."""
    def f(x, n=2.0, *, k=1.0):
        return x * n + k

    x = np.arange(3.0)
    for c in (xp.compile(f), xp.compile(f, static_argnums=1)):
        np.testing.assert_array_equal(np.asarray(c(x)), x * 2.0 + 1.0)
        np.testing.assert_array_equal(np.asarray(c(x, n=3.0)), x * 3.0 + 1.0)
        with pytest.raises(TypeError, match="keyword-only parameters or"):
            c(x, k=5.0)
    h = xp.compile(lambda x, **kw: x)
    with pytest.raises(TypeError, match=r"\*\*kwargs"):
        h(x, z=1.0)


def test_a_result_that_is_an_argument_does_not_follow_the_callers_writes():
    """As in eager code: the value returned does not change when the caller writes the NumPy
    array it came from (the argument itself, a view of it, or the input an identity returns)."""
    for g in (lambda a: a, lambda a: a * 1.0, lambda a: a[1:], lambda a: xp.reshape(a, (2, 2))):
        f = xp.compile(g)
        for _ in range(2):
            user = np.arange(4.0)
            r = f(user)
            want = np.asarray(r).copy()
            user[:] = -5.0
            np.testing.assert_array_equal(np.asarray(r), want)


def test_a_realized_view_of_a_donated_result_keeps_its_value():
    f = xp.compile(lambda p: p * 2.0, donate_argnums=0)
    p = f(np.ones(4))
    v = p[1:]
    r = xp.reshape(p, (2, 2))
    np.asarray(v), np.asarray(r)
    p2 = f(p)
    np.testing.assert_array_equal(np.asarray(v), np.full(3, 2.0))
    np.testing.assert_array_equal(np.asarray(r), np.full((2, 2), 2.0))
    np.testing.assert_array_equal(np.asarray(p2), np.full(4, 4.0))


def test_a_static_argument_with_a_default_may_be_left_out():
    f = xp.compile(lambda x, k=2.0: x * k, static_argnums=1)
    x = np.arange(3.0)
    np.testing.assert_array_equal(np.asarray(f(x)), x * 2.0)
    np.testing.assert_array_equal(np.asarray(f(x, k=3.0)), x * 3.0)
    np.testing.assert_array_equal(np.asarray(f(x, 2.0)), x * 2.0)
    with pytest.raises(TypeError, match="missing"):
        xp.compile(lambda x, k: x * k, static_argnums=1)(x)


def test_a_donated_array_passed_again_as_another_argument_is_read_before_the_write():
    """``f(w, w)`` with only the first donated: the second argument reads w's old value, so
    the call takes a fresh buffer (found writing the update while reading it: a flip, an
    in-place gemm, a sum of the new value)."""
    cases = [
        (lambda w, g: w - xp.flip(g), np.arange(64.0), lambda w, g: w - g[::-1]),
        (lambda w, a: w - 0.1 * (a.T @ a), np.eye(8) + np.arange(64.0).reshape(8, 8) / 64,
         lambda w, a: w - 0.1 * (a.T @ a)),
        (lambda w, g: (w + 1.0, xp.sum(g)), np.arange(8.0),
         lambda w, g: (w + 1.0, np.sum(g))),
    ]
    for fn, w0, ref in cases:
        for trusted in (False, True):
            f = xp.compile(fn, donate_argnums=0)
            first = f(w0, np.zeros_like(w0))
            w = first[0] if isinstance(first, tuple) else first
            w = f(w, np.zeros_like(w0))           # w is the program's own buffer now
            w = w[0] if isinstance(w, tuple) else w
            old = np.array(w)
            f.trust_input = trusted
            got = f(w, w)
            want = ref(old, old)
            for g_, r_ in zip(got if isinstance(got, tuple) else (got,),
                              want if isinstance(want, tuple) else (want,)):
                np.testing.assert_allclose(np.asarray(g_), r_, rtol=1e-12)
    f = xp.compile(lambda w, d: w - xp.flip(d["g"]), donate_argnums=0)
    w = f(f(np.arange(6.0), {"g": np.zeros(6)}), {"g": np.zeros(6)})
    old = np.array(w)
    np.testing.assert_array_equal(np.asarray(f(w, {"g": w})), old - old[::-1])


def test_a_numpy_handle_or_realized_identity_view_of_a_donated_result_keeps_its_value():
    """``np.asarray(w)``, a realized ``w[:]``, ``reshape(w, w.shape)``: handles that share
    w's read-only view object keep the value they had (the call takes a fresh buffer)."""
    step = xp.compile(lambda w: w + 1.0, donate_argnums=0)
    holders = [lambda w: w[:], lambda w: xp.reshape(w, w.shape), np.asarray,
               lambda w: xp.astype(w, w.dtype, copy=True), lambda w: xp.permute_dims(w, (0,)),
               lambda w: xp.broadcast_to(w, w.shape)]
    for hold in holders:                        # each alone: one of them must not cover
        w = step(step(np.zeros(3)))             # [2, 2, 2], the program's own buffer
        h = hold(w)
        np.asarray(h)
        w2 = step(w)
        np.testing.assert_array_equal(np.asarray(h), np.full(3, 2.0))
        np.testing.assert_array_equal(np.asarray(w2), np.full(3, 3.0))
    hist = []
    for _ in range(3):                          # a training loop keeping its history
        w2 = step(w2)
        hist.append(np.asarray(w2))
    np.testing.assert_array_equal(np.array(hist)[:, 0], [4.0, 5.0, 6.0])


def test_loop_refuses_a_donated_stacked_argument():
    """A donated argument carries the state; a stacked one is read a slice a step: both at
    once is refused (it wrote the step's result into the caller's stack)."""
    f = xp.compile(lambda w, x: w + x, donate_argnums=0)
    wn = np.zeros((3, 4))
    with pytest.raises(ValueError, match="donated"):
        f.loop(3, wn, np.ones((3, 4)), stacked_argnums=(0, 1))
    np.testing.assert_array_equal(wn, 0.0)


def test_static_values_equal_but_different_trace_apart():
    """Static ``0.0`` and ``-0.0``, ``(1,)``, ``(1.0,)`` and ``(True,)`` compare equal but
    give different results: each has its own program (they shared the first one's)."""
    x = np.ones(2)
    c = xp.compile(lambda x, s: x / s, static_argnums=1)
    for s in (0.0, -0.0, 0.0, -0.0):
        with np.errstate(divide="ignore"):
            np.testing.assert_array_equal(np.asarray(c(x, s)), x / s)
    assert c.n_traces == 2
    d = xp.compile(lambda x, s: xp.full((2,), s[0]), static_argnums=1)
    for s in ((1,), (1.0,), (True,), (1,), ((0.0,),)[0], (-0.0,)):
        got = np.asarray(d(x, s))
        assert got.dtype == np.full(2, s[0]).dtype
        np.testing.assert_array_equal(np.signbit(got), np.signbit(np.full(2, s[0])))
    assert d.n_traces == 5
    e = xp.compile(lambda x, s: x / s[0][0], static_argnums=1)  # in nested tuples
    for s in (((np.float32(0.0), 1),), ((np.float32(-0.0), 1),), ((0.0, 1),), ((-0.0, 1),),
              ((-0.0, 1),)):
        with np.errstate(divide="ignore"):
            np.testing.assert_array_equal(np.asarray(e(x, s)), x / s[0][0])
    assert e.n_traces == 4
    # an object whose == raises (or returns an array) matches itself, as tuple equality's
    # identity check lets it
    class NoEq:
        def __eq__(self, other):
            raise RuntimeError("no ==")

        __hash__ = object.__hash__

    ne = NoEq()
    g = xp.compile(lambda x, s: x * 2.0, static_argnums=1)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(g(x, (ne,))), x * 2.0)
    assert g.n_traces == 1
    f = xp.compile(lambda x, s: x / s, static_argnums=1)
    for s in (np.float32(0.0), np.float32(-0.0), np.float16(-0.0), np.complex64(-0.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            np.testing.assert_array_equal(np.asarray(f(x, s)), x / s)
    assert f.n_traces == 4


_Holder = collections.namedtuple("_Holder", "value")


class _ArrayEq:
    """A static value whose ``==`` answers elementwise, as a tensor's does."""

    def __init__(self, scale: float):
        self.scale = scale

    def __eq__(self, other):
        return np.array([True, False])

    __hash__ = object.__hash__


class _RaisingEq(_ArrayEq):
    def __eq__(self, other):
        raise RuntimeError("no ==")

    __hash__ = object.__hash__


@pytest.mark.parametrize("cls", [_ArrayEq, _RaisingEq], ids=["array-eq", "raising-eq"])
def test_a_static_whose_eq_is_not_a_bool_is_another_signature(cls):
    """A static value whose ``==`` returns an array (or raises) is a new signature when it is
    another object: the call traces again instead of raising in the previous call's matcher."""
    x = np.array([1.0, 2.0])
    f = xp.compile(lambda x, s: x * s.scale, static_argnums=1)
    first = cls(2.0)
    for s in (first, cls(7.0), first, (first,)[0]):
        np.testing.assert_array_equal(np.asarray(f(x, s)), x * s.scale)
    assert f.n_traces == 2
    g = xp.compile(lambda x, s: x * s[0].scale, static_argnums=1)  # in tuples, namedtuples
    for s in ((first,), (cls(3.0),), _Holder(first), _Holder(cls(5.0)), _Holder(first)):
        np.testing.assert_array_equal(np.asarray(g(x, s)), x * s[0].scale)
    assert g.n_traces == 4


class _Config:
    """A mutable static value: ``==`` and the hash follow its ``scale``."""

    def __init__(self, scale: float):
        self.scale = scale

    def __eq__(self, other):
        return type(other) is _Config and other.scale == self.scale

    def __hash__(self):
        return hash(self.scale)


def test_a_mutated_static_is_keyed_by_its_hash_and_eq_at_call_time_on_every_path():
    """A static value mutated in place after its trace: a call with the previous call's
    signature reused its program (``x * 2`` after ``scale = 3``) while ``.loop`` and
    ``.program`` looked it up by its new hash and traced again (``x * 3``); the next loop then
    reused that one after ``scale = 4``. Every path now compares the hash and ``==`` the value
    has at call time with those it had when traced: the result is ``x * scale`` each time."""
    x = np.array([1.0, 2.0])
    xs = np.stack([x, x])
    f = xp.compile(lambda x, s: x * s.scale, static_argnums=1)
    cfg = _Config(2.0)
    calls = [lambda: f(x, cfg), lambda: f.loop(2, xs, cfg),
             lambda: f.program(x, cfg).run([x], None)]
    for scale, traces in ((2.0, 1), (3.0, 2), (4.0, 3), (3.0, 3)):
        cfg.scale = scale
        for call in calls * 2:
            np.testing.assert_array_equal(np.asarray(call()), x * scale)
        assert f.n_traces == traces
    # a static whose hash and == stay the same when it is mutated (an object's identity):
    # the same signature on every path
    box = _Box()
    box.scale = 2.0
    g = xp.compile(lambda x, s: x * s.scale, static_argnums=1)
    g(x, box)
    box.scale = 3.0
    for call in (lambda: g(x, box), lambda: g.loop(2, xs, box), lambda: g(x, box)):
        np.testing.assert_array_equal(np.asarray(call()), x * 2.0)
    assert g.n_traces == 1


class _Box:
    """A mutable static value keyed by its identity."""


def test_a_static_torch_tensor_retraces_on_a_new_tensor():
    torch = pytest.importorskip("torch")
    f = xp.compile(lambda x, t: x * float(t.sum()), static_argnums=1)
    x = np.array([1.0, 2.0])
    for t in (torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])):
        np.testing.assert_array_equal(np.asarray(f(x, t)), x * float(t.sum()))
    assert f.n_traces == 2


def test_a_compiled_method_takes_its_instance():
    """``@compile(static_argnums=0)`` in a class body binds like a function (the instance
    was dropped); an instance is a static value (one trace each)."""
    class Scaled:
        def __init__(self, k):
            self.k = k

        @xp.compile(static_argnums=0)
        def apply(self, x):
            return x * self.k

    x = np.arange(3.0)
    a, b = Scaled(2.0), Scaled(5.0)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(a.apply(x)), x * 2.0)
        np.testing.assert_array_equal(np.asarray(b.apply(x)), x * 5.0)
    assert Scaled.apply.n_traces == 2
    np.testing.assert_array_equal(np.asarray(Scaled.apply(a, x)), x * 2.0)

    class Sgd:
        lr = 0.5

        @xp.compile(static_argnums=0, donate_argnums=1)
        def step(self, w, g):
            return w - self.lr * g

    opt = Sgd()
    got = opt.step.loop(3, np.zeros(2), np.ones((3, 2)))  # loop passes the instance too
    np.testing.assert_array_equal(np.asarray(got), np.full(2, -1.5))
    opt.step.trust_input = True                          # attributes are the function's
    assert Sgd.step.trust_input
    opt.step.trust_input = False
    prog = opt.step.program(np.zeros(2), np.ones(2))     # program() passes the instance too
    assert prog is not None
    import copy

    bound = copy.deepcopy(a.apply)  # a copy of the bound form (recursed in __getattr__)
    np.testing.assert_array_equal(np.asarray(bound(x)), x * 2.0)


def test_loop_and_program_bind_keywords_and_defaults_as_calls_do():
    """``.loop`` and ``.program`` take ``f``'s arguments as a call does: keywords bound,
    a static argument left out gets its default (also through a compiled method)."""
    def f(x, k=2.0):
        return x * k

    c = xp.compile(f, static_argnums=1)
    x = np.arange(3.0)
    xs = np.stack([x, x + 1.0])
    np.testing.assert_array_equal(np.asarray(c.loop(2, xs)), (x + 1.0) * 2.0)
    np.testing.assert_array_equal(np.asarray(c.loop(2, xs, k=3.0)), (x + 1.0) * 3.0)
    for prog, k in ((c.program(x), 2.0), (c.program(x, k=3.0), 3.0)):
        np.testing.assert_array_equal(prog.vm([x] + list(prog.extras_data))[0], x * k)

    class Scaled:
        @xp.compile(static_argnums=(0, 2))
        def apply(self, x, k=2.0):
            return x * k

    s = Scaled()
    np.testing.assert_array_equal(np.asarray(s.apply.loop(2, xs, k=5.0)), (x + 1.0) * 5.0)
    prog = s.apply.program(x, k=5.0)
    np.testing.assert_array_equal(prog.vm([x] + list(prog.extras_data))[0], x * 5.0)
    np.testing.assert_array_equal(np.asarray(s.apply.loop(2, xs)), (x + 1.0) * 2.0)


def test_a_bare_program_takes_its_extras_and_writes_into_a_donated_array():
    """``program(...).vm``, as documented: the argument arrays then ``extras_data`` (a
    closed-over array, work on it done once), and a donated input's buffer takes its
    output (the array passed, not a copy)."""
    w = np.arange(3.0)
    prog = xp.compile(lambda x: x * w + xp.sum(xp.asarray(w) ** 2)).program(np.ones(3))
    x = np.array([1.0, -2.0, 0.5])
    assert len(prog.input_types) == 1 and len(prog.extras_data) >= 1
    np.testing.assert_array_equal(prog.vm([x] + list(prog.extras_data))[0], x * w + 5.0)
    step = xp.compile(lambda p, g: p - 0.5 * g, donate_argnums=0).program(np.ones(3),
                                                                          np.ones(3))
    p, g = np.ones(3), np.arange(3.0)
    out = step.vm([p, g] + list(step.extras_data))[0]
    np.testing.assert_array_equal(out, 1.0 - 0.5 * g)
    assert step.donate == {0: 0} and np.shares_memory(out, p)
    np.testing.assert_array_equal(p, 1.0 - 0.5 * g)


def test_loop_step_counts_of_numpy_integer_type():
    """``n`` may be any integer (``np.int64(2)`` was refused); a bool is not a count."""
    f = xp.compile(lambda w, x: w + x, donate_argnums=0)
    got = f.loop(np.int64(2), np.zeros(2), np.ones((2, 2)))
    np.testing.assert_array_equal(np.asarray(got), np.full(2, 2.0))
    with pytest.raises(ValueError, match="positive int"):
        f.loop(True, np.zeros(2), np.ones((2, 2)))


def test_work_lifted_out_of_f_that_raises_is_left_to_the_call_that_needs_it():
    """``big = inv(s)`` read only by a cond branch: eager code computes it only when the
    branch is taken; compile computed it when tracing and raised for every call. It is
    traced again with such work left in the program, which raises only when it is needed."""
    s = xp.asarray([[1.0, 2.0], [2.0, 4.0]])  # singular

    def f(x, p):
        big = xp.linalg.inv(s)
        return xp.cond(p, lambda a: a + big, lambda a: a, x)

    c = xp.compile(f)
    np.testing.assert_array_equal(np.asarray(c(xp.ones((2, 2)), xp.asarray(False))), 1.0)
    with pytest.raises(np.linalg.LinAlgError):
        c(xp.ones((2, 2)), xp.asarray(True))
    np.testing.assert_array_equal(np.asarray(c(xp.ones((2, 2)), xp.asarray(False))), 1.0)


def _doubled(u):
    return u * 2.0


@xp.compile
def _tripled(u):
    return u * 3.0


def test_a_compiled_function_pickles_and_copies_as_f_and_its_options():
    """Before and after a call alike (a call's programs made pickling fail, deepcopy always
    did); the copy traces again."""
    import copy
    import pickle

    f = xp.compile(_doubled, donate_argnums=0)
    for _ in range(2):
        for g in (pickle.loads(pickle.dumps(f)), copy.deepcopy(f)):
            assert g.donate_argnums == (0,) and g.n_traces == 0
            np.testing.assert_array_equal(np.asarray(g(np.arange(3.0))), [0.0, 2.0, 4.0])
        f(np.arange(3.0))
    # a module-level @compile function is found by its name (its fn's name is this object)
    assert pickle.loads(pickle.dumps(_tripled)) is _tripled
    np.testing.assert_array_equal(np.asarray(_tripled(np.ones(2))), [3.0, 3.0])


def test_a_nan_dict_key_matches_the_previous_call():
    """A NaN key is found in a dict only by identity: the matcher reads each value through the
    call's own key (a second call with a new NaN key raised KeyError)."""
    x = np.array([1.0, 2.0])
    f = xp.compile(lambda d: [v * 2.0 for v in d.values()])
    for _ in range(3):
        (got,) = f({float("nan"): xp.asarray(x)})
        np.testing.assert_array_equal(np.asarray(got), x * 2.0)
    (got,) = f({(float("nan"), 1): xp.asarray(x)})
    np.testing.assert_array_equal(np.asarray(got), x * 2.0)
