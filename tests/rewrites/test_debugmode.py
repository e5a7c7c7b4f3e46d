"""Debug mode catches a deliberately wrong rewrite and names it; the NaN guard names the
first node producing a NaN or an infinity and the user line that built it."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.rewrites import options
from lazyarr.rewrites.db import Report, build, register_rewrite, unregister
from lazyarr.rewrites.debugmode import RewriteMismatchError, check_against_reference


@pytest.fixture
def wrong_rewrite():
    """``sin(x) -> cos(x)``: wrong on purpose."""

    @register_rewrite("test_wrong_sin_cos", "canonicalize", tags=("test_wrong",),
                      op_classes=[Elemwise("sin")])
    def wrong(node, g):
        return build(Elemwise("cos"), node.inputs[0], site=node.site)

    yield "test_wrong_sin_cos"
    unregister("test_wrong_sin_cos")
    xp.trace_cache.clear()


def test_debug_mode_catches_a_wrong_rewrite(wrong_rewrite):
    data = np.linspace(0.1, 1.0, 7)
    with options(mode="debug"):
        with pytest.raises(RewriteMismatchError, match=wrong_rewrite):
            np.asarray(xp.sin(xp.asarray(data)) * 2)
        with options(exclude=["test_wrong"]):  # excluded by its tag: no mismatch
            np.testing.assert_allclose(np.asarray(xp.sin(xp.asarray(data)) * 2),
                                       np.sin(data) * 2)
    # in the default mode, the wrong rewrite silently runs: that is what debug mode is for
    assert np.allclose(np.asarray(xp.sin(xp.asarray(data))), np.cos(data))


def test_debug_mode_passes_correct_programs():
    x = np.array([[1000.0, -2.0, 3.0], [0.5, -0.0, 2.0]])
    with options(mode="debug"):
        a = xp.asarray(x)
        y = xp.log(xp.sum(xp.exp(a), axis=1)) + xp.sum(xp.negative(-a) * 1, axis=1)  # stabilized
        z = (a.T.T + (-0.0)) @ xp.ones((3, 2))
        got_y, got_z = np.asarray(y), np.asarray(z)
    np.testing.assert_allclose(got_y, np.logaddexp.reduce(x, axis=1) + x.sum(1), rtol=1e-14)
    np.testing.assert_allclose(got_z, x @ np.ones((3, 2)), rtol=1e-14)


def test_check_against_reference_tolerances():
    r = Report()
    f32 = np.array([1.0, 2.0], np.float32)
    check_against_reference([f32 * (1 + 1e-6)], [f32], r)  # within float32 tolerance
    with pytest.raises(RewriteMismatchError, match="differ"):
        check_against_reference([f32 * (1 + 1e-3)], [f32], r)
    with pytest.raises(RewriteMismatchError, match="differ"):  # signed zero
        check_against_reference([np.array([0.0])], [np.array([-0.0])], r)
    with pytest.raises(RewriteMismatchError, match="dtype"):
        check_against_reference([f32.astype(np.float64)], [f32], r)
    with pytest.raises(RewriteMismatchError, match="differ"):
        check_against_reference([np.array([1, 2])], [np.array([1, 3])], r)
    check_against_reference([np.array([np.nan])], [np.array([np.nan])], r)
    with pytest.raises(RewriteMismatchError):  # finite where the reference overflowed: only
        check_against_reference([np.array([1.0])], [np.array([np.inf])], r)  # if stabilized
    r.record("logsumexp", "log")
    check_against_reference([np.array([1.0])], [np.array([np.inf])], r)


def test_nan_guard_names_the_first_node_and_line():
    data = np.array([0.5, 2.0, 3.0])
    with options(mode="nan_guard"):
        a = xp.asarray(data)
        y = xp.exp(xp.log(a - 1) * 2)  # log produces the NaN, the exp only passes it on
        with pytest.raises(FloatingPointError) as info:
            np.asarray(y)
        msg = "\n".join([str(info.value), *info.value.__notes__])
        assert "log" in msg and "test_debugmode.py" in msg and "exp" not in msg
        line = [i for i, s in enumerate(open(__file__), 1) if "log(a - 1) * 2" in s][0]
        assert f"line {line}" in msg
        ok = xp.exp(xp.log(a + 1))
        np.testing.assert_allclose(np.asarray(ok), data + 1)
        bad_input = xp.asarray(np.array([np.inf, 1.0]))
        with pytest.raises(FloatingPointError, match="input"):
            np.asarray(bad_input * 2)


def test_nan_guard_keeps_stabilized_forms():
    with options(mode="nan_guard"):
        a = xp.asarray(np.array([1000.0, 0.0]))
        np.testing.assert_allclose(np.asarray(xp.log(1 + xp.exp(a))), np.logaddexp(0, [1000, 0]))


def test_debug_and_nan_guard_modes_with_a_lazy_op():
    data = np.array([1.0, 4.0])
    for mode in ("debug", "nan_guard"):
        with options(mode=mode):
            a = xp.asarray(data)
            r = xp.cond(xp.sum(a) > 0, lambda t: xp.sqrt(t) * 1, lambda t: xp.log(t - 10), a)
            np.testing.assert_allclose(np.asarray(r), np.sqrt(data))
    with options(mode="nan_guard"):  # the branch's own program is guarded: names its node
        a = xp.asarray(data)
        r = xp.cond(xp.sum(a) < 0, lambda t: xp.sqrt(t), lambda t: xp.log(t - 10), a)
        with pytest.raises(FloatingPointError, match="log produced") as info:
            np.asarray(r)
        assert any("test_debugmode.py" in n for n in info.value.__notes__)


def test_nan_guard_names_the_line_of_the_graph_that_ran():
    """The second graph has the first one's structure (its cached program runs): the error
    names the second graph's line (it named the first's)."""
    with options(mode="nan_guard"):
        np.asarray(xp.log(xp.asarray(2.0)))
        bad = xp.log(xp.asarray(-1.0))  # the line named
        with pytest.raises(FloatingPointError) as info:
            np.asarray(bad)
    line = [i for i, s in enumerate(open(__file__), 1) if "# the line named" in s][0]
    assert any(f"line {line}" in n for n in info.value.__notes__), info.value.__notes__


def test_a_float64_output_of_float32_work_is_held_to_float32_tolerance():
    """grad of sum(x, dtype=float32) ** 2 for a float64 x: the optimized value is the
    float64 of twice a float32 sum, the reference accumulated in float32 another way; both
    are float32-accurate, and debug mode judged them at float64's tolerance (a false
    RewriteMismatchError). The least precise dtype the graph computes in sets the floor."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    with options(mode="debug"):
        g = xp.grad(lambda t: xp.sum(xp.sum(t, dtype=xp.float32) ** 2))(xp.asarray(x))
        got = np.asarray(g)
    np.testing.assert_allclose(got, np.full((4, 3), 2 * np.float32(x.sum())), rtol=1e-5)
    r = Report()
    f32 = np.array([1.0, 2.0], np.float32)
    with pytest.raises(RewriteMismatchError):  # without a floor float64 stays strict
        check_against_reference([f32.astype(np.float64) * (1 + 1e-6)],
                                [f32.astype(np.float64)], r)
    check_against_reference([f32.astype(np.float64) * (1 + 1e-6)], [f32.astype(np.float64)], r,
                            np.dtype(np.float32))


def test_the_sign_of_a_zero_from_a_product_or_sum_is_not_a_mismatch():
    """The standard leaves the sign of a zero from matmul and sums unspecified: exact IEEE
    arithmetic gives ``1*-0.5 + 0*-1 = -0.0`` where NumPy's BLAS gives +0.0 (a false
    RewriteMismatchError naming gemv_product). Elementwise ops keep the sign checked."""
    A, c = np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([-0.5, -1.0])
    with options(mode="debug"):
        got = np.asarray(xp.asarray(A) @ xp.asarray(c))
        got_neg = np.asarray(-(xp.asarray(A) @ xp.asarray(c)) * 2.0)
        got_sum = np.asarray(xp.sum(xp.asarray(A) * xp.asarray(c), axis=1))
    np.testing.assert_array_equal(got, A @ c)  # equal: +0.0 == -0.0
    np.testing.assert_array_equal(got_neg, -(A @ c) * 2.0)
    np.testing.assert_array_equal(got_sum, (A * c).sum(1))
    r = Report()
    zero, neg_zero = [np.array([0.0])], [np.array([-0.0])]
    check_against_reference(zero, neg_zero, r, unsigned_zeros=[True])
    with pytest.raises(RewriteMismatchError, match="differ"):
        check_against_reference(zero, neg_zero, r, unsigned_zeros=[False])
    with pytest.raises(RewriteMismatchError, match="differ"):  # only zeros are relaxed
        check_against_reference([np.array([1.0])], neg_zero, r, unsigned_zeros=[True])


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_the_sign_of_a_zero_from_max_or_min_is_not_a_mismatch(reduce):
    """Which of equal zeros ``max``/``min`` return the standard leaves open: the native
    kernels keep the first, NumPy's reference the last (a false RewriteMismatchError with no
    rewrite fired). Elementwise maximum/minimum agree with NumPy (the second operand) and keep
    their signs checked."""
    x = np.array([[-0.0, 0.0], [0.0, -0.0]])
    fn, np_fn = getattr(xp, reduce), getattr(np, reduce)
    with options(mode="debug"):
        got = [np.asarray(fn(xp.asarray(x[0]))), np.asarray(fn(xp.asarray(x[1]))),
               np.asarray(fn(xp.asarray(x), axis=0)), np.asarray(-fn(xp.asarray(x), axis=1))]
        both = np.asarray(getattr(xp, reduce + "imum")(xp.asarray(x[0]), xp.asarray(x[1])))
    for g, want in zip(got, [np_fn(x[0]), np_fn(x[1]), np_fn(x, axis=0), -np_fn(x, axis=1)]):
        np.testing.assert_array_equal(g, want)  # equal: +0.0 == -0.0
    np.testing.assert_array_equal(np.signbit(both),
                                  np.signbit(getattr(np, reduce + "imum")(x[0], x[1])))
