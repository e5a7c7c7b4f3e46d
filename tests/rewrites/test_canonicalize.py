"""Canonicalize rewrites: each one fires where it applies and keeps the result bit for bit
(NaN, infinities and signed zeros included); and it does not fire where it would change a
result."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp

from .rw_helpers import check_rewrite, graph_of, ops, optimized, run

SPECIAL = np.array([-0.0, 0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 1e-310])


def special(dtype=np.float64):
    return xp.asarray(SPECIAL.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mul_div_by_one(dtype):
    x = special(dtype)
    for y, name in ((x * 1, "mul_by_one"), (1 * x, "mul_by_one"), (x / 1, "div_by_one")):
        fg = check_rewrite(y, fires=name)
        assert ops(fg) == []


def test_mul_by_one_not_complex_nor_broadcasting():
    z = xp.asarray(np.array([complex(np.inf, 1.0), complex(-0.0, 2.0)]))
    check_rewrite(z * 1, fires="!mul_by_one")
    x0 = xp.asarray(np.float64(2.0))
    check_rewrite(x0 * xp.ones((3,)), fires="!mul_by_one")  # the 1s make the shape


def test_add_zero_only_negative_zero_for_floats():
    x = special()
    fg = check_rewrite(x + (-0.0), fires="add_zero")
    assert ops(fg) == []
    check_rewrite(x + 0.0, fires="!add_zero")  # -0.0 + 0.0 is +0.0
    i = xp.asarray(np.array([-3, 0, 7]))
    assert ops(check_rewrite(i + 0, fires="add_zero")) == []


def test_add_zero_under_fast_math_changes_signed_zero():
    x = special()
    fg, report, args = optimized(x + 0.0, fast_math=True)
    assert "add_zero" in report.names()
    assert np.signbit(run(fg, args)[0][0])  # -0.0 kept, where x + 0.0 gives +0.0


def test_sub_zero():
    x = special()
    assert ops(check_rewrite(x - 0.0, fires="sub_zero")) == []
    check_rewrite(x - (-0.0), fires="!sub_zero")  # -0.0 - (-0.0) is +0.0
    check_rewrite(0.0 - x, fires="!sub_zero")


def test_double_negation_and_positive():
    x = special()
    assert ops(check_rewrite(xp.negative(-x), fires="double_negation")) == []
    assert ops(check_rewrite(-x, fires="!double_negation")) == ["negative"]
    b = xp.asarray(np.array([True, False]))
    assert ops(check_rewrite(~(~b), fires="double_negation")) == []
    i = xp.asarray(np.array([-(2**63), 5], dtype=np.int64))
    assert ops(check_rewrite(xp.negative(-i), fires="double_negation")) == []
    assert ops(check_rewrite(+x, fires="useless_elemwise")) == []
    assert ops(check_rewrite(xp.real(x), fires="useless_elemwise")) == []
    z = xp.asarray(np.array([1 + 2j]))
    check_rewrite(xp.real(z), fires="!useless_elemwise")


def test_where_same_and_constant_condition():
    x, y = special(), special() * 2
    c = xp.asarray(SPECIAL > 0)
    assert ops(check_rewrite(xp.where(c, x, x), fires="where_same")) == []
    check_rewrite(xp.where(c, x, y), fires="!where_same")
    t = xp.ones(SPECIAL.shape, dtype=xp.bool)
    assert ops(check_rewrite(xp.where(t, x, y), fires="where_same")) == []  # y unused
    assert ops(check_rewrite(xp.where(~t, x, y), fires="where_same")) == ["multiply"]


def test_useless_cast_chains():
    f32 = xp.asarray(np.array([1.1, -0.0, np.nan], np.float32))
    fg = check_rewrite(xp.astype(xp.astype(f32, xp.float64), xp.float32), fires="useless_cast")
    assert ops(fg) == []
    f64 = special()
    check_rewrite(xp.astype(xp.astype(f64, xp.float32), xp.float64), fires="!useless_cast")
    i8 = xp.asarray(np.array([-128, 5, 127], np.int8))
    fg = check_rewrite(xp.astype(xp.astype(i8, xp.int32), xp.int16), fires="useless_cast")
    assert ops(fg) == ["Cast{int16}"]
    big = xp.asarray(np.array([2**53 + 1, -3], np.int64))  # float64 rounds it
    check_rewrite(xp.astype(xp.astype(big, xp.float64), xp.int64), fires="!useless_cast")
    i16 = xp.asarray(np.array([-(2**15), 7], np.int16))  # float32 holds every int16
    fg = check_rewrite(xp.astype(xp.astype(i16, xp.float32), xp.int16), fires="useless_cast")
    assert ops(fg) == []
    i32 = xp.asarray(np.array([70000, -1], np.int32))  # int16 wraps: not lossless
    fg = check_rewrite(xp.astype(xp.astype(i32, xp.int16), xp.int64), fires="!useless_cast")
    assert len(ops(fg)) == 2


def test_transpose_chain():
    a = xp.asarray(np.arange(24.0).reshape(2, 3, 4))
    assert ops(check_rewrite(xp.permute_dims(xp.permute_dims(a, (1, 0, 2)), (1, 0, 2)),
                             fires="transpose_chain")) == []
    fg = check_rewrite(xp.permute_dims(xp.permute_dims(a, (1, 2, 0)), (1, 0, 2)),
                       fires="transpose_chain")
    assert ops(fg) == ["Transpose{(2, 1, 0)}"]
    check_rewrite(xp.permute_dims(a, (2, 0, 1)), fires="!transpose_chain")


def test_reshape_and_broadcast_chains():
    a = xp.asarray(np.arange(12.0))
    fg = check_rewrite(xp.reshape(xp.reshape(a, (3, 4)), (2, 6)), fires="reshape_chain")
    assert ops(fg) == ["Reshape{(2, 6)}"]
    assert ops(check_rewrite(xp.reshape(xp.reshape(a, (3, 4)), (12,)),
                             fires="reshape_chain")) == []
    check_rewrite(xp.reshape(a, (3, 4)), fires="!reshape_chain")
    b = xp.asarray(np.arange(3.0))
    fg = check_rewrite(xp.broadcast_to(xp.broadcast_to(b, (2, 3)), (4, 2, 3)),
                       fires="broadcast_chain")
    assert ops(fg) == ["BroadcastTo{(4, 2, 3)}"]
    check_rewrite(xp.broadcast_to(b, (2, 3)), fires="!broadcast_chain")


def test_reduce_over_size_one_axes():
    a = xp.asarray(np.array([[-0.0], [np.nan], [2.5]]))
    fg = check_rewrite(xp.sum(a, axis=1), fires="reduce_size_one")
    assert ops(fg) == ["add", "Reshape{(3,)}"]  # + 0.0: the sum of [-0.0] is +0.0
    i = xp.asarray(np.array([[3]], np.int8))
    check_rewrite(xp.prod(i, axis=(0, 1), keepdims=True), fires="reduce_size_one")
    check_rewrite(xp.max(a, axis=1, keepdims=True), fires="reduce_size_one")
    check_rewrite(xp.sum(a, axis=0), fires="!reduce_size_one")
    z = xp.asarray(np.array([[complex(-np.inf, 0.0)], [complex(1.0, -0.0)]]))
    check_rewrite(xp.sum(z, axis=1), fires="reduce_size_one")
    check_rewrite(xp.mean(z, axis=1), fires="!reduce_size_one")  # (-inf+0j)/1 is -inf+nanj
    # (1+0j) * z is not z: 1-0j becomes 1+0j, inf+0j becomes inf+nanj (NumPy's product)
    zp = np.array([[complex(1.0, -0.0)], [complex(np.inf, 0.0)]])
    check_rewrite(xp.prod(xp.asarray(zp), axis=1), fires="!reduce_size_one")
    got, want = np.asarray(xp.prod(xp.asarray(zp), axis=1))[0], np.prod(zp, axis=1)[0]
    assert got == want and np.signbit(got.imag) == np.signbit(want.imag)


def test_a_sum_of_a_sum_needs_no_plus_zero():
    """A sum or mean is never -0.0 (it starts from +0.0): reducing its size-1 axes needs no
    ``+ 0.0``, and a reshape that drops them joins the first reduction: ``mean(sum(x, 1))``
    of one row is one reduction. Bit for bit with signed zeros, NaN and infinities."""
    row = xp.asarray(np.array([[-0.0, -0.0, -0.0]]))
    for x in (row, xp.asarray(SPECIAL[None, :3]), xp.asarray(SPECIAL[None, 4:6])):
        fg = check_rewrite(xp.mean(xp.sum(x, axis=1)), fires="reshape_of_reduce")
        assert ops(fg) == ["Sum{axes=(0, 1)}"]
    m = xp.asarray(np.array([[-0.0, 3.0], [2.0, -1.0]]))
    fg = check_rewrite(xp.max(xp.sum(m[:1], axis=1)), fires="reshape_of_reduce")
    assert ops(fg)[1:] == ["Sum{axes=(0, 1)}"]
    # a max may be -0.0: its size-1 sum keeps the + 0.0
    fg = check_rewrite(xp.sum(xp.max(xp.asarray(np.array([[-0.0]])), axis=1, keepdims=True),
                              axis=1), fires="reduce_size_one")
    assert "add" in ops(fg)
    # two readers of the inner sum: merging would compute it twice
    s = xp.sum(xp.asarray(np.array([[1.5, -2.0]])), axis=1)
    check_rewrite(xp.reshape(s, ()), s, fires="!reshape_of_reduce")


def test_constant_folding_small_results_only():
    x = special()
    small = xp.exp(xp.full((8,), 2.0))  # Alloc and exp of constants: folded
    fg = check_rewrite(x * small, fires="constant_folding")
    assert ops(fg) == ["multiply"]
    big = xp.exp(xp.full((5000,), 2.0))
    fg = check_rewrite(big, fires="!constant_folding")
    assert "exp" in ops(fg)
    check_rewrite(xp.exp(x), fires="!constant_folding")


def test_constant_folding_skips_errors():
    # integer division by zero does not raise in NumPy, but an out-of-bounds take does:
    # folding must leave the node for run time (where the error names the user's line)
    idx = xp.full((1,), 7)
    base = xp.full((3,), 1.0)
    y = xp.take(base, idx)
    fg, report, args = optimized(y)
    assert "constant_folding" not in [n for n, what in report.fired if what.startswith("Take")]
    with pytest.raises(IndexError):
        run(fg, args)


def test_merge_equal_constants_and_nodes():
    x = special()
    m0 = np.float64(-0.0)  # a NumPy scalar's constant is not shared: two distinct -0.0
    y = x * m0 + x * np.float64(-0.0)  # constants (equal bytes): merged
    fg = check_rewrite(y, fires="merge")
    assert ops(fg).count("multiply") == 1
    z = x * -0.0 + x * 0.0  # different bytes: not merged
    fg = check_rewrite(z, fires="!merge")
    assert ops(fg).count("multiply") == 2


def test_merge_after_other_rewrites():
    x = special()
    y = xp.exp(x * 1) + xp.exp(x)  # exp(x*1) becomes exp(x), then the two merge
    fg = check_rewrite(y, fires="merge")
    assert ops(fg) == ["exp", "add"]


def test_dead_code_is_removed():
    x = special()
    fg = check_rewrite(xp.negative(-xp.sin(x)) * 1, fires="double_negation")
    assert ops(fg) == ["sin"]


@pytest.mark.parametrize("expr,name", [
    (lambda x, y: x * y / y, "mul_div_cancel"),
    (lambda x, y: y * x / y, "mul_div_cancel"),
    (lambda x, y: x - x, "sub_self"),
    (lambda x, y: xp.exp(xp.log(x)), "exp_log"),
])
def test_fast_math_rewrites_need_the_flag(expr, name):
    x = xp.asarray(np.array([1.5, -2.0, np.inf]))
    y = xp.asarray(np.array([0.0, 3.0, 2.0]))
    r = expr(x, y)
    check_rewrite(r, fires="!" + name)
    plain, args = graph_of(r)
    fg, report, _ = optimized(r, fast_math=True)
    assert name in report.names()
    want, got = run(plain, args)[0], run(fg, args)[0]
    assert np.isnan(want).any() and not np.isnan(got).any()  # why it is fast-math only
