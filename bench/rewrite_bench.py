"""Graph rewriting (issue 5): what the rewriter does to real graphs and what it costs.

(a) the MLP training step 784-500-10 (tanh, softmax cross-entropy written naively as
    ``-mean(sum(y * log(softmax(z))))``, ``value_and_grad`` of the four parameters, SGD update):
    nodes before/after, fused kernels, Gemm/Gemv nodes, rewrite time per phase (target: the whole
    rewrite <= 20 ms), and one step run unoptimized, optimized, and optimized without fusion
    on the native VM (one thread, calls interleaved, best of many);
(b) a ~2,000-node graph (5 branches of a 12-layer residual tanh MLP and their gradient):
    rewrite time (target <= 0.5 s);
(c) an elementwise chain with a row reduction on 1000 x 1000 values, where fusion pays: run
    unoptimized, optimized (one FusedReduce), and NumPy;
(d) peers: PyTensor's FAST_RUN rewriter on the same MLP step (graph rewrite only, no C
    compilation) and JAX's ``jit`` lowering + XLA compilation of it, when installed.

Rewrite times are the median over fresh copies of the graph (cutting the graph out is not
counted). Prints a table, writes ``bench/results/rewrite_bench.json`` and a PNG.

    python -m bench.rewrite_bench [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bench.report import bar_chart, bench_env, save_json, table

bench_env()

from lazyarr.graph._walk import cut  # noqa: E402

import lazyarr as xp  # noqa: E402
from lazyarr.array.ops.linalg import Gemm, Gemv  # noqa: E402
from lazyarr.exec_cpu import link  # noqa: E402
from lazyarr.graph.fgraph import SMALL_CONST, FunctionGraph  # noqa: E402
from lazyarr.rewrites import options, rewrite  # noqa: E402
from lazyarr.rewrites.fusion import count_fused  # noqa: E402

BATCH, N_IN, N_HID, N_OUT, LR = 64, 784, 500, 10, 0.1


def graph_of(*arrays) -> tuple[FunctionGraph, list[np.ndarray]]:
    """A fresh unoptimized graph computing ``arrays``, and its run-time arguments."""
    leaves, steps, out_refs, _key = cut([a._v for a in arrays])
    fg = FunctionGraph.from_cut(leaves, steps, out_refs)
    args = [leaf.data for leaf in leaves
            if not (leaf.const and leaf.data is not None and leaf.data.size <= SMALL_CONST)]
    return fg, args


def mlp_data(rng: np.random.Generator) -> dict:
    return {"x": rng.standard_normal((BATCH, N_IN)),
            "y": np.eye(N_OUT)[rng.integers(0, N_OUT, BATCH)],
            "W1": rng.standard_normal((N_IN, N_HID)) * 0.05, "b1": np.zeros(N_HID),
            "W2": rng.standard_normal((N_HID, N_OUT)) * 0.05, "b2": np.zeros(N_OUT)}


def mlp_step(d: dict) -> list:
    """Loss and the four updated parameters of one SGD step, as lazy arrays."""
    x, y = xp.asarray(d["x"]), xp.asarray(d["y"])

    def loss(W1, b1, W2, b2):
        h = xp.tanh(x @ W1 + b1)
        z = h @ W2 + b2
        p = xp.exp(z) / xp.sum(xp.exp(z), axis=1, keepdims=True)
        return -xp.mean(xp.sum(y * xp.log(p), axis=1))

    params = [xp.asarray(d[k]) for k in ("W1", "b1", "W2", "b2")]
    val, grads = xp.value_and_grad(loss, argnums=(0, 1, 2, 3))(*params)
    return [val] + [p - LR * g for p, g in zip(params, grads)]


def deep_graph(rng: np.random.Generator, branches: int = 5, layers: int = 12,
               width: int = 32) -> list:
    """Residual tanh MLP branches on one input, summed, and their gradient: about 2,000 nodes
    (wide rather than deep: a pending chain deeper than 512 nodes is realized on its own)."""
    x = xp.asarray(rng.standard_normal((16, width)))
    Ws = [xp.asarray(rng.standard_normal((width, width)) * 0.1)
          for _ in range(branches * layers)]
    bs = [xp.asarray(np.zeros(width)) for _ in range(branches * layers)]

    def loss(Ws, bs):
        total = 0.0
        for k in range(branches):
            h = x
            for W, b in zip(Ws[k * layers:(k + 1) * layers], bs[k * layers:(k + 1) * layers]):
                h = h + 0.5 * xp.tanh(h @ W + b)
                h = h / xp.sqrt(xp.mean(h * h, axis=1, keepdims=True) + 1e-5)
            total = total + xp.sum(xp.log(1 + xp.exp(h)))
        return total

    val, (gW, gb) = xp.value_and_grad(loss, argnums=(0, 1))(Ws, bs)
    return [val] + [W - 0.01 * g for W, g in zip(Ws, gW)] + [b - 0.01 * g for b, g in zip(bs, gb)]


def chain_graph(rng: np.random.Generator, n: int = 1000) -> tuple[list, list[np.ndarray]]:
    """An elementwise chain with a row reduction on n x n values (where fusion pays): the lazy
    outputs and the NumPy inputs."""
    xs, ms = rng.standard_normal((n, n)), rng.standard_normal((n, 1))
    x, m = xp.asarray(xs), xp.asarray(ms)
    out = xp.sum(xp.exp(x - m) * 0.5 + xp.tanh(x) * x, axis=1)
    return [out], [xs, ms]


def numpy_chain(xs: np.ndarray, ms: np.ndarray) -> np.ndarray:
    return np.sum(np.exp(xs - ms) * 0.5 + np.tanh(xs) * xs, axis=1)


def rewrite_stats(outs: list, reps: int) -> dict:
    fg, args = graph_of(*outs)
    before = len(fg.toposort())
    times, report = [], None
    for _ in range(reps):
        g, _ = graph_of(*outs)
        t0 = time.perf_counter()
        report = rewrite(g)
        times.append(time.perf_counter() - t0)
    order = g.toposort()
    return {"graph": g, "args": args, "nodes_before": before, "nodes_after": len(order),
            "fused_kernels": count_fused(g),
            "blas_nodes": sum(isinstance(n.op, (Gemm, Gemv)) for n in order),
            "rewrite_ms": float(np.median(times)) * 1e3,
            "phase_ms": {k: v * 1e3 for k, v in report.seconds.items()},
            "fired": dict(report.counts)}


def run_times(graphs: list[tuple[FunctionGraph, list]], reps: int) -> list[float]:
    """Best time (ms) of one call of each graph's native program; calls interleaved, so that
    load from other processes hits every program alike."""
    progs = [(link(fg), args) for fg, args in graphs]
    best = [np.inf] * len(progs)
    for prog, args in progs:
        prog(args)
    for _ in range(reps):
        for i, (prog, args) in enumerate(progs):
            t0 = time.perf_counter()
            prog(args)
            best[i] = min(best[i], time.perf_counter() - t0)
    return [b * 1e3 for b in best]


def pytensor_mlp(d: dict, reps: int) -> dict | None:
    try:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.compile.mode import get_mode
        from pytensor.graph.fg import FunctionGraph as PtFG
    except ImportError:
        return None
    x, y = pt.constant(d["x"]), pt.constant(d["y"])
    params = [pytensor.shared(d[k], name=k) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params
    h = pt.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    p = pt.exp(z) / pt.sum(pt.exp(z), axis=1, keepdims=True)
    loss = -pt.mean(pt.sum(y * pt.log(p), axis=1))
    outs = [loss] + [q - LR * g for q, g in zip(params, pytensor.grad(loss, params))]
    rewriter = get_mode("FAST_RUN").optimizer
    warnings.filterwarnings("ignore", message="A Supervisor feature is missing")
    times, before, after = [], 0, 0
    for _ in range(reps):
        fg = PtFG(outputs=outs, clone=True)
        before = len(fg.apply_nodes)
        t0 = time.perf_counter()
        rewriter.rewrite(fg)
        times.append(time.perf_counter() - t0)
        after = len(fg.apply_nodes)
    return {"nodes_before": before, "nodes_after": after,
            "rewrite_ms": float(np.median(times)) * 1e3}


def jax_mlp(d: dict) -> dict | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def step(W1, b1, W2, b2, x, y):
        def loss(W1, b1, W2, b2):
            h = jnp.tanh(x @ W1 + b1)
            z = h @ W2 + b2
            p = jnp.exp(z) / jnp.sum(jnp.exp(z), axis=1, keepdims=True)
            return -jnp.mean(jnp.sum(y * jnp.log(p), axis=1))
        val, gs = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(W1, b1, W2, b2)
        return [val] + [q - LR * g for q, g in zip((W1, b1, W2, b2), gs)]

    args = [d[k] for k in ("W1", "b1", "W2", "b2", "x", "y")]
    t0 = time.perf_counter()
    lowered = jax.jit(step).lower(*args)
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    return {"trace_lower_ms": (t1 - t0) * 1e3, "xla_compile_ms": (t2 - t1) * 1e3}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (< 1 min)")
    opts = ap.parse_args(argv)
    reps = 5 if opts.quick else 21
    rng = np.random.default_rng(0)
    d = mlp_data(rng)

    mlp = rewrite_stats(mlp_step(d), reps)
    plain, args = graph_of(*mlp_step(d))
    nofuse, nargs = graph_of(*mlp_step(d))
    with options(exclude={"fusion"}):
        rewrite(nofuse)
    threads = xp.get_num_threads()
    xp.set_num_threads(1)  # one thread: steadier on a shared machine
    t_plain, t_opt, t_nofuse = run_times(
        [(plain, args), (mlp["graph"], mlp["args"]), (nofuse, nargs)], 5 * reps)
    xp.set_num_threads(threads)
    deep_outs = deep_graph(rng)
    deep = rewrite_stats(deep_outs, max(3, reps // 4))
    deep_plain, dargs = graph_of(*deep_outs)
    deep_nofuse, dnargs = graph_of(*deep_outs)
    with options(exclude={"fusion"}):
        rewrite(deep_nofuse)
    xp.set_num_threads(1)
    d_plain, d_opt, d_nofuse = run_times(
        [(deep_plain, dargs), (deep["graph"], deep["args"]), (deep_nofuse, dnargs)], reps)
    xp.set_num_threads(threads)
    chain_outs, (cx, cm) = chain_graph(rng)
    ch_plain, chargs = graph_of(*chain_outs)
    ch_opt, coargs = graph_of(*chain_outs)
    ch_fired = rewrite(ch_opt).names()
    xp.set_num_threads(1)
    c_plain, c_opt = run_times([(ch_plain, chargs), (ch_opt, coargs)], max(3, reps // 2))
    xp.set_num_threads(threads)
    c_np = np.inf
    for _ in range(max(3, reps // 2)):
        t0 = time.perf_counter()
        numpy_chain(cx, cm)
        c_np = min(c_np, time.perf_counter() - t0)
    c_np *= 1e3
    pt_res = pytensor_mlp(d, max(3, reps // 4))
    jx = jax_mlp(d)

    rows = [
        ["MLP step: nodes before -> after", f"{mlp['nodes_before']} -> {mlp['nodes_after']}", ""],
        ["MLP step: fused kernels / BLAS nodes",
         f"{mlp['fused_kernels']} / {mlp['blas_nodes']}", ""],
        ["MLP step: rewrite time (ms)", mlp["rewrite_ms"], "<= 20"],
        ["  per phase (ms)", ", ".join(f"{k} {v:.2f}" for k, v in mlp["phase_ms"].items()), ""],
        ["MLP step, 1 thread: run unoptimized / optimized / optimized without fusion (ms)",
         f"{t_plain:.2f} / {t_opt:.2f} / {t_nofuse:.2f}", ""],
        ["deep graph: nodes before -> after", f"{deep['nodes_before']} -> {deep['nodes_after']}",
         ""],
        ["deep graph: rewrite time (ms)", deep["rewrite_ms"], "<= 500"],
        ["deep graph, 1 thread: run unoptimized / optimized / without fusion (ms)",
         f"{d_plain:.2f} / {d_opt:.2f} / {d_nofuse:.2f}", ""],
        ["sum(exp(x-m)*0.5 + tanh(x)*x, axis=1), 1000x1000, 1 thread: unoptimized / "
         "optimized / NumPy (ms)", f"{c_plain:.2f} / {c_opt:.2f} / {c_np:.2f}",
         f"{len(ch_opt.toposort())} node(s) after"],
    ]
    if pt_res:
        rows.append(["PyTensor FAST_RUN rewrite of the MLP step (ms)", pt_res["rewrite_ms"],
                     f"nodes {pt_res['nodes_before']} -> {pt_res['nodes_after']}"])
    if jx:
        rows.append(["JAX jit lower / XLA compile of the MLP step (ms)",
                     f"{jx['trace_lower_ms']:.1f} / {jx['xla_compile_ms']:.1f}", ""])
    print(table(["measure", "value", "target / note"], rows, title="Graph rewriting"))
    print("\nMLP step, rewrites fired:", mlp["fired"])

    strip = lambda r: {k: v for k, v in r.items() if k not in ("graph", "args")}  # noqa: E731
    path = save_json("rewrite_bench", {
        "mlp": strip(mlp) | {"run_unoptimized_ms": t_plain, "run_optimized_ms": t_opt,
                            "run_optimized_without_fusion_ms": t_nofuse},
        "deep": strip(deep) | {"run_unoptimized_ms": d_plain, "run_optimized_ms": d_opt,
                               "run_optimized_without_fusion_ms": d_nofuse},
        "chain": {"run_unoptimized_ms": c_plain, "run_optimized_ms": c_opt, "numpy_ms": c_np,
                  "fired": ch_fired},
        "pytensor": pt_res, "jax": jx})
    labels = ["MLP step (lazyarr)", "deep graph (lazyarr)"]
    series = {"rewrite ms": [mlp["rewrite_ms"], deep["rewrite_ms"]]}
    if pt_res:
        labels.append("MLP step (PyTensor)")
        series["rewrite ms"].append(pt_res["rewrite_ms"])
    bar_chart("rewrite_bench", labels, series, "milliseconds", "Rewrite time", log=True)
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
