"""The main job: a short demo of lazy NumPy-style code, then a one-screen benchmark summary.

    python -m bench.summary
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from bench.report import bench_env

bench_env()

import lazyarr as xp  # noqa: E402


def demo() -> None:
    print("== lazyarr demo ==")
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((3, 4)))
    w = xp.asarray(rng.standard_normal((4, 2)))
    h = xp.tanh(x @ w + 0.5)
    loss = xp.mean(h ** 2)
    print("Built `loss = mean(tanh(x @ w + 0.5) ** 2)`: nothing computed yet, its graph is")
    xp.debugprint(loss)
    print(f"float(loss) = {float(loss):.6f}  (NumPy: "
          f"{np.mean(np.tanh(np.asarray(x) @ np.asarray(w) + 0.5) ** 2):.6f})")
    xp.trace_cache.clear()
    y = xp.asarray(np.linspace(0.0, 1.0, 5))
    for _ in range(100):
        y = y * 0.5 + 1.0
        float(xp.sum(y))
    info = xp.trace_cache_info()
    print(f"An eager-looking loop of 100 steps: {info['misses']} compile, {info['hits']} "
          f"trace-cache hits; y = {y}")
    print()


BENCHES = [
    # (module, function to call with quick arguments)
    ("bench.overhead", ["--quick"]),
    ("bench.cold_start", ["--quick"]),
    ("bench.fig2", ["--quick"]),
    ("bench.grad_mlp", ["--quick"]),
    ("bench.rewrite_bench", ["--quick"]),
]


def summary() -> None:
    print("== benchmark summary (quick settings; full runs: python -m bench.<name>) ==")
    for mod, args in BENCHES:
        t = time.perf_counter()
        try:
            m = importlib.import_module(mod)
        except ImportError as exc:
            print(f"[{mod}] skipped: {exc}")
            continue
        m.main(args)
        print(f"[{mod}] {time.perf_counter() - t:.1f} s\n")


if __name__ == "__main__":
    demo()
    summary()
