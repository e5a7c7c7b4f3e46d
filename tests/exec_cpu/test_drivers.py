"""The kernels' shared drivers (``drivers.h``): built once with the package (``_drivers.pyx``)
and handed to each kernel bundle, or, where that module is missing, compiled into each bundle.
Both ways give NumPy's values for kernels that reach every driver: a strided elementwise call
(staged rows), a threaded contiguous one, a reduction over a strided view (its gathered
blocks), serial and threaded."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.exec_cpu import ccache, codegen, native
from lazyarr.exec_cpu.threads import get_num_threads, set_num_threads

pytestmark = pytest.mark.skipif(not ccache.available(), reason="no C compiler")


@pytest.fixture(params=["shared", "own copy"])
def drivers(request, tmp_path, monkeypatch):
    """A fresh kernel cache, with the package's drivers or without (as if the module had not
    been built)."""
    monkeypatch.setenv("LAZYARR_CACHE_DIR", str(tmp_path))
    ccache.reset()
    monkeypatch.setattr(ccache, "_loaded", {})
    # no program of another case or test: each case builds its kernels under its drivers
    # (the cases' constants differ, and a constant seen changing would be an argument of a
    # program already linked)
    xp.trace_cache.clear()
    if request.param == "own copy":
        monkeypatch.setitem(native._drivers, "table", None)
    elif native.shared_drivers() is None:
        pytest.skip("the drivers' module was not built (no OpenMP at build time)")
    yield request.param
    ccache.reset()


def _bundles_with_table() -> set:
    return {hasattr(lib, "la_set_drivers") for lib in ccache._loaded.values()}


@pytest.mark.parametrize("threads", [1, 2])
def test_kernels_reach_every_driver(drivers, threads):
    was = get_num_threads()
    set_num_threads(threads)
    try:
        rng = np.random.default_rng(threads)
        a = rng.standard_normal((300, 700)).astype(np.float32)
        b = rng.standard_normal((700, 300)).astype(np.float32)
        big = rng.standard_normal(1 << 18)
        tall = rng.standard_normal((2000, 700)).astype(np.float32)  # a threaded reduction
        # constants of this case only: no program of another case or test is in the trace
        # cache, so each builds its kernels under this case's drivers
        c = 0.5 + threads + (drivers == "shared") / 8
        strided = np.asarray(xp.exp(xp.asarray(a) * 0.125 + xp.asarray(b).T * c))
        contig = np.asarray(xp.sin(xp.asarray(big)) * c + 0.75)
        col_sums = np.asarray(xp.sum(xp.asarray(tall).T * c - 1.0, axis=0))
    finally:
        set_num_threads(was)
    np.testing.assert_allclose(strided, np.exp(a * 0.125 + b.T * c), rtol=1e-5)
    np.testing.assert_allclose(contig, np.sin(big) * c + 0.75, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(col_sums, (tall.T * c - 1.0).sum(axis=0), rtol=1e-4, atol=1e-2)
    assert _bundles_with_table() == {drivers == "shared"}


def test_the_two_preludes_are_distinct_kernels():
    """A bundle built one way is never loaded the other way: the preludes (part of each
    kernel's cache key) differ."""
    assert codegen.prelude(True, True) != codegen.prelude(True, False)
    assert "la_set_drivers" in codegen.prelude(True, True)
    assert "LA_DRIVERS_IMPL" in codegen.prelude(True, False)
