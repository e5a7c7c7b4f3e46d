"""Native view thunks (`Reshape`, `Transpose` through the NumPy C API) agree with NumPy and alias
their input as NumPy does; a rank-1 `Gemm` update (k == 1, the weight update at minibatch 1) over
every BLAS dtype and layout; `LinearProgram.profile` times every thunk."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import GemmThunk, Thunk, ViewThunk

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.linalg import Gemm
from lazyarr.array.ops.shape import Reshape, Transpose
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

BLAS = [np.float32, np.float64, np.complex64, np.complex128]


def _program(op, x: np.ndarray):
    v = Var.input(x.dtype, x.shape)
    out, = apply(op, v)
    return link(FunctionGraph([v], [out]))


def _layouts(shape):
    """C order, a transposed copy seen transposed back, every other element, reversed."""
    v = np.asarray(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) * 0.5 - 3)
    out = [("c", v)]
    if len(shape) >= 2:
        out.append(("T", np.ascontiguousarray(v.T).T))
    if shape and shape[-1] > 0:
        base = np.zeros(shape[:-1] + (2 * shape[-1],))
        base[..., ::2] = v
        out.append(("step", base[..., ::2]))
        out.append(("rev", np.flip(np.flip(v).copy())))
    return out


RESHAPES = [((2, 3, 4), (6, 4)), ((2, 3, 4), (24,)), ((1, 10), (10,)), ((1,), ()), ((), (1, 1)),
            ((0, 3), (3, 0)), ((4, 6), (2, 2, 3, 2))]


@pytest.mark.parametrize("src,dst", RESHAPES)
def test_reshape_matches_numpy_and_aliases_like_it(src, dst):
    for how, x in _layouts(src):
        prog = _program(Reshape(dst), x)
        assert isinstance(prog.thunks[0], ViewThunk)
        got = prog([x])[0]
        ref = x.reshape(dst)
        assert got.shape == ref.shape and got.dtype == ref.dtype, how
        np.testing.assert_array_equal(got, ref)
        # a view exactly when NumPy makes one (never a copy of a viewable input)
        assert np.shares_memory(got, x) == np.shares_memory(ref, x), how


PERMS = [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((5,), (0,)), ((), ()), ((0, 4), (1, 0))]


@pytest.mark.parametrize("shape,perm", PERMS)
def test_transpose_matches_numpy_and_is_a_view(shape, perm):
    for how, x in _layouts(shape):
        prog = _program(Transpose(perm), x)
        assert isinstance(prog.thunks[0], ViewThunk)
        got = prog([x])[0]
        ref = x.transpose(perm)
        assert got.shape == ref.shape and got.strides == ref.strides, how
        np.testing.assert_array_equal(got, ref)
        if x.size:
            assert np.shares_memory(got, x), how


def test_view_of_non_array_input_falls_back():
    prog = _program(Reshape((1, 1)), np.zeros(()))
    got = prog([np.float64(2.5)])[0]
    assert got.shape == (1, 1) and got[0, 0] == 2.5


def test_view_feeding_a_native_kernel_sees_the_right_values():
    x = Var.input(np.dtype(np.float64), (3, 4))
    t, = apply(Transpose((1, 0)), x)
    r, = apply(Reshape((12,)), t)          # not viewable: a copy
    out, = apply(Elemwise("exp"), r)
    prog = link(FunctionGraph([x], [out]))
    assert [type(th) for th in prog.thunks][:2] == [ViewThunk, ViewThunk]
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    for _ in range(2):  # reused buffers on the second call
        np.testing.assert_allclose(prog([a])[0], np.exp(a.T.reshape(12)), rtol=1e-15)


def _operand(rng, shape, dt, how):
    v = rng.standard_normal(shape)
    if np.dtype(dt).kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    v = v.astype(dt)
    if how == "T":
        return np.ascontiguousarray(v.T).T
    if how == "step":
        base = np.zeros(shape[:-1] + (shape[-1] * 2,), dt)
        base[..., ::2] = v
        return base[..., ::2]
    if how == "rev":
        return np.flip(np.flip(v).copy())
    return v


@pytest.mark.parametrize("dt", BLAS)
def test_rank_one_gemm_update_matches_numpy(dt):
    rng = np.random.default_rng(3)
    m, n = 7, 5
    for ha in ("c", "T", "step", "rev"):
        for hb in ("c", "T", "step", "rev"):
            for beta in (1.0, 0.5):
                a = _operand(rng, (m, 1), dt, ha)
                b = _operand(rng, (1, n), dt, hb)
                c = _operand(rng, (m, n), dt, "c")
                vs = [Var.input(np.dtype(dt), s) for s in (c.shape, (), a.shape, b.shape, ())]
                out, = apply(Gemm(), *vs)
                prog = link(FunctionGraph(vs, [out]))
                assert isinstance(prog.thunks[0], GemmThunk)
                alpha = np.asarray(-0.75, dt)
                keep = c.copy()
                got = prog([c, alpha, a, b, np.asarray(beta, dt)])[0]
                ref = beta * keep + alpha * (a @ b)
                tol = 1e-5 if np.dtype(dt) in (np.float32, np.complex64) else 1e-12
                np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
                np.testing.assert_array_equal(c, keep)  # the caller's c is left alone


def test_profile_times_every_thunk_and_keeps_results():
    x = Var.input(np.dtype(np.float64), (4, 3))
    t, = apply(Transpose((1, 0)), x)
    e, = apply(Elemwise("exp"), t)
    out, = apply(Elemwise("add"), e, t)
    prog = link(FunctionGraph([x], [out]))
    a = np.linspace(0, 1, 12).reshape(4, 3)
    per = prog.profile([a], 5)
    assert len(per) == len(prog.thunks) and all(s > 0 for s in per)
    np.testing.assert_allclose(prog([a])[0], np.exp(a.T) + a.T)
    assert not any(type(th) is Thunk for th in prog.thunks)


@pytest.mark.parametrize("sa,sb", [((), (1, 1)), ((4,), (1, 4)), ((1, 2, 3), (2, 3)),
                                   ((1, 1), (1,)), ((0, 3), (1, 3))])
def test_elementwise_operands_of_equal_size_and_lower_rank(sa, sb):
    # same element count as the result but fewer axes: read as contiguous
    rng = np.random.default_rng(5)
    a = np.asarray(rng.standard_normal(sa))
    b = np.asarray(rng.standard_normal(sb))
    va, vb = Var.input(a.dtype, sa), Var.input(b.dtype, sb)
    q, = apply(Elemwise("divide"), va, vb)
    out, = apply(Elemwise("subtract"), q, vb)
    prog = link(FunctionGraph([va, vb], [out]))
    for _ in range(2):
        got = prog([a, b])[0]
        ref = a / b - b
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-14)
    bt = np.asarray(rng.standard_normal(sb[::-1])).T  # a transposed (non-C-contiguous) operand
    if bt.ndim == 2 and not bt.flags.c_contiguous:
        np.testing.assert_allclose(prog([a, bt])[0], a / bt - bt, rtol=1e-14)


@pytest.mark.parametrize("src,dst", [((8,), (3, 8)), ((1,), (8,)), ((4, 1), (2, 4, 5)),
                                     ((1, 5), (4, 5)), ((), (2, 3)), ((2, 3), (2, 3))])
def test_broadcast_to_is_numpys_zero_stride_view(src, dst):
    from lazyarr.exec_cpu._vm import BroadcastThunk

    from lazyarr.array.ops.shape import BroadcastTo

    for how, x in _layouts(src):
        prog = _program(BroadcastTo(dst), x)
        assert isinstance(prog.thunks[0], BroadcastThunk)
        got, ref = prog([x])[0], np.broadcast_to(x, dst)
        np.testing.assert_array_equal(got, ref)
        assert got.shape == ref.shape and got.strides == ref.strides, how
        assert not got.flags.writeable, how
        if x.size:
            assert np.shares_memory(got, x), how


def test_broadcast_to_of_a_run_time_size_checks_it():
    from lazyarr.array.ops.shape import BroadcastTo

    v = Var.input(np.dtype(np.float64), (None,))
    out, = apply(BroadcastTo((3, 4)), v)
    prog = link(FunctionGraph([v], [out]))
    np.testing.assert_array_equal(prog([np.ones(1)])[0], np.ones((3, 4)))
    np.testing.assert_array_equal(prog([np.arange(4.0)])[0], np.tile(np.arange(4.0), (3, 1)))
    with pytest.raises(ValueError):
        prog([np.ones(2)])


def test_broadcast_to_in_a_loop_body_runs_natively():
    import lazyarr as xp
    from tests.program_kinds import thunk_kinds

    x = np.random.default_rng(0).standard_normal(8)
    body = lambda i, c: xp.sum(xp.broadcast_to(c, (3, 8)), axis=0) * 0.3  # noqa: E731
    f = xp.compile(lambda c: xp.fori_loop(0, 4, body, c))
    kinds = [k.split(":")[1] for k in thunk_kinds(f, x)[1]]
    assert kinds and "Thunk" not in kinds and "BroadcastThunk" in kinds
    ref = x.copy()
    for _ in range(4):
        ref = np.sum(np.broadcast_to(ref, (3, 8)), axis=0) * 0.3
    np.testing.assert_allclose(np.asarray(f(x)), ref, rtol=1e-15)
