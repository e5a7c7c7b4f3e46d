"""Materialization writes back every pending value a live array holds (not only the one read),
so an eager-looking loop keeps a constant graph size and hits the trace cache."""

import gc
import weakref

import numpy as np

import lazyarr as xp


def test_reading_a_reduction_realizes_the_live_operand():
    y = xp.asarray(np.arange(4.0))
    y = y * 2.0 + 1.0
    assert y._v.owner is not None
    assert float(xp.sum(y)) == 16.0
    assert y._v.owner is None
    np.testing.assert_array_equal(y._v.data, [1.0, 3.0, 5.0, 7.0])


def test_temporaries_without_a_live_array_are_not_written_back():
    x = xp.asarray(np.ones(3))
    t = x * 3.0
    ref = weakref.ref(t._v)
    y = t + 1.0
    del t
    gc.collect()
    tv = ref()
    np.asarray(y)
    assert tv is None or tv.data is None  # computed inside the program, never stored


def test_eager_loop_compiles_once():
    xp.trace_cache.clear()
    y = xp.asarray(np.linspace(0.0, 1.0, 5))
    expected = np.linspace(0.0, 1.0, 5)
    for _ in range(100):
        y = y * 0.5 + 1.0
        expected = expected * 0.5 + 1.0
        float(xp.sum(y))
    info = xp.trace_cache_info()
    assert (info["misses"], info["hits"]) == (1, 99)
    np.testing.assert_allclose(np.asarray(y), expected)


def test_setitem_rebinds_reference_counts():
    a = xp.zeros(3)
    old = a._v
    a[0] = 1.0
    assert old.nref == 0 and a._v.nref == 1
    np.testing.assert_array_equal(np.asarray(a), [1.0, 0.0, 0.0])
