"""Sizes known only at run time (a boolean mask's result) are checked when the kernels run:
operands that do not broadcast raise NumPy's error instead of reading past a buffer."""

import inspect
import os

import numpy as np
import pytest

import lazyarr as xp

X = np.arange(10.0)


def _masked(a, lo, hi):
    m = np.zeros(10, bool)
    m[lo:hi] = True
    return a[xp.asarray(m)]


@pytest.mark.parametrize("op", [
    lambda u, v: u + v,
    lambda u, v: u * v,
    lambda u, v: xp.where(u > 0, u, v),
    lambda u, v: u * 2.0 + xp.exp(v) * 3.0,   # a fused chain
    lambda u, v: xp.sum(u - v),               # a reduction over the mismatch
], ids=["add", "mul", "where", "fused", "sum"])
@pytest.mark.parametrize("sizes", [((0, 3), (8, 10)), ((8, 10), (0, 5))], ids=["3+2", "2+5"])
def test_mismatched_run_time_sizes_raise(op, sizes):
    a = xp.asarray(X)
    for _ in range(2):  # the trace, then the cached program
        r = op(_masked(a, *sizes[0]), _masked(a, *sizes[1]))
        with pytest.raises(ValueError, match="broadcast"):
            np.asarray(r)


def test_matching_and_size_one_run_time_sizes_still_broadcast():
    a = xp.asarray(X)
    for lo, hi in [(0, 3), (2, 5), (4, 5)]:
        u, v = _masked(a, lo, hi), _masked(a, 7, 7 + hi - lo)
        np.testing.assert_array_equal(np.asarray(u + v), X[lo:hi] + X[7:7 + hi - lo])
    one = _masked(a, 9, 10)  # one element: broadcasts against any size
    np.testing.assert_array_equal(np.asarray(_masked(a, 0, 4) * one), X[:4] * 9.0)


def test_a_large_mismatch_does_not_read_past_the_smaller_buffer():
    big = np.arange(2_000_000.0)
    a = xp.asarray(big)
    m_small = np.zeros(big.size, bool)
    m_small[:2] = True
    r = a[xp.asarray(m_small)] + a[xp.asarray(big > 1.0)]
    with pytest.raises(ValueError, match="broadcast"):
        np.asarray(r)


def test_a_product_with_mismatched_run_time_sizes_raises():
    a = xp.asarray(X)
    w = xp.asarray(np.ones((10, 3)))
    for _ in range(2):
        with pytest.raises(ValueError, match="inner sizes|mismatch"):
            np.asarray(_masked(a, 0, 5) @ w)
    np.testing.assert_array_equal(np.asarray(_masked(a, 0, 10) @ w), X @ np.ones((10, 3)))


@pytest.mark.parametrize("op", [
    lambda u, w: xp.sum(u * w, axis=0),
    lambda u, w: xp.sum(w * u, axis=0),
    lambda u, w: xp.mean(u - w, axis=1),
    lambda u, w: xp.max(u + w, axis=0),
], ids=["sum-axis0", "sum-axis0-swapped", "mean-axis1", "max-axis0"])
def test_a_partial_reduction_checks_run_time_sizes(op):
    """A reduction over part of the axes, whose fused prologue meets a run-time size and a
    known one: 3 rows against 4 raise (they once read a fourth row past the smaller
    buffer), 4 against 4 compute."""
    x = np.arange(12.0).reshape(6, 2) - 5
    a = xp.asarray(x)
    w = np.arange(8.0).reshape(4, 2)
    for _ in range(2):
        with pytest.raises(ValueError, match="broadcast"):
            np.asarray(op(a[a[:, 0] > 0], xp.asarray(w)))
    got = op(a[a[:, 0] > -2], xp.asarray(w))  # 4 rows
    want = op(xp.asarray(x[x[:, 0] > -2]), xp.asarray(w))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def _masked_product_loss(x):
    m = x[x > 2]
    p = m * x  # 7 elements against the 3 the mask keeps
    return xp.sum(p)


def _one_line_loss(x):
    return xp.sum(x[x > 2] * x)


def _line_of(fn, text: str) -> str:
    src, first = inspect.getsourcelines(fn)
    (k,) = [i for i, s in enumerate(src) if text in s]
    return f"{os.path.abspath(__file__)}, line {first + k}"


def _raises_naming(thunk, where: str) -> None:
    with pytest.raises(ValueError, match="broadcast") as info:
        np.asarray(thunk())
    notes = getattr(info.value, "__notes__", [])
    assert any(f"built at {where}" in n for n in notes), (where, notes)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_a_run_time_broadcast_error_names_the_user_line(mode):
    """The note of a size mismatch found while running names the line that built the node:
    in a gradient, the line of the forward product whose cotangent could not be reduced to
    the masked operand (its reduction was built by the engine and named the grad call's
    line); without grad, the line of the product (fused with its sum: a fused node names its
    last member's line)."""
    x = np.array([1.0, -2.0, 3.0, 1.0, 0.5, 3.0, 3.0])
    product = _line_of(_masked_product_loss, "p = m * x")
    one_line = _line_of(_one_line_loss, "xp.sum(x[x > 2] * x)")

    def run(f):
        return xp.compile(f) if mode == "compiled" else f

    for _ in range(2):  # the rules (or trace), then the cached template and program
        _raises_naming(lambda: run(xp.grad(_masked_product_loss))(x), product)
        _raises_naming(lambda: run(xp.grad(_one_line_loss))(x), one_line)
        _raises_naming(lambda: run(lambda x: xp.vjp(_masked_product_loss, x)[1](1.0))(x),
                       product)
        _raises_naming(lambda: run(_one_line_loss)(xp.asarray(x)), one_line)
