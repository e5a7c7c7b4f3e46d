"""Shape, dtype, axis and index errors raise at the call that builds the node, with the array
API's exception types, and the message names this file and the line of the offending call.
An error that can only happen while running carries a note naming the op and the user's line
that built it."""

from __future__ import annotations

import inspect
import operator
import os

import numpy as np
import pytest

import lazyarr as xp

HERE = os.path.abspath(__file__)


def _next_line() -> int:
    """The line after the caller's line (where the offending call is written)."""
    return inspect.currentframe().f_back.f_lineno + 1


def _names_line(exc: BaseException, line: int) -> None:
    msg = str(exc)
    assert f"{HERE}, line {line}" in msg, msg


def _a(shape, dtype=np.float64):
    return xp.asarray(np.zeros(shape, dtype))


# Each case: (exception type, the offending call). The call is run on the line after
# _next_line() inside `_run`, so the expected line is known; the message must name the
# user's frame — the lambda's line here is the test's, not lazyarr's.
CASES = {
    # shape errors
    "broadcast": (ValueError, lambda: _a((2, 3)) + _a((4,))),
    "broadcast_function": (ValueError, lambda: xp.multiply(_a(3), _a(2))),
    "matmul_inner": (ValueError, lambda: _a((2, 3)) @ _a((2, 3))),
    "matmul_0d": (ValueError, lambda: xp.matmul(_a(()), _a(3))),
    "reshape": (ValueError, lambda: xp.reshape(_a(6), (4, 2))),
    "reshape_two_minus_one": (ValueError, lambda: xp.reshape(_a(6), (-1, -1))),
    "broadcast_to": (ValueError, lambda: xp.broadcast_to(_a(3), (2, 4))),
    "concat": (ValueError, lambda: xp.concat([_a((2, 3)), _a((3, 2))], axis=1)),
    "stack": (ValueError, lambda: xp.stack([_a(2), _a(3)])),
    "squeeze": (ValueError, lambda: xp.squeeze(_a((2, 1)), axis=0)),
    "tensordot": (ValueError, lambda: xp.tensordot(_a((2, 3)), _a((2, 3)), axes=1)),
    "vecdot": (ValueError, lambda: xp.vecdot(_a(3), _a(4))),
    "setitem_shape": (ValueError, lambda: _a((2, 3)).__setitem__(0, _a(2))),
    "full": (ValueError, lambda: xp.full(3, _a(2))),
    "max_empty": (ValueError, lambda: xp.max(_a(0))),
    "zeros_negative": (ValueError, lambda: xp.zeros((2, -1))),
    # dtype errors
    "bitwise_float": (TypeError, lambda: _a(2) & _a(2)),
    "shift_float": (TypeError, lambda: xp.bitwise_left_shift(_a(2), 1)),
    "sqrt_bool": (TypeError, lambda: xp.sqrt(_a(2, np.bool_))),
    "less_complex": (TypeError, lambda: _a(2, np.complex128) < 1),
    "negative_bool": (TypeError, lambda: -_a(2, np.bool_)),
    "where_condition": (TypeError, lambda: xp.where(_a(2), 1.0, 0.0)),
    "astype_complex": (TypeError, lambda: xp.astype(_a(2, np.complex64), xp.float32)),
    "mean_bool": (TypeError, lambda: xp.mean(_a(2, np.bool_))),
    "max_complex": (TypeError, lambda: xp.max(_a(2, np.complex64))),
    "matmul_bool": (TypeError, lambda: xp.matmul(_a((2, 2), bool), _a((2, 2), bool))),
    "bad_dtype": (TypeError, lambda: xp.zeros(2, dtype="float16")),
    "setitem_dtype": (TypeError, lambda: _a(3, np.int32).__setitem__(0, _a((), np.float64))),
    "index_float": (TypeError, lambda: operator.index(_a((), np.float64))),
    "scalar_of_vector": (TypeError, lambda: float(_a(3))),
    "iadd_dtype": (TypeError, lambda: operator.iadd(_a(3, np.int32), 1.5)),
    "iadd_shape": (ValueError, lambda: operator.iadd(_a(3), _a((2, 3)))),
    "asarray_text": (TypeError, lambda: xp.asarray("abc")),
    "clip_complex": (TypeError, lambda: xp.clip(_a(2, np.complex64), 0, 1)),
    "repeat_float_counts": (TypeError, lambda: xp.repeat(_a(2), xp.asarray([1.0, 2.0]))),
    # axis errors (NumPy's AxisError is both a ValueError and an IndexError)
    "sum_axis": (ValueError, lambda: xp.sum(_a((2, 3)), axis=2)),
    "sum_axis_negative": (ValueError, lambda: xp.sum(_a((2, 3)), axis=-3)),
    "sum_repeated_axis": (ValueError, lambda: xp.sum(_a((2, 3)), axis=(1, -1))),
    "sum_axis_type": (TypeError, lambda: xp.sum(_a((2, 3)), axis=1.0)),
    "permute_dims": (ValueError, lambda: xp.permute_dims(_a((2, 3)), (0, 0))),
    "expand_dims": (ValueError, lambda: xp.expand_dims(_a(2), axis=3)),
    "cumulative_axis": (ValueError, lambda: xp.cumulative_sum(_a((2, 2)))),
    "flip_axis": (ValueError, lambda: xp.flip(_a(2), axis=1)),
    "moveaxis": (ValueError, lambda: xp.moveaxis(_a((2, 3)), 0, 2)),
    # index errors
    "index_bounds": (IndexError, lambda: _a((2, 3))[2]),
    "index_negative_bounds": (IndexError, lambda: _a((2, 3))[0, -4]),
    "too_many_indices": (IndexError, lambda: _a((2, 3))[0, 0, 0]),
    "two_ellipses": (IndexError, lambda: _a((2, 3))[..., ...]),
    "float_index_array": (IndexError, lambda: _a(3)[xp.asarray([0.0])]),
    "mask_shape": (IndexError, lambda: _a((2, 3))[xp.asarray([True, False, True])]),
    "index_type": (IndexError, lambda: _a(3)["a"]),
    # other values
    "device": (ValueError, lambda: xp.zeros(2, device="tpu")),
    "asarray_copy_false": (ValueError, lambda: xp.asarray([1, 2], copy=False)),
    "arange_step": (ValueError, lambda: xp.arange(0, 3, 0)),
    "isdtype_kind": (ValueError, lambda: xp.isdtype(xp.int8, "integer")),
    "finfo_int": (ValueError, lambda: xp.finfo(xp.int8)),
    "asarray_int_overflow": (OverflowError, lambda: xp.asarray(300, dtype=xp.int8)),
    "asarray_uint_negative": (OverflowError, lambda: xp.asarray(-1, dtype=xp.uint8)),
    "asarray_list_overflow": (OverflowError, lambda: xp.asarray([300], dtype=xp.int8)),
    "full_int_overflow": (OverflowError, lambda: xp.full(2, 300, dtype=xp.int8)),
    "full_like_int_overflow": (OverflowError,
                               lambda: xp.full_like(xp.asarray([1], dtype=xp.int8), 300)),
    "setitem_complex_into_float": (
        TypeError, lambda: operator.setitem(xp.ones(3, dtype=xp.float32), 0, 1j)),
    "asarray_scalar_copy_false": (ValueError, lambda: xp.asarray(1.0, copy=False)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_type_and_user_line(name):
    exc_type, call = CASES[name]
    line = inspect.getsourcelines(call)[1]  # the line of the lambda in CASES above
    with pytest.raises(exc_type) as info:
        call()
    _names_line(info.value, line)


def test_error_names_the_line_of_a_statement_in_a_function():
    a, b = _a((2, 3)), _a((3, 2))
    with pytest.raises(ValueError) as info:
        line = _next_line()
        c = a + b  # noqa: F841
    _names_line(info.value, line)


def test_error_inside_a_helper_names_the_helper_line():
    def helper(x):
        return x @ x  # the user's innermost frame outside lazyarr

    with pytest.raises(ValueError) as info:
        helper(_a((2, 3)))
    _names_line(info.value, inspect.getsourcelines(helper)[1] + 1)


def test_an_error_leaves_the_operands_usable():
    a = _a((2, 3)) + 1.0
    with pytest.raises(ValueError):
        a + _a(4)
    np.testing.assert_array_equal(np.asarray(a), np.ones((2, 3)))


def test_run_time_error_names_the_op_and_the_building_line():
    x = xp.asarray(np.arange(5.0))
    idx = xp.asarray(np.array([0, 3])) * 2  # out of bounds, known only when computed
    line = _next_line()
    y = x[idx] * 2.0
    with pytest.raises(IndexError) as info:
        np.asarray(y)
    notes = getattr(info.value, "__notes__", [])
    assert any("GetItem" in n and f"{HERE}, line {line}" in n for n in notes), notes
    # the failed realization leaves the graph intact: a correct one still works
    check = x[xp.asarray(np.array([4, 0]))] * 2.0
    np.testing.assert_array_equal(np.asarray(check), [8.0, 0.0])


def test_an_index_array_known_now_is_checked_now():
    """An integer index array whose values are known when the key is written (a list, a
    NumPy array, a realized array) raised only when the value was read, with the line in a
    note; it is NumPy's IndexError at the indexing line. Index arrays that do not broadcast
    together are an IndexError, as in NumPy (it was ValueError)."""
    x = xp.asarray(np.arange(5.0))
    for key in ([0, 7], np.array([0, 7]), xp.asarray(5), np.array([-6])):
        with pytest.raises(IndexError) as info:
            line = _next_line()
            x[key]
        assert "out of bounds for axis 0 with size 5" in str(info.value)
        _names_line(info.value, line)
    y = xp.zeros(3)
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        y[np.array([3])] = 1.0
    with pytest.raises(IndexError, match="could not be broadcast together"):
        xp.ones((3, 3))[xp.asarray([0, 1]), xp.asarray([0, 1, 2])]
    np.testing.assert_array_equal(np.asarray(x[[0, -5, 4]]), [0.0, 0.0, 4.0])


def test_from_dlpack_and_reshape_name_the_bad_argument():
    """from_dlpack(3) raised AttributeError, reshape(a, (2.0, 6)) a bare TypeError without
    the function or the line."""
    with pytest.raises(TypeError) as info:
        line = _next_line()
        xp.from_dlpack(3)
    assert "from_dlpack(): x must support the DLPack protocol" in str(info.value)
    _names_line(info.value, line)
    with pytest.raises(TypeError) as info:
        line = _next_line()
        xp.reshape(xp.ones(6), (2.0, 3))
    assert "reshape(): shape must be a tuple of integers" in str(info.value)
    _names_line(info.value, line)


@pytest.mark.parametrize("call", [
    lambda m: xp.tril(m, k="1"), lambda m: xp.triu(m, k=1.9),
    lambda m: xp.linalg.diagonal(m, offset=1.5), lambda m: xp.linalg.trace(m, offset=1.5),
    lambda m: xp.eye(2.5), lambda m: xp.eye(2, k=0.7), lambda m: xp.linspace(0, 1, 2.9),
    lambda m: xp.roll(m, 1.7)])
def test_integer_arguments_refuse_floats_and_strings(call):
    """int() truncated them: diagonal(offset=1.5) gave offset 1's values, tril(k="1") parsed
    the string. A float or a string is a TypeError naming the argument."""
    with pytest.raises(TypeError, match=r"\(\): \w+ must be an integer, not (float|str)"):
        call(xp.ones((3, 3)))


@pytest.mark.parametrize("fn", [xp.zeros, xp.ones, xp.empty])
def test_zeros_ones_empty_name_themselves(fn):
    """Their shape errors said full(), the function they call."""
    with pytest.raises(ValueError, match=rf"^{fn.__name__}\(\): negative dimensions"):
        fn((2, -1))
    with pytest.raises(TypeError, match=rf"^{fn.__name__}\(\): shape must be"):
        fn("ab")


def test_std_names_itself_and_a_bad_correction():
    """std's errors said var(), which it calls; correction="x" was a bare "unsupported operand
    type(s) for -"."""
    a = xp.ones((2, 3))
    with pytest.raises(ValueError, match=r"^std\(\): axis 3 is out of bounds"):
        xp.std(a, axis=3)
    for fn in (xp.std, xp.var):
        with pytest.raises(TypeError, match=rf"^{fn.__name__}\(\): correction must be a real"):
            fn(a, correction="x")


def _inverse_plus_one_a(m):
    return xp.linalg.inv(m) + 1.0


def _inverse_plus_one_b(m):
    return xp.linalg.inv(m) + 1.0


@pytest.mark.parametrize("donate", [False, True])
def test_run_time_error_names_the_line_of_the_graph_that_ran(donate):
    """Two functions building the same graph share a cached program; its error named the
    line of whichever built it first (line of _a for a call of _b)."""
    line_a = inspect.getsourcelines(_inverse_plus_one_a)[1] + 1
    line_b = inspect.getsourcelines(_inverse_plus_one_b)[1] + 1
    held = xp.asarray(np.zeros((2, 2)))
    for f, line in ((_inverse_plus_one_a, line_a), (_inverse_plus_one_b, line_b),
                    (_inverse_plus_one_a, line_a)):
        # a computed input nobody else holds may be donated; else one array for all calls
        m = xp.asarray(np.zeros((2, 2))) * 1.0 if donate else held
        y = f(m)
        del m
        with pytest.raises(np.linalg.LinAlgError) as info:
            np.asarray(y)
        notes = info.value.__notes__
        assert any(f"{HERE}, line {line}" in n for n in notes), (line, notes)


def test_run_time_error_of_a_repeat_count():
    line = _next_line()
    r = xp.repeat(_a(3), xp.asarray(np.array([1, -1, 2])) * 1)  # computed: run-time check
    with pytest.raises(ValueError) as info:
        np.asarray(r)
    assert any(f"{HERE}, line {line}" in n for n in info.value.__notes__)


def test_fftn_with_more_sizes_than_axes_and_tensordot_with_a_repeated_axis_say_so():
    with pytest.raises(ValueError, match="s has 3 sizes but the array has 2 axes"):
        xp.fft.fftn(xp.ones((2, 2), dtype=xp.complex64), s=(2, 2, 2))
    with pytest.raises(ValueError, match="tensordot.*repeated"):
        xp.tensordot(xp.ones((3, 3)), xp.ones((3, 3)), axes=([0, 0], [0, 1]))


@pytest.mark.parametrize("args, name", [((-1,), "n_rows"), ((3, -2), "n_cols")])
def test_eye_refuses_a_negative_size_at_the_call(args, name):
    """eye(-1) built a node of shape (-1, -1); the ValueError only came when it was read.
    NumPy's eye raises ValueError at once."""
    _raises_as_numpy_does(ValueError, rf"^eye\(\): {name} must not be negative, got -",
                          np.eye, xp.eye, args)


@pytest.mark.parametrize("args", [(0, 1e30), (0.0, float("inf")), (0, float("nan")),
                                  (0, 2**62)])
def test_arange_too_large_or_of_no_length_raises_at_the_call(args):
    """arange(0, 1e30) built a node with 1e30 elements (inf and NaN ends: an OverflowError
    or a ValueError without the user's line); NumPy raises ValueError at once."""
    _raises_as_numpy_does(ValueError, r"^arange\(\): ", np.arange, xp.arange, args)


def _raises_as_numpy_does(exc: type, match: str, np_fn, xp_fn, args: tuple) -> None:
    """``np_fn(*args)`` raises ``exc``, and so does ``xp_fn(*args)``, at the call, with a
    message matching ``match`` that names the line of that call."""
    with pytest.raises(exc):
        np_fn(*args)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(exc, match=match) as info:
        xp_fn(*args)
    _names_line(info.value, line)


@pytest.mark.parametrize("fn", ["fftfreq", "rfftfreq"])
def test_fftfreq_of_a_zero_spacing_raises_at_the_call(fn):
    """fftfreq(4, d=0) built and raised ZeroDivisionError when read; NumPy raises it at
    once."""
    with pytest.raises(ZeroDivisionError):
        getattr(np.fft, fn)(4, d=0)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(ZeroDivisionError, match=rf"^fft\.{fn}\(\): d must not be zero") as info:
        getattr(xp.fft, fn)(4, d=0)
    _names_line(info.value, line)


@pytest.mark.parametrize("obj", [2**64, -(2**63) - 1, [1, 2**64], [[-(2**63) - 1]]])
def test_asarray_of_a_python_int_no_integer_dtype_holds_is_an_overflow_error(obj):
    """Beyond uint64 (or below int64) the scalar raised NumPy's "too large to convert to C
    long" without the user's line and a list said "cannot make a numeric array from list"
    (NumPy makes an object array, which no array API namespace has). Both are an
    OverflowError naming the value and the line, as Python and NumPy with a dtype raise."""
    with pytest.raises(OverflowError):
        np.asarray(obj, dtype=np.int64)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(OverflowError, match=r"^asarray\(\): the Python int -?\d{19,20} ") as info:
        xp.asarray(obj)
    _names_line(info.value, line)


def test_trace_of_a_vector_names_trace():
    """linalg.trace of a 1-d array said "linalg.diagonal() needs at least 2 dimensions"."""
    with pytest.raises(ValueError):
        np.linalg.trace(np.ones(3))
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(ValueError, match=r"^linalg\.trace\(\) needs at least 2 dim") as info:
        xp.linalg.trace(xp.ones(3))
    _names_line(info.value, line)


@pytest.mark.parametrize("fn", ["fftshift", "ifftshift"])
def test_fftshift_axis_errors_name_the_function_called(fn):
    """ifftshift's repeated or out-of-range axis was reported as fftshift()'s."""
    x = xp.arange(5.0)
    for axes in [(0, -1), (1,)]:
        with pytest.raises((ValueError, IndexError), match=rf"^{fn}\(\)"):
            getattr(xp.fft, fn)(x, axes=axes)
