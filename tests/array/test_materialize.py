"""Materialization: its triggers, laziness (nothing runs before a value is read, and only what
is asked runs), write-back (realized arrays become leaves and free the graph above them), the
trace cache (one compilation for an eager loop, bounded LRU), the automatic realization of long
chains, and read-only results."""

from __future__ import annotations

import gc
import operator
import weakref
from collections import OrderedDict

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import materialize as M
from lazyarr.array.coerce import as_var, build
from lazyarr.graph import Op, pipeline
from lazyarr.graph.scalar_families import LIFT_AFTER

from .la_helpers import check


class CountingOp(Op):
    """``x + step``, counting how often it really runs."""

    runs: list = []

    def __init__(self, step: float):
        self.step = step

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        CountingOp.runs.append(self.step)
        return x + np.asarray(self.step, x.dtype)


def _count(x, step=1.0):
    return build(CountingOp(step), as_var(x))


@pytest.fixture(autouse=True)
def _reset_runs():
    CountingOp.runs.clear()
    yield
    CountingOp.runs.clear()


@pytest.fixture
def compiles(monkeypatch):
    """Counts programs built by the pipeline (one per trace-cache miss)."""
    n = [0]
    real = pipeline._compiler

    def counting(fg):
        n[0] += 1
        return real(fg)

    monkeypatch.setattr(pipeline, "_compiler", counting)
    return n


# ---- triggers -------------------------------------------------------------------------------

def test_array_protocol():
    x = np.arange(6.0).reshape(2, 3)
    a = xp.asarray(x) * 2
    got = np.asarray(a)
    np.testing.assert_array_equal(got, x * 2)
    assert np.asarray(a, dtype=np.float32).dtype == np.float32
    c = np.array(a, copy=True)
    c[0, 0] = -1.0      # a copy is writeable and independent
    assert float(a[0, 0]) == 0.0


def test_python_scalar_conversions():
    a = xp.asarray(np.array([2.5, -1.0]))
    assert float(xp.sum(a)) == 1.5 and isinstance(float(xp.sum(a)), float)
    assert int(xp.asarray(7) * 3) == 21
    assert bool(xp.asarray(0.0) + 1.0) is True and bool(xp.asarray(0) * 5) is False
    assert complex(xp.asarray(1j) * 2) == 2j
    i = xp.asarray(2) + 1
    assert operator.index(i) == 3
    assert [10, 20, 30, 40][i] == 40
    assert list(range(xp.asarray(3)))[-1] == 2
    with pytest.raises(TypeError):
        operator.index(xp.asarray(2.0))
    with pytest.raises(TypeError):
        float(xp.asarray([1.0, 2.0]))
    with pytest.raises(TypeError):
        len(xp.asarray(1.0))
    assert len(xp.asarray(np.zeros((4, 2)))) == 4


@pytest.mark.parametrize("x", [
    np.arange(5.0) / 3, np.array([[1, 2], [3, 4]], np.int8), np.array(True),
    np.array([1 + 2j, np.nan]), np.zeros((0, 3), np.float32), np.array(np.inf),
    np.arange(2000.0),  # summarized like NumPy's
])
def test_repr_and_str_match_numpy(x):
    a = xp.asarray(x) + 0 if x.dtype != np.bool_ else xp.asarray(x) & True
    assert str(a) == str(x)
    r = repr(a)
    assert r.startswith("Array(")
    assert r == "Array" + np.array_repr(x)[len("array"):]
    if x.ndim == 0 and x.dtype.kind == "f":
        assert f"{a:.3}" == f"{x[()]:.3}"


def test_dlpack():
    x = np.arange(6.0).reshape(3, 2)
    a = xp.asarray(x) + 1
    y = np.from_dlpack(a)
    np.testing.assert_array_equal(y, x + 1)
    assert a.__dlpack_device__() == (1, 0)
    assert a.device == "cpu" and a.to_device("cpu") is a


def test_dlpack_for_a_consumer_of_the_old_protocol():
    """__dlpack__() without max_version (DLPack 0.x, which cannot mark memory read-only)
    raised BufferError on every computed value: it exports a copy, and the value is
    unchanged; copy=False still refuses, as the standard asks."""
    a = xp.asarray(np.arange(3.0)) * 2
    cap = a.__dlpack__()
    assert type(cap).__name__ == "PyCapsule"
    with pytest.raises(BufferError):
        a.__dlpack__(copy=False)
    with pytest.raises(BufferError):
        a.__dlpack__(max_version=(0, 8), copy=False)
    check(a, [0.0, 2.0, 4.0])


def test_a_write_through_dlpack_leaves_other_arrays_alone():
    """torch ignores the read-only flag of a versioned DLPack capsule. A write into the
    export of zeros((2, 2)) changed every later zeros((2, 2)): its value is a folded constant
    that the program hands out on every call. Data lazyarr shares (a program's constant, a
    shared scalar constant, a view of another array's buffer) is exported as a private copy:
    no export shares memory with what another array reads (NumPy's import tells), and where
    torch is installed a write through its import changes nothing else."""
    base = xp.asarray(np.arange(4.0)) * 2
    makers = [lambda: xp.zeros((2, 2)), lambda: xp.ones(3, dtype=xp.float32),
              lambda: xp.eye(2), lambda: xp.zeros(()),
              lambda: xp.reshape(base, (2, 2)), lambda: base[1:]]
    for make in makers:
        exported = np.from_dlpack(make())
        assert not np.shares_memory(exported, np.asarray(make()))
        assert not np.shares_memory(exported, np.asarray(base))
    try:
        import torch
    except ImportError:
        return
    for make in makers:
        expected = np.asarray(make()).copy()
        t = torch.from_dlpack(make())
        t[(0,) * t.ndim] = 42.0
        check(make(), expected)
        check(xp.asarray(np.arange(4.0)) * 2, np.arange(4.0) * 2)
    check(base, np.arange(4.0) * 2)


def test_a_write_through_dlpack_leaves_an_array_sharing_the_buffer_alone():
    """``x + 0`` on an integer array is rewritten to ``x``: its result was ``x``'s own buffer,
    exported without a copy, so a write through torch's import of ``y`` changed ``x``
    (``[0, 3, 6]`` became ``[99, 3, 6]``). So did ``x``'s export once ``y`` held its buffer,
    and a compiled ``a + 0`` or two equal results of one program. Every array whose buffer
    another live array holds is exported as a copy."""

    def realized(x):
        np.asarray(x)
        return x

    def pairs():
        """``(x, y, their value)``"""
        x = realized(xp.asarray(np.arange(5)) * 3)  # realized before, then handed back
        yield x, x + 0, np.arange(5) * 3
        x = xp.asarray(np.arange(5)) * 3  # both realized by one program
        yield x, x + 0, np.arange(5) * 3
        x = realized(xp.asarray(np.arange(5)) * 3)
        yield x, xp.compile(lambda a: a + 0)(x), np.arange(5) * 3
        yield *xp.compile(lambda a: (a * 2, a * 2 + 0))(x), np.arange(5) * 6

    for x, y, value in pairs():
        for a, b in ((y, x), (x, y)):
            exported = np.from_dlpack(a)
            assert not np.shares_memory(exported, np.asarray(b))
            np.testing.assert_array_equal(exported, value)
            assert not np.shares_memory(np.from_dlpack(a, copy=True), np.asarray(b))
            assert not np.from_dlpack(a, copy=False).flags.writeable  # asked for: no copy
    try:
        import torch
    except ImportError:
        return
    for x, y, value in pairs():
        for a in (y, x):
            torch.from_dlpack(a)[0] = 99
        check(x, value)
        check(y, value)


def test_dlpack_exports_a_computed_result_without_a_copy():
    """An array's own computed buffer is exported as it is (read-only flagged)."""
    a = xp.asarray(np.arange(3.0)) * 2
    exported = np.from_dlpack(a)
    assert np.shares_memory(exported, np.asarray(a)) and not exported.flags.writeable


def test_iteration():
    x = np.arange(6).reshape(3, 2)
    a = xp.asarray(x) * 2
    rows = list(a)
    assert len(rows) == 3
    for r, e in zip(rows, x * 2):
        check(r, e)
    assert [int(v) for v in xp.asarray([5, 6, 7])] == [5, 6, 7]
    with pytest.raises(TypeError):
        iter(xp.asarray(1.0)).__next__()


def test_iteration_yields_views_that_gradients_and_writes_go_through():
    """Rows are ``x[i]``: a write to one reaches ``x`` (NumPy's rows are views), the symbolic
    gradient of a cost built from them reaches ``x`` (rows copied out gave zeros), and a
    traced array iterates (it raised ConcretizationError)."""
    x = np.arange(6.0).reshape(3, 2)

    def f(a):
        return sum(xp.sum(r * r) for r in a)

    np.testing.assert_array_equal(np.asarray(xp.grad(f)(xp.asarray(x))), 2 * x)
    a = xp.asarray(x)
    np.testing.assert_array_equal(np.asarray(xp.gradient(f(a), a)), 2 * x)
    for r in a:
        r[0] = 100.0
    want = x.copy()
    for r in want:
        r[0] = 100.0
    np.testing.assert_array_equal(np.asarray(a), want)
    m = xp.asarray(np.arange(5.0))
    picked = m[m > 1.5]  # a length only the run knows
    assert [float(v) for v in picked] == [2.0, 3.0, 4.0]


def test_iter_of_a_0d_array_raises_at_once_as_numpy():
    """iter() itself raises, not the first next(): np.iterable (and scipy.differentiate,
    which wraps non-iterable ``args`` in a tuple with it) tells a 0-d array from a sequence."""
    with pytest.raises(TypeError):
        iter(xp.asarray(1.0))
    assert np.iterable(xp.asarray(1.0)) == np.iterable(np.asarray(1.0)) is False
    assert np.iterable(xp.asarray([1.0])) is True


def test_realize_several_arrays_in_one_program(compiles):
    x = xp.asarray(np.arange(4.0))
    shared = _count(x, 1.0)          # used by both results: computed once
    a = _count(shared, 2.0)
    b = _count(shared, 3.0)
    assert CountingOp.runs == []
    out = xp.realize(a, b)
    assert out == (a, b)
    assert sorted(CountingOp.runs) == [1.0, 2.0, 3.0]
    assert compiles[0] == 1
    assert a._v.owner is None and b._v.owner is None
    check(a, np.arange(4.0) + 3)
    check(b, np.arange(4.0) + 4)
    assert len(CountingOp.runs) == 3  # reading them later runs nothing more


# ---- laziness -------------------------------------------------------------------------------

def test_nothing_runs_before_a_value_is_read():
    x = xp.asarray(np.ones(3))
    y = x
    for i in range(10):
        y = _count(y, float(i))
    z = y * 2 + xp.sum(y)
    assert CountingOp.runs == []
    assert z.shape == (3,) and z.dtype == np.float64   # metadata needs no computation
    assert CountingOp.runs == []
    check(z, (np.ones(3) + 45) * 2 + 3 * 46)
    assert CountingOp.runs == [float(i) for i in range(10)]


def test_only_what_is_asked_runs():
    x = xp.asarray(np.zeros(2))
    left = _count(_count(x, 1.0), 2.0)
    right = _count(x, 5.0)           # pending, but not needed for `left`
    check(left, np.full(2, 3.0))
    assert sorted(CountingOp.runs) == [1.0, 2.0]
    assert right._v.owner is not None
    check(right, np.full(2, 5.0))
    assert sorted(CountingOp.runs) == [1.0, 2.0, 5.0]


def test_reference_vm_counts_only_needed_nodes():
    from lazyarr.exec_cpu import ReferenceProgram, reference_vm
    from lazyarr.graph import FunctionGraph, cut

    x = xp.asarray(np.arange(3.0))
    a = xp.exp(x) + 1
    b = xp.sin(x) * 3     # in the same graph, not asked
    leaves, steps, refs, _ = cut([a._v, b._v])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    fg.outputs = fg.outputs[:1]
    before = reference_vm.counters["nodes_run"]
    args = [leaf.data for leaf in leaves if not M._is_baked(leaf)]  # baked: not inputs
    (out,) = ReferenceProgram(fg)(args)
    assert reference_vm.counters["nodes_run"] - before == 2
    np.testing.assert_allclose(out, np.exp(np.arange(3.0)) + 1)


# ---- write-back -----------------------------------------------------------------------------

def test_realized_arrays_become_leaves_and_free_their_graph():
    x = xp.asarray(np.arange(3.0))
    t = x * 3.0
    ref_t = weakref.ref(t._v)
    y = xp.exp(t) - 1.0
    del t
    gc.collect()
    assert ref_t() is not None        # still part of y's pending graph
    np.asarray(y)
    assert y._v.owner is None and y._v.data is not None
    gc.collect()
    assert ref_t() is None            # the graph above y is gone
    check(y, np.exp(np.arange(3.0) * 3) - 1)


def test_graphs_sharing_a_realized_value_see_it():
    x = xp.asarray(np.arange(3.0))
    t = _count(x, 1.0)
    u = t * 2                          # built on t before t is realized
    check(t, np.arange(3.0) + 1)
    assert CountingOp.runs == [1.0]
    check(u, (np.arange(3.0) + 1) * 2)
    assert CountingOp.runs == [1.0]    # t was a leaf by then: not recomputed


def test_results_are_read_only_and_user_data_is_not_locked():
    user = np.arange(4.0)
    a = xp.asarray(user)
    r = np.asarray(a * 2)
    assert not r.flags.writeable
    with pytest.raises(ValueError):
        r[0] = 1.0
    # ops whose NumPy reference returns its input (real() of a real array, a view) must not
    # lock the user's array
    for f in (xp.real, lambda v: xp.reshape(v, (2, 2)), lambda v: v[...], xp.conj):
        np.asarray(f(a))
        assert user.flags.writeable
    user[0] = 5.0
    check(a, user)


# ---- trace cache ----------------------------------------------------------------------------

def test_eager_loop_compiles_once_and_hits_99_times(compiles):
    xp.trace_cache.clear()
    w = xp.asarray(np.linspace(-1.0, 1.0, 7))
    x = xp.asarray(np.ones(7))
    ref = np.ones(7)
    wn = np.linspace(-1.0, 1.0, 7)
    for _ in range(100):
        x = xp.tanh(x * 0.5 + w) - 0.25 * x
        ref = np.tanh(ref * 0.5 + wn) - 0.25 * ref
        s = float(xp.sum(x * x))
        np.testing.assert_allclose(s, np.sum(ref * ref), rtol=1e-12)
    info = xp.trace_cache_info()
    assert (info["misses"], info["hits"]) == (1, 99)
    assert compiles[0] == 1
    check(x, ref)


def test_different_structures_or_types_miss():
    xp.trace_cache.clear()
    a = xp.asarray(np.ones(3))
    float(xp.sum(a + 1.0))
    float(xp.sum(xp.asarray(np.ones(3)) + 1.0))      # same structure: hit
    float(xp.sum(xp.asarray(np.ones(4)) + 1.0))      # other shape
    float(xp.sum(xp.asarray(np.ones(3, np.float32)) + 1.0))   # other dtype
    float(xp.sum(xp.asarray(np.ones(3)) + 2.0))      # other small constant
    float(xp.sum(xp.asarray(np.ones(3)) - 1.0))      # other op
    info = xp.trace_cache_info()
    assert (info["hits"], info["misses"]) == (1, 5)
    assert info["size"] == 5


def test_trace_cache_is_a_bounded_lru():
    c = M.TraceCache(maxsize=3)
    for k in "abc":
        c.put(k, k.upper())
    assert c.get("a") == "A"          # a is now the most recent
    c.put("d", "D")                   # evicts b, the least recently used
    assert len(c) == 3
    assert c.get("b") is None and c.get("c") == "C" and c.get("d") == "D"
    assert c.info() == {"hits": 3, "misses": 1, "size": 3, "maxsize": 3}
    c.clear()
    assert c.info() == {"hits": 0, "misses": 0, "size": 0, "maxsize": 3}


def test_global_trace_cache_evicts(monkeypatch):
    monkeypatch.setattr(xp.trace_cache, "maxsize", 4)
    xp.trace_cache.clear()
    for n in range(1, 11):            # ten structures (ten shapes)
        float(xp.sum(xp.asarray(np.ones(n)) * 2.0))
    assert xp.trace_cache_info()["size"] == 4
    float(xp.sum(xp.asarray(np.ones(10)) * 2.0))    # recent: still cached
    float(xp.sum(xp.asarray(np.ones(1)) * 2.0))     # evicted long ago
    info = xp.trace_cache_info()
    assert (info["hits"], info["misses"]) == (1, 11)
    xp.trace_cache.clear()


def test_recently_used_keys_count_and_evict_as_plain_lookups(monkeypatch):
    """A realization compares its key words with the last few keys before a dict lookup:
    values, hit/miss counts and the least-recently-used eviction stay those of an LRU map."""
    monkeypatch.setattr(xp.trace_cache, "maxsize", 5)
    xp.trace_cache.clear()
    model: OrderedDict = OrderedDict()
    hits = misses = 0
    for n in [1, 2, 1, 3, 4, 5, 1, 6, 2, 7, 1, 1, 3, 2, 6, 5, 4, 7, 7, 1, 2, 8, 2, 1]:
        x = np.arange(n, dtype=np.float64)
        assert float(xp.sum(xp.asarray(x) * 2.0)) == float(np.sum(x * 2.0))
        if n in model:
            hits += 1
            model.move_to_end(n)
        else:
            misses += 1
            model[n] = True
            if len(model) > 5:
                model.popitem(last=False)
    info = xp.trace_cache_info()
    assert (info["hits"], info["misses"], info["size"]) == (hits, misses, len(model))
    xp.trace_cache.clear()


def test_a_long_pending_chain_is_realized_on_its_own():
    x = xp.asarray(np.zeros(2))
    y = x
    for _ in range(1500):            # never read inside the loop
        y = y + 1.0
        assert y._v.depth <= M.MAX_PENDING_DEPTH + 1
    check(y, np.full(2, 1500.0))


def _bounded_chain(n=30):
    """``n`` pending additions to zeros, asserting each stays under a bound of 8."""
    z = xp.asarray(np.zeros(3))
    for _ in range(n):
        z = z + 1.0
        assert z._v.depth <= 9
    return z


def _in_thread(target):
    """Run ``target`` in a new thread; the returned ``join`` re-raises its error."""
    import threading

    errors = []

    def run():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()

    def join():
        t.join(30)
        assert not t.is_alive()
        if errors:
            raise errors[0]

    return join


def test_another_threads_transform_does_not_lift_this_threads_bound(monkeypatch):
    """The pending-depth bound is lifted per thread: while another thread is inside ``grad``,
    this thread's chains are still realized past the bound (else they grew without bound)."""
    import threading

    from lazyarr.array import coerce

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    inside, release = threading.Event(), threading.Event()
    got = {}

    def f(w):
        for _ in range(30):
            w = xp.sin(w) * 1.01
        inside.set()
        assert release.wait(10)
        return xp.sum(w)

    x0 = np.array([0.2, -0.7, 1.1])
    join = _in_thread(lambda: got.setdefault("g", np.asarray(xp.grad(f)(xp.asarray(x0)))))
    try:
        assert inside.wait(10)
        np.testing.assert_array_equal(np.asarray(_bounded_chain()), np.full(3, 30.0))
    finally:
        release.set()
        join()
    w, d = x0, np.ones(3)
    for _ in range(30):
        w, d = np.sin(w) * 1.01, d * np.cos(w) * 1.01
    np.testing.assert_allclose(got["g"], d, rtol=1e-12)


def test_transforms_interleaved_between_threads_keep_each_threads_bound(monkeypatch):
    """This thread enters ``deep_graphs``, another enters, this one leaves: the other stays
    lifted (a chain inside it is not realized) and, once it left too, both are bounded."""
    import threading

    from lazyarr.array import coerce
    from lazyarr.diff.engine import deep_graphs

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    other_in, this_out = threading.Event(), threading.Event()
    got = {}

    def other():
        with deep_graphs():
            other_in.set()
            assert this_out.wait(10)
            z = xp.asarray(np.zeros(3))
            for _ in range(30):
                z = z + 1.0
            got["depth"], got["value"] = z._v.depth, np.asarray(z)
        got["after"] = np.asarray(_bounded_chain())

    with deep_graphs():
        join = _in_thread(other)
        assert other_in.wait(10)
    try:
        np.testing.assert_array_equal(np.asarray(_bounded_chain()), np.full(3, 30.0))
    finally:
        this_out.set()
        join()
    assert got["depth"] == 30  # nothing realized on its own inside the other's transform
    np.testing.assert_array_equal(got["value"], np.full(3, 30.0))
    np.testing.assert_array_equal(got["after"], np.full(3, 30.0))
    np.testing.assert_array_equal(np.asarray(_bounded_chain()), np.full(3, 30.0))


def test_a_symbolic_input_has_no_value():
    from lazyarr.array.coerce import wrap
    from lazyarr.graph import Var

    a = wrap(Var.input(np.float64, (2,), name="t"))
    b = a * 2
    assert b.shape == (2,)
    with pytest.raises(xp.ConcretizationError, match="traced input"):
        float(xp.sum(b))
    with pytest.raises(TypeError):   # a ConcretizationError is a TypeError
        np.asarray(b)


def test_programs_run_with_warnings_off_and_restore_the_callers_state(monkeypatch):
    """NumPy implementations inside a program raise no warning or error (IEEE results, as the
    standard asks), and the caller's floating-point state is back after each run."""
    import warnings

    from lazyarr import exec_cpu
    from lazyarr.graph import pipeline
    from lazyarr.rewrites.db import rewrite

    def numpy_kernels(fg):
        rewrite(fg)
        return exec_cpu.link(fg, native_kernels=False)

    monkeypatch.setattr(pipeline, "_compiler", numpy_kernels)
    xp.trace_cache.clear()
    xn = np.array([0.0, 1.0, -1.0])
    x = xp.asarray(xn)
    with np.errstate(all="ignore"):
        want = np.log(xn) / xn
    try:
        with np.errstate(all="raise"), warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(2):  # a miss, then a hit
                got = np.asarray(xp.log(x) / x)
                assert np.geterr()["divide"] == "raise"
                np.testing.assert_array_equal(got, want)
    finally:
        xp.trace_cache.clear()


def test_a_realization_keeps_no_reference_to_its_graph_or_leaves():
    """The walk kept for the next realization is emptied: once the user drops the arrays,
    the leaf and the realized variable are freed at once (no collection needed)."""
    x = xp.asarray(np.linspace(0.0, 1.0, 5))
    y = xp.sin(x) * 2.0
    np.testing.assert_allclose(np.asarray(y), np.sin(np.linspace(0.0, 1.0, 5)) * 2.0)
    refs = [weakref.ref(x._v), weakref.ref(y._v)]
    M.prune_live()  # the live registry may still list y's variable (other tests' arrays)
    gc.disable()
    try:
        del x, y
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()


def test_a_leaf_freed_by_a_realization_may_run_another_from_a_weakref_callback():
    """Releasing a realized cut frees its dead leaves; code that runs then (a weakref callback
    that realizes another graph) sees consistent registries and gets right values."""
    got = []
    x = xp.asarray(np.linspace(0.0, 1.0, 4))
    ref = weakref.ref(x._v, lambda _r: got.append(float(xp.sum(xp.asarray(np.ones(2)) * 3.0))))
    y = xp.sin(x) * 2.0
    del x                              # its Var is held by y's pending graph only
    np.testing.assert_allclose(np.asarray(y), np.sin(np.linspace(0.0, 1.0, 4)) * 2.0)
    assert ref() is None and got == [6.0]
    z = xp.cos(y) + 1.0                # the registries still work afterwards
    np.testing.assert_allclose(np.asarray(z), np.cos(np.asarray(y)) + 1.0)


def test_a_changing_scalar_given_as_a_0d_array_reuses_one_program():
    """The README's advice for learning-rate schedules: a Python float is baked into the
    program (a new value, a new program), a 0-d array of the operand's dtype is an argument
    (one program for every value), and the values are right either way."""
    from lazyarr.array import materialize

    w0 = np.linspace(0.0, 1.0, 7, dtype=np.float32)
    g = xp.asarray(np.full(7, 0.5, np.float32))
    w = xp.asarray(w0)
    want = w0.copy()
    misses = materialize.trace_cache.misses
    for i in range(5):
        lr = 0.1 / (1 + i)
        w = w - xp.asarray(lr, dtype=w.dtype) * g
        want = want - np.float32(lr) * np.float32(0.5)
        np.testing.assert_allclose(np.asarray(w), want, rtol=1e-6)
    assert w.dtype == xp.float32
    assert materialize.trace_cache.misses - misses <= 1  # (0 if an earlier test built it)


def _count_compiles(monkeypatch) -> list:
    """The graphs compiled from now on (appended as they are)."""
    built = []
    real = M.pipeline.compile_fgraph
    monkeypatch.setattr(M.pipeline, "compile_fgraph",
                        lambda fg: built.append(fg) or real(fg))
    return built


def test_a_python_float_that_changes_every_step_stops_compiling_new_programs(monkeypatch):
    """A learning-rate schedule written with Python floats: the first few values are baked
    into their own programs, then the constant that keeps changing becomes an argument of one
    program for every later value (the other constants stay baked); the values are NumPy's."""
    built = _count_compiles(monkeypatch)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(9)
    g0 = rng.standard_normal(9)
    w, g = xp.asarray(w0), xp.asarray(g0)
    want = w0.copy()
    info0 = xp.trace_cache_info()
    for i in range(40):
        lr = 0.1 / (1 + i)
        w = (w - lr * g) * 0.999
        want = (want - lr * g0) * 0.999
        np.testing.assert_allclose(np.asarray(w), want, rtol=1e-13)
    assert len(built) == LIFT_AFTER
    lifted = built[-1]
    assert len(lifted.inputs) == 3  # w, g and the learning rate; 0.999 stays baked
    # a step the lifted program serves is a hit: misses count what was compiled
    info = xp.trace_cache_info()
    assert info["misses"] - info0["misses"] == LIFT_AFTER
    assert info["hits"] - info0["hits"] == 40 - LIFT_AFTER
    # the realization finds the lifted program itself (its walk recorded where the
    # constants sit): no call into `_prepare`, which would cut the graph again
    cuts = []
    real_cut = M.cut_scalars
    monkeypatch.setattr(M, "cut_scalars", lambda *a: cuts.append(a) or real_cut(*a))
    for i in range(40, 50):
        w = (w - 0.1 / (1 + i) * g) * 0.999
        want = (want - 0.1 / (1 + i) * g0) * 0.999
        np.testing.assert_allclose(np.asarray(w), want, rtol=1e-13)
    assert not cuts and len(built) == LIFT_AFTER


def test_a_lifted_program_is_left_when_another_constant_starts_changing(monkeypatch):
    """Once a second constant of the same structure varies too, it is lifted as well (one
    more program), and every value stays right."""
    built = _count_compiles(monkeypatch)
    x0 = np.linspace(-1.0, 1.0, 5)
    x = xp.asarray(x0)
    for i in range(12):
        a = 1.0 + i
        b = 0.5 if i < 6 else 0.5 + i
        np.testing.assert_allclose(np.asarray(x * a + b), x0 * a + b, rtol=1e-15)
    assert len(built) == LIFT_AFTER + 1
    assert len(built[-1].inputs) == 3


def test_constants_that_only_alternate_between_few_values_stay_baked(monkeypatch):
    """Two values taken in turn are two baked programs, each found again in the cache."""
    built = _count_compiles(monkeypatch)
    x = xp.asarray(np.arange(4.0))
    for i in range(10):
        c = (2.0, 3.0)[i % 2]
        np.testing.assert_array_equal(np.asarray(x * c), np.arange(4.0) * c)
    assert len(built) == 2
    assert all(len(fg.inputs) == 1 for fg in built)


def _inputs_alive_after(n: int, step) -> int:
    """How many of ``n`` fresh 1,000-element inputs, each given to ``step`` (which drops all
    it builds), are still alive afterwards, with the cyclic collector off throughout."""
    inputs = []
    was = gc.isenabled()
    gc.disable()
    try:
        for i in range(n):
            big = np.full(1000, float(i))
            inputs.append(weakref.ref(big))
            step(big)
            del big
        return sum(r() is not None for r in inputs)
    finally:
        if was:
            gc.enable()


def test_graphs_dropped_unread_free_their_inputs_without_a_collection():
    """``xp.asarray(big) * 2 + 1`` built and dropped every step, never read: the live
    registry kept every such graph (and its input buffer) until a realization or 16 Ki of
    them, and then the collector had to find the Var/Apply cycles. Now a few dozen drops
    prune the registry, and the graphs nothing else holds are freed by reference counts."""
    from lazyarr.array import _front

    def step(big):
        _ = xp.asarray(big) * 2.0 + 1.0

    alive = _inputs_alive_after(400, step)
    assert alive <= 2 * _front.DROPPED_PRUNE_AT, alive
    kept = xp.asarray(np.ones(3)) * 2.0   # a graph still held survives the pruning
    for i in range(300):
        _ = xp.asarray(np.ones(3)) * float(i)
    np.testing.assert_array_equal(np.asarray(kept), np.full(3, 2.0))


def test_a_realization_frees_the_graphs_dropped_unread_before_it():
    """A graph built over a big input and dropped unread, then an unrelated realization:
    the realization took the dropped array off the live registry without freeing its graph,
    so the input waited for the collector (a tester saw +2 GB of RSS with 50 MB a step). It
    is freed by reference counts now, at the realization."""
    s = xp.asarray(np.arange(10.0))

    def step(big):
        b = xp.asarray(big) + 1.0
        del b
        assert float(xp.sum(s)) == 45.0

    alive = _inputs_alive_after(20, step)
    assert alive == 0, alive
    kept = xp.asarray(np.ones(3)) * 2.0   # a graph still held is not freed by it
    assert float(xp.sum(s)) == 45.0
    np.testing.assert_array_equal(np.asarray(kept), np.full(3, 2.0))


def test_freeing_a_dropped_graph_walks_only_what_it_alone_reads():
    """A value dropped unread every step reads the step's new parameter, a pending chain the
    user's array extends: freeing it walked that whole chain each time (quadratic in the
    chain's depth: an eager loop that never read a value ran 6-14x slower than one reading
    every step). Only the applies the dropped graph alone reads are walked; a diamond among
    them is walked too, so its input is freed at once."""
    from lazyarr.array.materialize import prune_live, unread_nodes

    w = xp.asarray(np.ones(3))
    for _ in range(50):
        w = w * 0.5 + 1.0           # a chain of 100 applies the user's array extends
    dropped = xp.exp(w) * 2.0       # reads the chain's end, then is dropped unread
    prune_live()                    # as `release_dropped` does first: unlists exp(w)
    nodes = unread_nodes([dropped._v])
    assert len(nodes) == 2          # exp and the product, not the chain below them
    a = xp.asarray(np.ones(3)) + 1.0
    diamond = (a * 2.0) + (a * 3.0)
    del a
    prune_live()
    assert len(unread_nodes([diamond._v])) == 4  # the sum, both products and a's addition
    np.testing.assert_allclose(np.asarray(w), np.full(3, 2.0 - 2.0 ** -50), rtol=1e-15)


def test_a_realization_waits_for_another_threads_realization():
    """Realizations are serialized: while one thread's trace-cache miss builds the program of
    ``q`` (its cut walked twice, for the key and for the program), another thread that reads
    ``p``, under ``q``, waits; it would otherwise make ``p`` a leaf between the two walks, and
    the program built would not be the key's."""
    import threading

    base = np.linspace(0.1, 1.0, 8)
    p = xp.sin(xp.asarray(base)) * 3.0 + 1.0
    q = xp.concat([p[:3], p[3:]]) * 2.0
    other_started, other_done = threading.Event(), threading.Event()
    results = {}

    def read_p():
        other_started.set()
        results["p"] = np.asarray(p)
        other_done.set()

    prepare = M._prepare

    def interleaved(*args, **kwargs):
        if not other_started.is_set():  # this thread's miss: the other one reads p now
            threading.Thread(target=read_p).start()
            other_started.wait(5)
            other_done.wait(0.3)  # without the lock, the other thread finishes here
        return prepare(*args, **kwargs)

    M.bind_realize(M.trace_cache, interleaved, M._raise_symbolic)
    try:
        xp.trace_cache.clear()
        got_q = np.asarray(q)
    finally:
        M.bind_realize(M.trace_cache, prepare, M._raise_symbolic)
    assert other_done.wait(5)
    np.testing.assert_allclose(got_q, (np.sin(base) * 3.0 + 1.0) * 2.0, rtol=1e-12)
    np.testing.assert_allclose(results["p"], np.sin(base) * 3.0 + 1.0, rtol=1e-12)


def test_a_forked_child_realizes_while_a_thread_of_the_parent_was_realizing(tmp_path):
    """The realization lock held by a thread at ``fork()`` is not held in the child (which has
    no such thread): its first realization does not wait forever."""
    import subprocess
    import sys

    script = tmp_path / "fork_child.py"
    script.write_text(
        "import os, threading, numpy as np, lazyarr as xp\n"
        "from lazyarr.array import materialize as M\n"
        "inside, done = threading.Event(), threading.Event()\n"
        "prepare = M._prepare\n"
        "def slow(*a, **k):\n"
        "    inside.set(); done.wait(10); return prepare(*a, **k)\n"
        "M.bind_realize(M.trace_cache, slow, M._raise_symbolic)\n"
        "p = xp.sin(xp.asarray(np.arange(3.0))) * 7.0\n"
        "t = threading.Thread(target=lambda: np.asarray(p)); t.start(); inside.wait(10)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    M.bind_realize(M.trace_cache, prepare, M._raise_symbolic)\n"
        "    import signal; signal.alarm(20)\n"
        "    print('child', float(xp.sum(xp.asarray(np.arange(4.0)) + 1.0)), flush=True)\n"
        "    os._exit(0)\n"
        "done.set(); t.join()\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('status', status)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert "child 10.0" in out.stdout, out.stdout + out.stderr
    assert "status 0" in out.stdout, out.stdout + out.stderr


def test_held_arrays_of_a_failed_realization_stay_listed():
    """When every held pending array is among those asked, the registry is emptied before the
    run; if the run fails, the held ones still pending are listed again (a later realization
    whose program they meet computes them with it)."""
    from lazyarr.rewrites.config import config

    x = xp.asarray(np.array([1000.0, 2.0]))
    t = xp.exp(x)
    h = t + 1.0
    mode = config.mode
    config.mode = "nan_guard"
    try:
        with pytest.raises(FloatingPointError):
            xp.realize(t, h)
    finally:
        config.mode = mode
    assert h._v.owner is not None
    assert sum(v is h._v for v in M.live_pending) == 1
    assert sum(v is t._v for v in M.live_pending) == 1
    np.testing.assert_allclose(np.asarray(h)[1], np.exp(2.0) + 1.0)


def test_an_array_freed_by_the_cyclic_collector_gives_back_its_variable():
    """An array in a reference cycle is freed by the collector, which used to clear its
    ``_v`` before ``__dealloc__`` read it: the variable stayed counted as held by an array
    (``nref``), so its pending graph stayed listed forever, and eager realizations spent
    their search for live arrays on it (after a first gradient through nested conds, whose
    rules leave such cycles, an SGD step lost its one-node form)."""
    x = xp.asarray(np.ones(3))
    gc.collect()
    for _ in range(3):
        y = x * 2.0
        v = y._v
        cycle = [y]
        cycle.append(cycle)
        del y, cycle
        gc.collect()
        assert v.nref == 0
        assert all(u is not v for u in M.prune_live())


def test_a_realized_array_is_unlisted_at_once_so_its_buffer_goes_with_it():
    """``X = asarray(big) + 0; float(sum(X))`` realizes the held ``X`` with the sum; once its
    arrays are dropped its 8 MB buffer is freed (it stayed in the live registry, as a leaf,
    until the next realization)."""
    X = xp.asarray(np.zeros(1_000_000)) + 0
    s = xp.sum(X)
    assert float(s) == 0.0
    data = weakref.ref(X._v.data)
    assert all(v.owner is not None for v in M.live_pending)  # leaves are unlisted
    del X, s
    gc.collect()
    assert data() is None
