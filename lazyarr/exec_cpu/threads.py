"""One setting for the number of threads: generated kernels (OpenMP) and BLAS.

The default is ``OMP_NUM_THREADS`` when set, else every core this process may run on.
BLAS libraries are limited through threadpoolctl when it is installed.

OpenMP threads spin for a while after a parallel region, then sleep (``GOMP_SPINCOUNT=30000``,
a few hundred microseconds here; set at import unless the user set ``GOMP_SPINCOUNT`` or
``OMP_WAIT_POLICY``; libgomp reads it with the first kernel). Waking a sleeping thread can cost
~100 us on a virtual machine, once per region of a step; spinning without bound took the cores
from BLAS's threads. On 2 cores (fig1, A/B in one run): the 784-1000-1000-1000-10 SGD step at
minibatch 1 took 867 us with the threads sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) and
449-474 us spinning 3000 times; the 784-500-10 step at minibatch 60 took 49 ms spinning without
bound (the default 300000) on a loaded machine, 12 ms passive. 3000 spins last ~30 us: an eager
step's Python between two programs is longer (784-500-10 at minibatch 1: ~40 us), so each step
woke the threads again. Its program alone, after a busy wait of 40 / 80 / 160 us: 68 / 87 /
92 us at 3000 spins (52 us back to back); 43 / 44 / 46 us at 30000 (40 us).
"""

from __future__ import annotations

import os

#: libgomp's spins before a waiting thread sleeps (its default is 300000: milliseconds)
SPIN_COUNT = "30000"
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)

from . import _vm  # noqa: E402

_state: dict = {"n": None, "limiter": None}


def _one_thread_in_child() -> None:
    """A forked child runs lazyarr's kernels on one thread: libgomp's pool is the parent's, and
    a parallel region in the child waits for its threads forever (a 10x784 @ 784x500 product
    in a fork Pool's worker, after the parent ran one on 2 threads, never returned). BLAS
    keeps its setting (OpenBLAS rebuilds its pool after fork); `set_num_threads` in the child
    is safe only where the parent never ran a kernel on several threads."""
    _vm.set_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_one_thread_in_child)


def default_threads() -> int:
    """``OMP_NUM_THREADS`` if set (its first entry), else the cores available to this process."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_num_threads(n: int | None = None) -> int:
    """Use ``n`` threads in kernels and BLAS (``None``: the default); returns the number set."""
    if n is None:
        n = default_threads()
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _vm.set_threads(n)
    _state["n"] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return n
    _state["limiter"] = threadpool_limits(limits=n, user_api="blas")
    return n


def get_num_threads() -> int:
    """The number of threads kernels use."""
    return _vm.get_threads()


_vm.set_threads(default_threads())
