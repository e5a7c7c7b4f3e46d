"""First runs: NumPy-style scripts on shapes the process has not met yet (new graph structures).

    python -m bench.cold_start [--quick]

A lazy namespace pays for every new graph structure: the cut, the rewrites and the linking
(tens to hundreds of microseconds a realization), and the first runs of a new kernel run on
NumPy until the background build is done (`exec_cpu.tiering`). A script that runs once, or the
same code on data of a new size each call, meets only new structures. Each workload is written
once against the array API and run, per namespace:

* **new shape**: on inputs of a size not met before (a new structure for lazyarr), the median
  over several sizes, each size run once;
* **same shape**: the last size run again (lazyarr's trace cache hits).

Workloads: k-means (10 Lloyd iterations, 5 clusters, boolean-mask means), Newton's square root
iterated until converged (a ``float`` per iteration), a 200-step ``x = x * c + i`` chain
stacked and summed, and standardize + covariance + ``eigvalsh``. Peers: NumPy, and PyTorch on
the CPU (through ``array_api_compat``) when installed. Background compilation stays on (the
default a user gets); the kernel disk cache is whatever the machine has. Table, JSON
(``results/cold_start.json``) and a PNG chart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import lazyarr

from .report import bar_chart, save_json, table


def kmeans(xp, x, k: int = 5, iters: int = 10) -> float:
    """Lloyd's k-means on ``x`` (n, 2) from its first ``k`` rows; the centres' sum."""
    c = x[:k]
    for _ in range(iters):
        d = xp.sum((x[:, None, :] - c[None, :, :]) ** 2, axis=2)
        lab = xp.argmin(d, axis=1)
        c = xp.stack([xp.mean(x[lab == j], axis=0) for j in range(k)])
    return float(xp.sum(c))


def newton_sqrt(xp, a) -> float:
    """Newton's iteration for ``sqrt(a)`` (a > 0) until the step is below 1e-12."""
    x = xp.ones_like(a)
    while True:
        nx = 0.5 * (x + a / x)
        err = float(xp.max(xp.abs(nx - x)))
        x = nx
        if err < 1e-12:
            return float(xp.sum(x))


def chain(xp, x, steps: int = 200) -> float:
    """``x = x * c + i`` for ``steps`` steps, every step kept, stacked and summed."""
    out = []
    for i in range(steps):
        x = x * 1.0001 + i
        out.append(x)
    return float(xp.sum(xp.stack(out)))


def covariance_spectrum(xp, a) -> float:
    """The largest eigenvalue of the correlation matrix of ``a`` (n, 50)."""
    z = (a - xp.mean(a, axis=0)) / xp.std(a, axis=0)
    return float(xp.linalg.eigvalsh(z.T @ z / a.shape[0])[-1])


def _inputs(name: str, size: int, rng) -> tuple:
    if name == "k-means":
        return (rng.standard_normal((2000 + size, 2)),)
    if name == "newton sqrt":
        return (rng.uniform(1.0, 100.0, 1000 + size),)
    if name == "x*c+i chain":
        return (np.ones(10 + size),)
    return (rng.standard_normal((400 + size, 50)),)


WORKLOADS = {"k-means": kmeans, "newton sqrt": newton_sqrt, "x*c+i chain": chain,
             "covariance spectrum": covariance_spectrum}


def namespaces() -> dict:
    """The namespaces measured: ``{name: (xp, asarray)}``."""
    out = {"NumPy": (np, np.asarray), "lazyarr": (lazyarr, lazyarr.asarray)}
    try:
        import torch
        from array_api_compat import torch as tx

        torch.set_num_threads(os.cpu_count() or 1)
        out["PyTorch"] = (tx, lambda a: torch.from_numpy(np.ascontiguousarray(a)))
    except ImportError:
        pass
    return out


def measure(fn, xp, asarray, name: str, sizes: list[int]) -> tuple[float, float, float]:
    """``(new shape ms, same shape ms, result)``: the median first run over ``sizes``, and
    the last size run again (best of three)."""
    rng = np.random.default_rng(0)
    firsts = []
    for size in sizes:
        args = [asarray(a) for a in _inputs(name, size, rng)]
        t0 = time.perf_counter()
        fn(xp, *args)
        firsts.append(time.perf_counter() - t0)
    again = []
    for _ in range(3):
        t0 = time.perf_counter()
        value = fn(xp, *args)
        again.append(time.perf_counter() - t0)
    return statistics.median(firsts) * 1e3, min(again) * 1e3, value


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer sizes")
    args = p.parse_args(argv)
    n_sizes = 3 if args.quick else 7
    spaces = namespaces()
    rows, results = [], {}
    for wname, fn in WORKLOADS.items():
        warm_up = [1000 + k for k in range(2)]  # the namespaces' own first-call costs
        for xp, asarray in spaces.values():
            measure(fn, xp, asarray, wname, warm_up)
        lazyarr.finish_compiles()
        res = {}
        for sname, (xp, asarray) in spaces.items():
            res[sname] = measure(fn, xp, asarray, wname, list(range(1, n_sizes + 1)))
            lazyarr.finish_compiles()  # no background build left to slow the next namespace
        base_new, base_same = res["NumPy"][0], res["NumPy"][1]
        for sname, (new, same, _value) in res.items():
            rows.append([wname, sname, new, same, new / base_new, same / base_same])
        results[wname] = {s: {"new_shape_ms": r[0], "same_shape_ms": r[1]}
                          for s, r in res.items()}
        values = {s: r[2] for s, r in res.items()}
        ref = values["NumPy"]
        for s, v in values.items():  # every namespace computed the same thing
            assert abs(v - ref) <= 1e-6 * max(1.0, abs(ref)), (wname, s, v, ref)
    print(table(["workload", "namespace", "new shape ms", "same shape ms",
                 "new ÷ NumPy", "same ÷ NumPy"], rows,
                "First runs on new shapes and the same run repeated (lower is better)"))
    save_json("cold_start", {"results": results})
    labels = list(WORKLOADS)
    series = {f"{s} new shape": [results[w][s]["new_shape_ms"] for w in labels]
              for s in spaces}
    series.update({f"{s} same shape": [results[w][s]["same_shape_ms"] for w in labels]
                   for s in spaces})
    bar_chart("cold_start", labels, series, "ms per run",
              "NumPy-style scripts: first runs on new shapes vs repeated", log=True)
    return results


if __name__ == "__main__":
    main()
