"""One setting for the number of threads: generated kernels (OpenMP) and BLAS.

The default is ``OMP_NUM_THREADS`` when set, else every core this process may run on.
BLAS libraries are limited through threadpoolctl when it is installed.

OpenMP threads sleep between parallel regions (``OMP_WAIT_POLICY=PASSIVE`` unless the user
set a policy; read when libgomp loads, i.e. with the first kernel): spinning GOMP threads
take the cores from BLAS's own threads, which run between kernels. On 2 cores, an SGD step
of the 784-500-10 MLP at minibatch 60 (BLAS + OpenMP kernels) took 3.7 ms on 1 thread and
49 ms on 2 with spinning threads, 12 ms passive (a loaded machine; NumPy 17.8 ms).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _vm  # noqa: E402

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
