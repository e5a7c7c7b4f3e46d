"""Lowering of structural ops (`rewrites/lower.py`): ``roll``, ``tril``/``triu``,
``linalg.diagonal``/``trace`` become nodes that run natively (no Python ``Thunk``, in a
compiled program or a loop body) and keep NumPy's values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from tests.program_kinds import thunk_kinds


def _kinds(f, *args) -> list[str]:
    """``op:thunk`` of the program of ``f`` on ``args`` and of its loop bodies."""
    program, bodies = thunk_kinds(f, *args)
    return program + bodies


def _native(kinds: list[str]) -> bool:
    return all(not k.endswith(":Thunk") for k in kinds if not k.startswith("Scan:"))


def _layouts(shape, dtype):
    rng = np.random.default_rng(sum(shape) + 7)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    if x.dtype.kind == "f":
        x.flat[::3] = -0.0
        x.flat[1::7] = np.nan
    out = [x]
    if len(shape) >= 2:
        out.append(np.ascontiguousarray(np.swapaxes(x, -1, -2)).swapaxes(-1, -2))
    return out


def _same(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("shape,shift,axis", [
    ((8,), 1, None), ((8,), -3, 0), ((8,), 11, None), ((8,), 8, 0), ((3, 5), 2, None),
    ((3, 5), (1, -2), (0, 1)), ((3, 5), (1, 2), (1, 1)), ((2, 3, 4), 1, -1), ((0, 4), 1, 0),
    ((4, 0), 3, None)])
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
def test_roll_is_a_concat_of_slices(shape, shift, axis, dtype):
    for x in _layouts(shape, dtype):
        f = xp.compile(lambda c: xp.roll(c, shift, axis=axis))
        kinds = _kinds(f, x)
        assert _native(kinds) and "Roll:Thunk" not in kinds, kinds
        _same(f(x), np.roll(x, shift, axis=axis))


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (1, 1), (40, 30)])
@pytest.mark.parametrize("k", [0, 1, -1, 2, -3, 7, -9, 35, -45])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_tril_triu_are_a_where_of_an_index_mask(shape, k, dtype):
    for x in _layouts(shape, dtype):
        for fn, ref in ((xp.tril, np.tril), (xp.triu, np.triu)):
            f = xp.compile(lambda c, fn=fn: fn(c, k=k))
            kinds = _kinds(f, x)
            assert _native(kinds) and "Tri:Thunk" not in kinds, kinds
            _same(f(x), ref(x, k))


def test_large_roll_along_several_axes_stays_one_numpy_pass():
    from lazyarr.rewrites.lower import ROLL_MULTI_MAX

    x = np.arange(ROLL_MULTI_MAX + 300, dtype=np.float64).reshape(-1, 4)
    f = xp.compile(lambda c: xp.roll(c, (1, -3), axis=(0, 1)))
    assert "Roll:Thunk" in _kinds(f, x)
    _same(f(x), np.roll(x, (1, -3), axis=(0, 1)))
    f = xp.compile(lambda c: xp.roll(c, 5, axis=0))  # one axis: one concat, still lowered
    assert "Roll:Thunk" not in _kinds(f, x)
    _same(f(x), np.roll(x, 5, axis=0))


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (3, 0)])
@pytest.mark.parametrize("offset", [0, 1, -1, 2, -4, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.complex128])
def test_diagonal_is_a_strided_view_and_trace_its_sum(shape, offset, dtype):
    for x in _layouts(shape, dtype):
        f = xp.compile(lambda c: xp.linalg.diagonal(c, offset=offset) * 1)
        kinds = _kinds(f, x)
        assert _native(kinds) and "Diagonal:DiagonalThunk" in kinds, kinds
        _same(f(x), np.linalg.diagonal(x, offset=offset) * 1)
        g = xp.compile(lambda c: xp.linalg.trace(c, offset=offset))
        kinds = _kinds(g, x)
        assert _native(kinds) and "Linalg:Thunk" not in kinds, kinds
        want = np.linalg.trace(x, offset=offset, dtype=np.asarray(g(x)).dtype)
        if x.dtype.kind in "iu":
            _same(g(x), want)
        else:  # a sum: the reduction kernel's order of additions
            np.testing.assert_allclose(np.asarray(g(x)), want, rtol=1e-14)


def test_long_diagonal_is_a_view_only_under_reductions():
    from lazyarr.rewrites.lower import DIAGONAL_VIEW_MAX

    n = DIAGONAL_VIEW_MAX + 1
    x = np.random.default_rng(3).standard_normal((n, n))
    f = xp.compile(lambda c: c + xp.linalg.diagonal(c))  # broadcast: kept contiguous
    assert "Linalg:Thunk" in _kinds(f, x)
    _same(f(x), x + np.diagonal(x))
    f = xp.compile(lambda c: xp.max(xp.linalg.diagonal(c)))
    assert "Diagonal:DiagonalThunk" in _kinds(f, x)
    _same(f(x), np.max(np.diagonal(x)))
    x = x[:DIAGONAL_VIEW_MAX, :DIAGONAL_VIEW_MAX].copy()
    f = xp.compile(lambda c: c + xp.linalg.diagonal(c))
    assert "Diagonal:DiagonalThunk" in _kinds(f, x)
    _same(f(x), x + np.diagonal(x))


def test_diagonal_view_of_a_strided_batch_matches_numpy():
    from lazyarr.exec_cpu._vm import DiagonalThunk

    from lazyarr.array.ops.shape import Diagonal
    from lazyarr.exec_cpu import link
    from lazyarr.graph import FunctionGraph, Var, apply

    base = np.arange(2 * 5 * 12, dtype=np.float32).reshape(2, 5, 12)
    for x in (base[:, ::2, ::-3], base[::-1, 1:, 2:6], base.swapaxes(0, 2)):
        for k in (0, 1, -1, 3, -5):
            v = Var.input(x.dtype, x.shape)
            out, = apply(Diagonal(k), v)
            prog = link(FunctionGraph([v], [out]))
            assert isinstance(prog.thunks[0], DiagonalThunk)
            got, ref = prog([x])[0], np.diagonal(x, k, -2, -1)
            np.testing.assert_array_equal(got, ref)
            assert got.shape == ref.shape and got.strides == ref.strides
            assert not got.flags.writeable
            if ref.size:
                assert np.shares_memory(got, x)


@pytest.mark.parametrize("body,ref,shape", [
    (lambda c: xp.roll(c, 1) * 0.9, lambda c: np.roll(c, 1) * 0.9, (8,)),
    (lambda c: xp.tril(c) * 0.9, lambda c: np.tril(c) * 0.9, (16, 16)),
    (lambda c: c - 1e-3 * xp.linalg.trace(c), lambda c: c - 1e-3 * np.trace(c), (16, 16)),
    (lambda c: c + 1e-3 * xp.linalg.diagonal(c), lambda c: c + 1e-3 * np.diagonal(c),
     (16, 16))])
def test_loop_bodies_run_natively(body, ref, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    f = xp.compile(lambda c: xp.fori_loop(0, 6, lambda i, c: body(c), c))
    kinds = _kinds(f, x)
    assert _native(kinds), kinds
    want = x.copy()
    for _ in range(6):
        want = ref(want)
    np.testing.assert_allclose(np.asarray(f(x)), want, rtol=1e-13)


def test_gradients_through_lowered_ops_match_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 4))
    w = rng.standard_normal((4, 4))

    def loss(c):
        y = xp.tril(c, k=-1) + xp.triu(c * c, k=1) + xp.roll(c, (1, 2), axis=(0, 1))
        return xp.sum(y * w) + xp.linalg.trace(c * c) + xp.sum(xp.linalg.diagonal(c, offset=1) ** 3)

    g = np.asarray(xp.compile(xp.grad(loss))(x))
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        num[i] = (float(loss(xp.asarray(x + d))) - float(loss(xp.asarray(x - d)))) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)
