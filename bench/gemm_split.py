"""Few-row float32 products of fig1's MLPs (issue 7): lazyarr's `Gemm` thunk with the product
split into blocks on OpenBLAS's threads (`_blas64.pxi`) and without, beside ``np.matmul``.

Shapes: the forward product ``x @ W`` (b x 784) @ (784 x 500) and (b x 1000) @ (1000 x 1000),
and the weight update ``W - lr * x.T @ d`` written into ``W`` (beta = 1, reduction b), for
b = 10 and 60. ``np.matmul`` computes the bare product (``x.T @ d`` for the update) into a
preallocated output. Timed interleaved in one process, best of several rounds, per thread
count (1 thread never splits: both lazyarr rows are the same path there).

    python -m bench.gemm_split [--quick] [--threads 2,1] [--only fwd10,wg60]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bench.report import bar_chart, bench_env, save_json, table

bench_env()

from lazyarr.exec_cpu._vm import GemmThunk, gemm_split_available, set_gemm_split  # noqa: E402

import lazyarr as xp  # noqa: E402
from lazyarr.array.ops.linalg import Gemm  # noqa: E402
from lazyarr.exec_cpu import link  # noqa: E402
from lazyarr.graph import FunctionGraph, Var, apply  # noqa: E402

F32 = np.float32
#: (name, m, k, n): "fwd" is x @ W (+ bias), "wg" the in-place update W + alpha * x.T @ d
CASES = [("fwd", 10, 784, 500), ("fwd", 60, 784, 500), ("wg", 784, 10, 500),
         ("wg", 784, 60, 500), ("fwd", 10, 1000, 1000), ("fwd", 60, 1000, 1000),
         ("wg", 1000, 10, 1000), ("wg", 1000, 60, 1000)]


def _gemm_call(kind: str, m: int, k: int, n: int, rng) -> tuple[Callable, Callable]:
    """(lazyarr Gemm thunk call, np.matmul call) for one case."""
    a = rng.standard_normal((m, k), F32) if kind == "fwd" else rng.standard_normal((k, m), F32).T
    b = rng.standard_normal((k, n), F32)
    c = rng.standard_normal((n,) if kind == "fwd" else (m, n), F32)
    alpha, beta = (1.0, 1.0) if kind == "fwd" else (-1e-3, 1.0)
    vs = [Var.input(F32, s) for s in (c.shape, (), a.shape, b.shape, ())]
    out, = apply(Gemm(), *vs)
    prog = link(FunctionGraph(vs, [out]))
    thunk = prog.thunks[0]
    assert isinstance(thunk, GemmThunk)
    if kind == "wg":
        thunk.inplace = True  # as in a compiled SGD step, the update writes into W
    args = [c, np.asarray(alpha, F32), a, b, np.asarray(beta, F32)]
    dst = np.empty((m, n), F32)
    return (lambda: prog(args)), (lambda: np.matmul(a, b, out=dst))


def _best(fns: dict[str, Callable], rounds: int, reps: int) -> dict[str, float]:
    """Best seconds per call of each function, interleaved round by round."""
    best = dict.fromkeys(fns, float("inf"))
    for f in fns.values():
        f()
    for _ in range(rounds):
        for name, f in fns.items():
            set_gemm_split(name != "lazyarr whole")
            t = time.perf_counter()
            for _ in range(reps):
                f()
            best[name] = min(best[name], (time.perf_counter() - t) / reps)
    set_gemm_split(True)
    return best


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    args = ap.parse_args(argv)
    if not gemm_split_available():
        print("NumPy's OpenBLAS has no batch gemm: nothing is split")
    rng = np.random.default_rng(0)
    rounds = 5 if args.quick else 15
    rows, results = [], {}
    for kind, m, k, n in CASES:
        name = f"{kind}{m if kind == 'fwd' else k} ({m}x{k})@({k}x{n})"
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        lazy, npm = _gemm_call(kind, m, k, n, rng)
        reps = max(2, int(2e7 / (m * n * k)))
        for nt in (int(t) for t in args.threads.split(",")):
            xp.set_num_threads(nt)
            best = _best({"np.matmul": npm, "lazyarr split": lazy, "lazyarr whole": lazy},
                         rounds, reps)
            us = {key: v * 1e6 for key, v in best.items()}
            results[f"{name} {nt}thr"] = us
            rows.append([name, nt, us["np.matmul"], us["lazyarr split"], us["lazyarr whole"],
                         us["np.matmul"] / us["lazyarr split"],
                         us["lazyarr whole"] / us["lazyarr split"]])
    xp.set_num_threads(None)
    print(table(["product", "threads", "np.matmul us", "lazyarr split us", "lazyarr whole us",
                 "np / split", "whole / split"], rows,
                title="Few-row float32 products: split into blocks vs gemm's own threads"))
    save_json("gemm_split", {"us": results})
    labels = list(results)
    bar_chart("gemm_split", labels,
              {s: [results[lb][s] for lb in labels]
               for s in ("np.matmul", "lazyarr split", "lazyarr whole")},
              "microseconds per product", "Few-row float32 products")
    return results


if __name__ == "__main__":
    main()
