"""exec_cpu tests compile kernels into a private cache directory (one per test session)."""

import os
import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache_dir():
    from lazyarr.exec_cpu import ccache

    old = os.environ.get("LAZYARR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="lazyarr-test-kernels-") as d:
        os.environ["LAZYARR_CACHE_DIR"] = d
        ccache.reset()
        yield d
        if old is None:
            os.environ.pop("LAZYARR_CACHE_DIR", None)
        else:
            os.environ["LAZYARR_CACHE_DIR"] = old
        ccache.reset()
