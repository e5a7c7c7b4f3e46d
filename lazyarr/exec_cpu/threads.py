"""One setting for the number of threads: generated kernels (OpenMP) and BLAS.

The default is ``OMP_NUM_THREADS`` when set, else every core this process may run on.
BLAS libraries are limited through threadpoolctl when it is installed.
"""

from __future__ import annotations

import os

from . import _vm

_state: dict = {"n": None, "limiter": None}


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
