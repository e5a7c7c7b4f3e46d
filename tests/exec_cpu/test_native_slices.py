"""Basic-index views (`GetItem` by integers, slices and new axes: ``SliceThunk`` in
``_gather.pxi``) agree with NumPy in values, shape, strides, aliasing and writeability; an index
out of bounds raises NumPy's IndexError through ``perform``; a view is never written in place."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import SliceThunk, Thunk

from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.index import GetItem, parse_key
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply


def _program(key, x: np.ndarray):
    spec, arrays, shape = parse_key(key, x.shape, None)
    assert not arrays
    v = Var.input(x.dtype, x.shape)
    out, = apply(GetItem(spec, shape), v)
    return link(FunctionGraph([v], [out]))


def _layouts(shape, dtype):
    v = (np.arange(int(np.prod(shape))).reshape(shape) * 3 - 7).astype(dtype)
    out = [("c", v), ("T", np.ascontiguousarray(v.T).T)]
    base = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
    base[..., ::2] = v
    out += [("step", base[..., ::2]), ("rev", np.flip(np.flip(v).copy()))]
    ro = v.copy()
    ro.flags.writeable = False
    return out + [("readonly", ro)]


KEYS = [(slice(None), 0), (slice(None), None), 0, -1, (1, 2), (slice(1, None),),
        (slice(None, None, -1),), (slice(None, None, 2), slice(3, 0, -2)), (None, 1, None),
        (Ellipsis, 1), (slice(-2, None), slice(None, -1)), (slice(5, 1),),
        (slice(-100, 100, 3),), (slice(None), slice(None, None, -3)), (None, None)]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.complex128, np.bool_])
@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_basic_index_is_numpys_view(dtype, key):
    for how, x in _layouts((4, 5), dtype):
        prog = _program(key, x)
        assert isinstance(prog.thunks[0], SliceThunk)
        got = prog([x])[0]
        ref = np.asarray(x[key])  # a 0-d result: NumPy copies, the thunk is a 0-d view
        assert got.shape == ref.shape and got.dtype == ref.dtype, how
        assert got.strides == ref.strides or ref.ndim == 0, how
        np.testing.assert_array_equal(got, ref)
        assert got.flags.writeable == x.flags.writeable, how
        if ref.size:
            assert np.shares_memory(got, x), how
        if ref.size and ref.ndim:
            assert got.__array_interface__["data"][0] == ref.__array_interface__["data"][0]


def test_integer_out_of_bounds_raises_numpys_error():
    x = np.zeros((3, 4))
    spec, _, shape = parse_key((slice(None), 3), x.shape, None)
    v = Var.input(np.dtype(np.float64), (None, None))  # sizes known only at run time
    out, = apply(GetItem(spec, shape), v)
    prog = link(FunctionGraph([v], [out]))
    np.testing.assert_array_equal(prog([x])[0], x[:, 3])
    with pytest.raises(IndexError, match="out of bounds"):
        prog([np.zeros((3, 2))])


def test_view_of_a_view():
    prog = _program((slice(1, None), None), np.zeros(4))
    x = np.arange(12.0).reshape(3, 4)[:, ::-1]
    got = prog([x[0]])[0]
    np.testing.assert_array_equal(got, x[0][1:, None])
    assert got.base is not None and np.shares_memory(got, x)


def test_view_is_never_a_buffer_written_in_place():
    # exp of a dying slice could be written over it (the slice's memory is the caller's x)
    x = Var.input(np.dtype(np.float64), (3, 4))
    spec, _, shape = parse_key((slice(1, None), 0), (3, 4), None)
    s, = apply(GetItem(spec, shape), x)
    e, = apply(Elemwise("exp"), s)
    out, = apply(Elemwise("add"), e, e)
    prog = link(FunctionGraph([x], [out]))
    assert not any(type(t) is Thunk for t in prog.thunks)
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    keep = a.copy()
    for _ in range(2):
        np.testing.assert_allclose(prog([a])[0], 2 * np.exp(keep[1:, 0]), rtol=1e-15)
        np.testing.assert_array_equal(a, keep)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1)])
def test_flip_is_numpys_negative_stride_view(dtype, axes):
    from lazyarr.array.ops.shape import Flip

    for how, x in _layouts((4, 5), dtype):
        v = Var.input(x.dtype, x.shape)
        out, = apply(Flip(axes), v)
        prog = link(FunctionGraph([v], [out]))
        assert isinstance(prog.thunks[0], SliceThunk)
        got, ref = prog([x])[0], np.flip(x, axes)
        np.testing.assert_array_equal(got, ref)
        assert got.strides == ref.strides and np.shares_memory(got, x), how
        assert got.flags.writeable == x.flags.writeable, how


def test_flip_in_a_loop_body_runs_natively():
    import lazyarr as xp
    from tests.program_kinds import thunk_kinds

    x = np.random.default_rng(0).standard_normal(8)
    f = xp.compile(lambda c: xp.fori_loop(0, 5, lambda i, c: xp.flip(c) * 0.5, c))
    body = [k.split(":")[1] for k in thunk_kinds(f, x)[1]]
    assert body and "Thunk" not in body and "SliceThunk" in body
    ref = x.copy()
    for _ in range(5):
        ref = ref[::-1] * 0.5
    np.testing.assert_array_equal(np.asarray(f(x)), ref)


def _dynamic_program(key, x: np.ndarray):
    """The program of ``x[key]`` with the key's integers and slice starts as inputs (a
    trace-cache family's program, `ops.index.dynamic_key`), and those inputs' values."""
    from lazyarr.array.ops.index import dynamic_key

    spec, arrays, shape = parse_key(key, x.shape, None)
    dspec, ints = dynamic_key(spec, [], x.shape, lambda k: np.array(k, np.int64))
    v = Var.input(x.dtype, x.shape)
    inputs = [Var.input(np.dtype(np.int64), ()) for _ in ints]
    out, = apply(GetItem(dspec, shape), v, *inputs)
    return link(FunctionGraph([v, *inputs], [out])), ints


@pytest.mark.parametrize("key", KEYS + [(3, slice(1, 4)), (slice(-3, -1), -2)], ids=repr)
def test_integers_and_slice_starts_given_as_inputs_are_numpys_view(key):
    for how, x in _layouts((4, 5), np.float64):
        prog, ints = _dynamic_program(key, x)
        assert isinstance(prog.thunks[0], SliceThunk)
        got = prog([x, *ints])[0]
        ref = np.asarray(x[key])
        assert got.shape == ref.shape and np.array_equal(got, ref), how
        if got.ndim and got.size:
            assert np.shares_memory(got, x), how


def test_an_index_input_out_of_bounds_or_of_another_type_runs_perform():
    x = np.arange(20.0).reshape(4, 5)
    prog, ints = _dynamic_program((2, slice(1, 3)), x)
    assert prog([x, np.array(-1, np.int64), np.array(3, np.int64)])[0].tolist() == [18.0, 19.0]
    with pytest.raises(IndexError):
        prog([x, np.array(4, np.int64), np.array(1, np.int64)])
    with pytest.raises(IndexError, match="runs past axis 1"):  # NumPy would give 1 element
        prog([x, np.array(0, np.int64), np.array(4, np.int64)])
    # an int32 input is not read natively, but NumPy indexes with it alike
    assert prog([x, np.array(1, np.int32), np.array(0, np.int64)])[0].tolist() == [5.0, 6.0]
