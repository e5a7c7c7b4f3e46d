"""After a product on OpenBLAS's threads its pool spins for a while; the generated elementwise
and reduce kernels then take one thread, as the product kernels do, instead of sharing the
cores with it (`_vm.set_blas_spin`)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import last_kernel_threads, openmp_threads_now, set_blas_spin

import lazyarr
import lazyarr as xp


@pytest.fixture
def two_threads():
    """2 threads and the default spin window; the defaults put back."""
    lazyarr.set_num_threads(2)
    was = set_blas_spin(0.2)
    yield
    set_blas_spin(was)
    lazyarr.set_num_threads(None)


def _threaded_product() -> None:
    """A float64 300x300 @ 300x300 product: 2.7e7 multiply-adds, on OpenBLAS's threads."""
    big = np.random.default_rng(3).standard_normal((300, 300))
    np.asarray(xp.asarray(big) @ xp.asarray(big))


X = np.random.default_rng(4).standard_normal((256, 512))  # 2^17 elements: no GIL held


def _kernels():
    """(name, lazyarr function of x, NumPy oracle): contiguous and strided elementwise
    kernels, a reduction."""
    return [
        ("contiguous", lambda x: xp.tanh(x) * 2.0 + 1.0, lambda x: np.tanh(x) * 2.0 + 1.0),
        ("strided", lambda x: xp.exp(x.T[::2]) - 1.0, lambda x: np.exp(x.T[::2]) - 1.0),
        ("reduce", lambda x: xp.sum(xp.abs(x), axis=0), lambda x: np.abs(x).sum(axis=0)),
    ]


@pytest.mark.parametrize("name,f,oracle", _kernels(), ids=[k[0] for k in _kernels()])
def test_kernels_take_one_thread_inside_the_window(two_threads, name, f, oracle):
    time.sleep(0.3)  # any window an earlier test opened is shut
    np.testing.assert_allclose(np.asarray(f(xp.asarray(X))), oracle(X), rtol=1e-12, atol=1e-14)
    assert last_kernel_threads() == 2
    _threaded_product()
    assert openmp_threads_now() == 1
    np.testing.assert_allclose(np.asarray(f(xp.asarray(X))), oracle(X), rtol=1e-12, atol=1e-14)
    assert last_kernel_threads() == 1
    time.sleep(0.3)
    np.asarray(f(xp.asarray(X)))
    assert last_kernel_threads() == 2


def test_no_window_leaves_kernels_their_threads(two_threads):
    set_blas_spin(0.0)
    _threaded_product()
    assert openmp_threads_now() == 2
    np.asarray(xp.tanh(xp.asarray(X)))
    assert last_kernel_threads() == 2
