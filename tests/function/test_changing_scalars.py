"""Python scalars whose values change from call to call: a compiled function traces their
first `TRACED_VALUES` values, then runs as eager code, with eager code's results."""

import json
import math

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.function.compiled import TRACED_VALUES

RNG = np.random.default_rng(7)


def test_a_float_that_changes_every_call_stops_tracing():
    """A learning-rate schedule: two traces, then eager code (whose trace cache gives the
    changing constant one program); the update stays float32, as eager code's."""
    w = RNG.standard_normal((5, 4)).astype(np.float32)
    g = RNG.standard_normal((5, 4)).astype(np.float32)
    step = xp.compile(lambda w, g, lr: w - lr * g)
    for i in range(20):
        lr = 0.01 * 0.9 ** i
        out = step(w, g, lr)
        assert out.dtype == np.float32 and out._v.owner is None  # realized
        np.testing.assert_array_equal(np.asarray(out), w - np.float32(lr) * g)
    assert step.n_traces == TRACED_VALUES
    step(w, g, 0.01)  # a traced value: its program
    assert step.n_traces == TRACED_VALUES


def test_a_step_count_that_changes_every_call():
    w = RNG.standard_normal(4)
    g = RNG.standard_normal(4)
    step = xp.compile(lambda w, g, t: w - 0.1 * g / (1 - 0.9 ** t))
    for t in range(1, 12):
        np.testing.assert_allclose(np.asarray(step(w, g, t)), w - 0.1 * g / (1 - 0.9 ** t),
                                   rtol=1e-15)
    assert step.n_traces == TRACED_VALUES


@pytest.mark.parametrize("s", [-0.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e-320,
                               3.5e38, 1e308])
def test_special_values_of_a_changing_float(s):
    x = np.array([1.0, -2.0, 0.0, 3.0])
    f = xp.compile(lambda x, s: (x / s, x * s, x.astype(xp.float32) + s))
    for v in (1.0, 2.0, 3.0, 4.0):
        f(x, v)
    with np.errstate(all="ignore"):
        got = [np.asarray(a) for a in f(x, s)]
        want = [x / s, x * s, x.astype(np.float32) + np.float32(s)]
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _type_test(x, s):
    return x * s if type(s) in (int, float) else x


def _log2_size(x, s):
    return x[:int(math.log2(min(abs(s), 256.0) + 1))]


def _str_branch(x, s):
    return -x if str(s).startswith("-") else x


def _json_branch(x, s):
    return x * 2 if json.loads(json.dumps(s)) > 1 else x


DEFAULT = 0.5


def _identity(x, s):
    return x * 0.5 if s is DEFAULT else x * s


def _copysign(x, s):
    return x * math.copysign(1, s)


def _tiny_exp(x, s):
    return x.astype(xp.float32) * (1 + 1e-9 * math.exp(s))


def _numpy_float32(x, s):
    return x * np.float32(s)


def _power(x, s):
    return x * (s ** 2)


@pytest.mark.parametrize("fn", [_type_test, _log2_size, _str_branch, _json_branch, _identity,
                                _copysign, _tiny_exp, _numpy_float32, _power])
def test_a_function_that_reads_the_value_gets_every_value(fn):
    """Whatever ``f`` does with the value (a type test, a size, a string, ``is``, math or
    NumPy on it), each call computes what eager code computes."""
    x = np.arange(1.0, 9.0)
    f = xp.compile(fn)
    for s in (2.0, 2.2, 2.4, DEFAULT, 8.0, -1.0, 1.0, 30.0, float("inf"), 16.0):
        with np.errstate(all="ignore"):
            want = fn(xp.asarray(x), s)
            got = f(x, s)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_f_sees_the_values_it_is_given():
    seen = []

    def f(x, s):
        seen.append(s)
        return x * s

    g = xp.compile(f)
    values = [0.1 * i for i in range(1, 8)]
    for s in values:
        g(np.ones(2), s)
    assert seen == values and all(type(s) is float for s in seen)


def test_eager_calls_return_what_compiled_ones_do():
    """Pytrees of realized Arrays, Python scalars among the outputs made arrays, donated
    arguments allowed."""
    f = xp.compile(lambda p, s: {"w": p[0] * s, "pair": (p[1] + 1, 2.0)}, donate_argnums=0)
    for i in range(5):
        p = [xp.asarray(np.arange(3.0)), xp.asarray(np.ones(2))]
        out = f(p, 0.5 + i)
        assert set(out) == {"w", "pair"}
        np.testing.assert_array_equal(np.asarray(out["w"]), np.arange(3.0) * (0.5 + i))
        np.testing.assert_array_equal(np.asarray(out["pair"][0]), np.full(2, 2.0))
        assert type(out["pair"][1]) is type(out["w"]) and float(out["pair"][1]) == 2.0
        assert out["w"]._v.owner is None


def test_a_changing_scalar_inside_grad_and_control_flow():
    x = RNG.standard_normal(3)
    h = xp.compile(lambda w, s: w - s * xp.grad(lambda v: xp.sum(v ** 3))(w))
    g = xp.compile(lambda x, s: xp.cond(xp.sum(x) > 0, lambda: x * s, lambda: x - s))
    for s in (0.1, 0.2, 0.3, 0.4, 0.5):
        np.testing.assert_allclose(np.asarray(h(x, s)), x - s * 3 * x ** 2)
        for y in (x, -x):
            want = y * s if y.sum() > 0 else y - s
            np.testing.assert_allclose(np.asarray(g(y, s)), want)


def test_numpy_arguments_are_lazyarr_arrays_to_f_in_eager_calls_too():
    """As in a traced call, f gets lazyarr Arrays for NumPy arguments (their attributes, their
    dtype rules: float16 becomes float32)."""
    x = np.arange(6.0).reshape(2, 3)
    h = np.array([1.1, 2.3, 3.7], dtype=np.float16)
    f = xp.compile(lambda x, h, s: (x.mT * s, h * s))
    for s in (0.37, 1.37, 2.37, 3.37):
        a, b = f(x, h, s)
        np.testing.assert_array_equal(np.asarray(a), x.T * s)
        assert b.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(b), h.astype(np.float32) * np.float32(s))


def test_eager_calls_hand_out_new_arrays():
    """An argument returned as it is: a new Array (writing into it leaves the caller's
    alone), never a view of a caller's NumPy array (later writes to it change nothing)."""
    f = xp.compile(lambda x, a, s: (x, a * s))
    for s in (1.0, 2.0, 3.0, 4.0):
        x = np.arange(3.0)
        a = xp.asarray(np.ones(3))
        out, _ = f(x, a, s)
        x[0] = 100.0
        assert float(out[0]) == 0.0
        g = xp.compile(lambda a, s: a)
        for t in (1.0, 2.0, 3.0):
            r = g(a, t)
            assert r is not a
            r[0] = 5.0
            assert float(a[0]) == 1.0


def test_values_that_recur_are_traced_and_traced_values_stay_compiled():
    """A step-decay schedule: each plateau's value is traced when it recurs, so later calls
    run compiled programs; a value traced before still runs its program after calls with
    new values ran as eager code."""
    w = np.ones(3)
    f = xp.compile(lambda w, lr: w * lr)
    for lr in [0.1] * 3 + [0.01] * 3 + [0.001] * 5 + [0.0001] * 5:
        np.testing.assert_array_equal(np.asarray(f(w, lr)), w * lr)
    assert f.n_traces == 4
    for i in range(5):
        f(w, 1.0 + i)  # new every time: eager code
    assert f.n_traces == 4
    f(w, 0.1)
    assert f.n_traces == 4 and f._last is not None  # its compiled program ran


def test_a_trusted_call_after_an_eager_one_checks_its_arguments():
    """The previous call ran no program: a trusted call takes the checked path, with the
    value it is given."""
    x = np.arange(3.0)
    f = xp.compile(lambda x, s: x * s)
    for s in (1.0, 2.0, 3.0):
        f(x, s)
    f.trust_input = True
    np.testing.assert_array_equal(np.asarray(f(x, 7.0)), x * 7.0)


def test_a_failed_trace_is_not_a_traced_value():
    calls = []

    def f(x, s):
        calls.append(s)
        if len(calls) <= 2:
            raise RuntimeError("not yet")
        return x * s

    g = xp.compile(f)
    x = np.arange(3.0)
    for s in (1.0, 2.0):
        with pytest.raises(RuntimeError):
            g(x, s)
    for s in (3.0, 4.0):
        np.testing.assert_array_equal(np.asarray(g(x, s)), x * s)
    assert g.n_traces == 2  # 3.0 and 4.0: the failed ones do not count


def test_writes_into_arguments_reach_the_caller_on_no_call():
    """``f`` writing into its argument Array or dict: traced calls never changed the
    caller's; an eager call (a new scalar value) did, so the caller's state depended on
    which values had been traced."""
    def f(x, d, s):
        x[0] = -1.0
        d["new"] = x
        return x * s + d["a"]

    c = xp.compile(f)
    for s in (1.0, 2.0, 3.0, 4.0):
        x = xp.asarray(np.arange(3.0)) * 1.0
        d = {"a": xp.ones(3)}
        r = c(x, d, s)
        np.testing.assert_array_equal(np.asarray(r), np.array([-1.0, 1.0, 2.0]) * s + 1.0)
        np.testing.assert_array_equal(np.asarray(x), np.arange(3.0))
        assert sorted(d) == ["a"]
    assert c.n_traces == TRACED_VALUES
