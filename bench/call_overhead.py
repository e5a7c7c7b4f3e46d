"""Per-call overhead of `lazyarr.compile` (issue 7): ``x + 1`` on 10 float64 values.

Rows, timed interleaved in one process (best of several rounds, 1 thread): NumPy's ``x + 1``;
lazyarr's bare linked program (``.program(x).vm``), a normal compiled call, a ``trust_input``
call; PyTensor's compiled function (C VM linker) with ``trust_input`` and its bare ``f.vm()``
and JAX's jit (result blocked on) when installed. The ``x + s`` rows pass a new Python float
``s`` on every call (a learning-rate schedule): NumPy, ``lazyarr.compile`` (from the third
value the call runs as eager code) and JAX's jit (a weakly typed traced scalar); the counter
that makes the floats costs the same in each.

    python -m bench.call_overhead [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import numpy as np

from bench.report import bar_chart, bench_env, save_json, table

bench_env()

import lazyarr as xp  # noqa: E402


def _lazyarr_rows(x: np.ndarray) -> dict[str, Callable[[], object]]:
    f = xp.compile(lambda a: a + 1)
    ft = xp.compile(lambda a: a + 1, trust_input=True)
    a = xp.asarray(x)
    f(a)
    ft(a)
    vm, data = f.program(a).vm, [x]
    fs = xp.compile(lambda a, s: a + s)
    for s in (1.0, 2.0, 3.0):
        fs(a, s)
    ns, ls = _floats(), _floats()
    return {"NumPy x + 1": lambda: x + 1, "lazyarr .vm (bare program)": lambda: vm(data),
            "lazyarr compile call": lambda: f(a), "lazyarr compile, trust_input": lambda: ft(a),
            "NumPy x + s, new float each call": lambda: x + next(ns),
            "lazyarr compile x + s, new float each call": lambda: fs(a, next(ls))}


def _floats():
    """An endless stream of distinct Python floats."""
    return map(float, itertools.count(1))


def _jax_rows(x: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import jax
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)
    f = jax.jit(lambda a: a + 1)
    fs = jax.jit(lambda a, s: a + s)
    a = jax.device_put(x)
    f(a).block_until_ready()
    fs(a, 0.5).block_until_ready()
    js = _floats()
    return {"JAX jit x + 1": lambda: f(a).block_until_ready(),
            "JAX jit x + s, new float each call": lambda: fs(a, next(js)).block_until_ready()}


def _pytensor_rows(x: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError:
        return {}
    v = pt.vector("x", dtype="float64")
    mode = pytensor.compile.mode.Mode(linker="cvm", optimizer="fast_run")  # Theano's C VM
    f = pytensor.function([v], v + 1, mode=mode)
    f.trust_input = True
    f(x)
    fvm, cell = f.vm, f.input_storage[0].storage

    def bare():  # the call clears its input cell: set it, run the VM
        cell[0] = x
        fvm()

    return {"PyTensor trust_input": lambda: f(x), "PyTensor f.vm() (+ input set)": bare}


def measure(rows: dict[str, Callable[[], object]], number: int, rounds: int) -> dict[str, float]:
    """Best microseconds per call of each row, rows interleaved round by round."""
    best = dict.fromkeys(rows, float("inf"))
    for _ in range(rounds):
        for name, fn in rows.items():
            t = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t) / number * 1e6)
    return best


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args(argv)
    xp.set_num_threads(1)
    x = np.arange(10, dtype=np.float64)
    rows = {**_lazyarr_rows(x), **_pytensor_rows(x), **_jax_rows(x)}
    us = measure(rows, 2000 if args.quick else 20000, 3 if args.quick else 7)
    base = us["NumPy x + 1"]
    print(table(["call", "µs per call", "× NumPy x + 1"],
                [(k, v, v / base) for k, v in us.items()],
                title="Per-call overhead, x + 1 on 10 float64 values, 1 thread"))
    out = {"us_per_call": us}
    save_json("call_overhead", out)
    bar_chart("call_overhead", list(us), {"µs per call": list(us.values())}, "µs per call",
              "lazyarr.compile per-call overhead (x + 1, 10 floats)")
    return out


if __name__ == "__main__":
    main()
