"""The C hot path of the front end (`array/_front.pyx`): its fast paths give what the Python
rules give (NumPy / the standard's promotion as the oracle), and arrays count themselves on
their variables (nref) until they are freed."""

from __future__ import annotations

import gc
import pickle
import weakref

import numpy as np
import pytest

import lazyarr as xp

strict = pytest.importorskip("array_api_strict")

_DTYPES = [np.float32, np.float64, np.complex64, np.int32, np.uint8, np.bool_]
_SCALARS = [2, 2.5, -0.0, True]


@pytest.mark.parametrize("dt", _DTYPES)
@pytest.mark.parametrize("s", _SCALARS)
def test_array_and_python_scalar_follow_the_standard(dt, s):
    """array_api_strict is the oracle: same dtype and values where the standard defines it."""
    xn = np.arange(1, 5).astype(dt)
    x, xs = xp.asarray(xn), strict.asarray(xn)
    for f in (lambda a, b: a * b, lambda a, b: b - a, lambda a, b: a + b):
        try:
            want = f(xs, s)
        except TypeError:  # lazyarr follows NumPy where the standard leaves mixing undefined
            continue
        got = f(x, s)
        assert got.dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_mixed_dtypes_and_broadcasting_go_through_the_rules():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(3, dtype=np.float64)
    got = xp.asarray(a) + xp.asarray(b)
    assert got.dtype == np.float64 and got.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(got), a + b)
    got = xp.asarray(np.float32(3)) * xp.asarray(a)   # () with (2, 3)
    np.testing.assert_array_equal(np.asarray(got), 3 * a)
    assert np.asarray(-xp.asarray(a) ** 2).tolist() == (-(a ** 2)).tolist()


def test_arrays_count_themselves_on_their_variable_until_freed():
    x = xp.asarray(np.ones(3))
    y = x * 2.0
    v = y._v
    assert v.nref == 1
    z = y
    assert v.nref == 1           # one Array object, two names
    w = xp.asarray(np.zeros(3))  # unrelated
    del y, z, w
    gc.collect()
    assert v.nref == 0


def test_array_objects_keep_python_behaviour():
    x = xp.asarray(np.arange(3.0))
    assert weakref.ref(x)() is x
    assert isinstance(x, xp.Array if hasattr(xp, "Array") else type(x))
    np.testing.assert_array_equal(np.asarray(pickle.loads(pickle.dumps(x + 1))),
                                  np.arange(3.0) + 1)
    with pytest.raises(TypeError):
        type(x)()
    with pytest.raises(AttributeError):
        x.not_an_attribute = 1


def test_numpy_conversion_realizes_casts_and_copies():
    """``__array__`` (C, on ArrayBase): the data, read-only, cast or copied when asked."""
    xn = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
    y = xp.exp(xp.asarray(xn)) * 2.0
    got = np.asarray(y)
    assert y._v.owner is None and got is y._value()
    assert got.dtype == np.float32 and not got.flags.writeable
    np.testing.assert_allclose(got, np.exp(xn) * 2, rtol=1e-6)
    wide = np.asarray(y, dtype=np.float64)
    assert wide.dtype == np.float64
    np.testing.assert_allclose(wide, np.exp(xn.astype(np.float64)) * 2, rtol=1e-6)
    assert np.asarray(y, dtype="float32") is got
    c = np.array(y, copy=True)
    assert c is not got and c.flags.writeable
    np.testing.assert_array_equal(c, got)
    with pytest.raises(xp.ConcretizationError):
        xp.grad(lambda t: xp.sum(t) * float(np.asarray(t)[0]))(xp.asarray(xn))
    with pytest.raises(ValueError, match="avoid copy"):  # NumPy's protocol for copy=False
        np.asarray(y, dtype=np.float64, copy=False)


def test_python_scalar_conversions_follow_the_standard():
    """``int``/``float``/``index``/``complex`` need a 0-d array (size 1 was enough, as
    NumPy 1 allowed), and ``int``/``float`` of a complex one is a TypeError (it dropped the
    imaginary part); ``bool`` of a size-1 array stays allowed, as in NumPy 2."""
    import math
    import operator

    for conv in (int, float, complex, operator.index, math.floor):
        with pytest.raises(TypeError):
            conv(xp.ones((1, 1), dtype=xp.int64))
    for conv in (int, float):
        with pytest.raises(TypeError, match="complex"):
            conv(xp.asarray(1 + 2j))
    assert complex(xp.asarray(1 + 2j)) == 1 + 2j
    assert bool(xp.ones(1)) and [10, 20, 30][xp.asarray(2)] == 30
    assert float(xp.asarray(2.5)) == 2.5 and int(xp.asarray(7)) == 7


def test_data_lazyarr_makes_is_read_only():
    """An array from a list or a Python scalar (or a cast or copy of a NumPy array) is
    lazyarr's own: a NumPy handle of it is read-only, so pending results keep their values
    (a write reached ``x * 2`` before it ran); a user's NumPy array stays aliased."""
    x = xp.asarray([1.0, 2.0, 3.0])
    y = x * 2
    for a in (x, xp.asarray(3.0), xp.asarray(np.ones(2), dtype=xp.float32),
              xp.asarray(np.ones(2), copy=True), xp.asarray((1, 2))):
        assert not np.asarray(a).flags.writeable
    with pytest.raises(ValueError):
        np.asarray(x)[0] = 99.0
    np.testing.assert_array_equal(np.asarray(y), [2.0, 4.0, 6.0])
    user = np.ones(2)
    assert np.asarray(xp.asarray(user)) is user and user.flags.writeable


def test_scalar_operands_remembered_by_identity_keep_value_sign_and_dtype():
    """The closures remember their last Python scalar and dtype: a repeat must still give
    each scalar's own value (the sign of a zero included) in each array's dtype."""
    x32 = np.array([1.0, -2.0, 3.0], np.float32)
    x64 = x32.astype(np.float64)
    a32, a64 = xp.asarray(x32), xp.asarray(x64)
    for c in (0.0, -0.0, -0.0, 2.5, 2.5, 2, float("nan"), float("inf")):
        for a, xn in ((a32, x32), (a64, x64), (a32, x32)):
            with np.errstate(all="ignore"):
                wants = (xn * c, c - xn, xn / c)
            for got, want in zip((a * c, c - a, a / c), wants):
                g = np.asarray(got)
                assert g.dtype == xn.dtype
                np.testing.assert_array_equal(g, want)
                np.testing.assert_array_equal(np.signbit(g), np.signbit(want))


def test_the_pending_depth_bound_follows_its_module_attribute(monkeypatch):
    from lazyarr.array import coerce

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    z = xp.asarray(np.zeros(3))
    for _ in range(30):
        z = z + 1.0
        assert z._v.depth <= 9
    np.testing.assert_array_equal(np.asarray(z), np.full(3, 30.0))
    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 1 << 40)
    for _ in range(30):
        z = z + 1.0
    assert z._v.depth == 30                       # lifted: nothing realized on its own
    np.testing.assert_array_equal(np.asarray(z), np.full(3, 60.0))


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64", "float32", "float64", "complex64"])
def test_python_scalar_conversions_match_numpy(dtype):
    """``float``/``int``/``bool``/``complex`` of a 0-d array (pending or realized) give
    NumPy's answer (or its exception type), except ``int``/``float`` of a complex array (the
    standard's TypeError; NumPy warns and drops the imaginary part); a size-1 array of more
    dimensions only for ``bool`` (NumPy 2); another size raises TypeError naming the caller's
    line."""
    xn = np.asarray(np.array([3.0]).astype(dtype)[0])
    for conv in (float, int, bool, complex):
        if conv in (int, float) and xn.dtype.kind == "c":
            with pytest.raises(TypeError, match="complex"):
                conv(xp.asarray(xn))
            continue
        try:
            want = conv(xn[()])
        except (TypeError, ValueError) as e:
            with pytest.raises(type(e)):
                conv(xp.where(xp.asarray(True), xp.asarray(xn), xp.asarray(xn)))
            continue
        pending = xp.where(xp.asarray(True), xp.asarray(xn), xp.asarray(np.zeros((), dtype)))
        assert pending._v.owner is not None
        assert conv(pending) == want and type(conv(pending)) is type(want)
        assert conv(pending) == want                       # realized now
        if conv is bool:
            assert conv(xp.reshape(xp.asarray(xn), (1, 1))) == want
        else:
            with pytest.raises(TypeError):
                conv(xp.reshape(xp.asarray(xn), (1, 1)))
    with pytest.raises(TypeError, match="test_front.py"):
        float(xp.asarray(np.ones(2, dtype)))


def test_remembered_broadcast_keeps_shapes_and_errors():
    """A binary function remembers its last pair of shapes: alternating pairs give NumPy's
    shapes and values, and a pair that does not broadcast raises every time."""
    a = np.arange(6.0).reshape(2, 3)
    b, c = np.arange(3.0), np.arange(2.0).reshape(2, 1)
    for _ in range(3):
        r1 = xp.asarray(a) + xp.asarray(b)
        r2 = xp.asarray(a) + xp.asarray(c)
        np.testing.assert_array_equal(np.asarray(r1), a + b)
        np.testing.assert_array_equal(np.asarray(r2), a + c)
        for _ in range(2):
            with pytest.raises(ValueError):
                xp.asarray(a) + xp.asarray(np.ones(4))


def test_remembered_broadcasts_compare_shapes_by_value():
    """Shapes built anew each step (equal tuples, not the same objects) find the last two
    broadcasts; a pair that equals a remembered one on one side only is broadcast afresh."""
    pairs = [((1, 5), (5,)), ((1, 3), (3,)), ((4, 1), (3,)), ((1, 3), (2, 1)), ((3,), (1, 3))]
    for _ in range(3):
        for s1, s2 in pairs:
            a = np.ones(tuple(int(d) for d in s1))  # fresh tuples each time
            b = np.arange(float(np.prod(s2))).reshape(tuple(list(s2)))
            r = xp.asarray(a) - xp.asarray(b)
            assert r.shape == np.broadcast_shapes(s1, s2)
            np.testing.assert_array_equal(np.asarray(r), a - b)
    with pytest.raises(ValueError):
        xp.asarray(np.ones((1, 3))) - xp.asarray(np.ones(4))


def test_held_pending_keeps_held_pending_variables_once_in_order():
    """`held_pending` (the live registry's pruning): the pending variables a user array holds,
    without repeats, in order; for a few (compared one by one) and for many (a set)."""
    from lazyarr.array import _front

    for n in (3, 40):
        xs = [xp.asarray(np.full(2, float(i))) + 1.0 for i in range(n)]
        dropped = xp.asarray(np.ones(2)) * 2.0
        done = xp.asarray(np.ones(2)) * 3.0
        np.asarray(done)  # realized: no longer pending
        vs = [x._v for x in xs]
        live = vs[:2] + [dropped._v, done._v] + vs + vs[::-1]
        del dropped
        assert _front.held_pending(live) == vs


def _read_only_views_of_a_writable_buffer():
    buf = np.arange(6, dtype=np.float32)
    ro = buf.view()
    ro.flags.writeable = False
    return buf, [ro, np.broadcast_to(buf, (2, 6))[0],
                 np.lib.stride_tricks.sliding_window_view(buf, 3)[:, 0]]


def test_a_read_only_view_of_a_writable_buffer_is_not_taken_for_frozen_data():
    """A read-only view's owner can still write through the array it holds (``broadcast_to``,
    ``sliding_window_view``): copies, realized and compiled results must not follow those
    writes. The view's own flag was taken for the owner's."""
    for k in range(3):
        buf, views = _read_only_views_of_a_writable_buffer()
        ro = views[k]
        want = ro.copy()
        pending = xp.ones(ro.shape, dtype=xp.float32) * ro
        copied = xp.asarray(xp.asarray(ro), copy=True)
        realized = xp.asarray(ro) * 1.0
        xp.realize(realized)
        compiled = xp.compile(lambda x: x * 1.0)(ro)
        returned = xp.compile(lambda x: x)(ro)
        buf[:] = -1.0
        for a in (pending, copied, realized, compiled, returned):
            np.testing.assert_array_equal(np.asarray(a), want)


def test_data_nobody_can_write_is_still_not_copied():
    """A read-only array that owns its data, or views only read-only arrays down to its
    owner or to bytes, is taken as it is."""
    own = np.arange(4.0)
    own.flags.writeable = False
    chain = own[1:]
    from_bytes = np.frombuffer(bytes(range(8)), dtype=np.uint8)
    for d in (own, chain, from_bytes):
        assert np.asarray(xp.asarray(d)) is d


def test_a_numpy_scalar_and_an_unpickled_array_are_lazyarrs_own_data():
    """``asarray(np.float32(3))`` makes a new 0-d array nobody else holds: it is locked like
    every array lazyarr makes (a write through ``np.asarray`` reached pending results); so
    is the array a pickle gives back."""
    import pickle

    a = xp.asarray(np.float32(3))
    y = xp.arange(4, dtype=xp.float32) * a
    b = pickle.loads(pickle.dumps(xp.asarray([1.0, 2.0])))
    for arr in (a, b):
        with pytest.raises(ValueError):
            np.asarray(arr)[...] = 100
    np.testing.assert_array_equal(np.asarray(y), [0.0, 3.0, 6.0, 9.0])
    np.testing.assert_array_equal(np.asarray(b), [1.0, 2.0])


def test_an_array_unpickled_over_a_callers_buffer_does_not_follow_its_writes():
    """Pickle protocol 5 hands the data over out of band: the unpickled array views the
    caller's buffer, which the caller can still write. It is copied, as an operand would be."""
    import pickle

    bufs = []
    s = pickle.dumps(xp.asarray([1.0, 2.0]), protocol=5, buffer_callback=bufs.append)
    raw = [bytearray(b.raw()) for b in bufs]
    b = pickle.loads(s, buffers=raw)
    raw[0][:8] = np.float64(99.0).tobytes()
    np.testing.assert_array_equal(np.asarray(b), [1.0, 2.0])


def test_a_slice_bound_read_through_index_is_read_at_each_use():
    """A bound with ``__index__`` may give another value next time: the index cache only
    keeps keys of plain ints (it answered a mutable bound's first value again)."""
    class Bound:
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v

    x = xp.asarray(np.arange(6.0))
    j = Bound(1)
    s = slice(j, 4)
    np.testing.assert_array_equal(np.asarray(x[s]), [1.0, 2.0, 3.0])
    j.v = 3
    np.testing.assert_array_equal(np.asarray(x[s]), [3.0])
    np.testing.assert_array_equal(np.asarray(x[Bound(2)]), 2.0)
    for _ in range(2):  # NumPy integers are immutable: cached like ints
        np.testing.assert_array_equal(np.asarray(x[np.int64(1):np.int32(3)]), [1.0, 2.0])
