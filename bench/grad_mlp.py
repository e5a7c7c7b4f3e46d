"""Cheap gradients (issue 4): ``value_and_grad`` of the seed's MLP loss against its forward
pass. MLP 784-500-10, tanh hidden layer, softmax cross-entropy, batch 60, float32; target: the
value and gradient cost <= 3x the forward pass. PyTorch (eager, forward under ``no_grad`` vs
``backward``) and JAX (``jit`` of the loss vs ``jit`` of ``value_and_grad``) beside it when
installed. lazyarr runs eager-looking code each step (the graph is rebuilt and found again in
the trace cache), as a user's training loop would. Forward and value_and_grad calls alternate,
so both see the same load on a shared machine; the ratio of the minima is the least noisy.

    python -m bench.grad_mlp [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.report import bar_chart, bench_env, save_json, table

bench_env()

N_IN, N_HID, N_OUT, BATCH = 784, 500, 10, 60


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
    labels = rng.integers(0, N_OUT, BATCH)
    y = np.eye(N_OUT, dtype=np.float32)[labels]
    params = {"W1": (rng.standard_normal((N_IN, N_HID)) / np.sqrt(N_IN)).astype(np.float32),
              "b1": np.zeros(N_HID, np.float32),
              "W2": (rng.standard_normal((N_HID, N_OUT)) / np.sqrt(N_HID)).astype(np.float32),
              "b2": np.zeros(N_OUT, np.float32)}
    return x, y, params


def loss_fn(ns, params, x, y):
    """Mean softmax cross-entropy of the MLP, written with array-API namespace ``ns``."""
    h = ns.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    m = ns.max(logits, axis=1, keepdims=True)
    shifted = logits - m
    logp = shifted - ns.log(ns.sum(ns.exp(shifted), axis=1, keepdims=True))
    return -ns.sum(y * logp) / BATCH


def time_pair(fwd, grad, min_time: float) -> dict:
    """Seconds per call of ``fwd`` and ``grad``, called alternately (so both see the same load
    on a shared machine) for ``min_time`` in all after warming up: the minimum and the median
    of each."""
    for _ in range(2):
        fwd()
        grad()
    tf, tg = [], []
    t_end = time.perf_counter() + min_time
    while time.perf_counter() < t_end or len(tf) < 5:
        t0 = time.perf_counter()
        fwd()
        t1 = time.perf_counter()
        grad()
        t2 = time.perf_counter()
        tf.append(t1 - t0)
        tg.append(t2 - t1)
    return {"forward_min": min(tf), "forward_median": float(np.median(tf)),
            "grad_min": min(tg), "grad_median": float(np.median(tg))}


def bench_lazyarr(x, y, params, min_time):
    import lazyarr as xp

    xa, ya = xp.asarray(x), xp.asarray(y)
    pa = {k: xp.asarray(v) for k, v in params.items()}
    vg = xp.value_and_grad(lambda p: loss_fn(xp, p, xa, ya))

    def fwd():
        return float(loss_fn(xp, pa, xa, ya))

    def grad():
        val, g = vg(pa)
        xp.realize(val, *g.values())
        return val, g

    val, g = grad()
    check = (float(val), {k: np.asarray(v) for k, v in g.items()})
    return time_pair(fwd, grad, min_time), check


def bench_torch(x, y, params, min_time, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    pt = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in params.items()}

    class NS:  # the few functions loss_fn uses, with torch's names
        tanh, exp, log = torch.tanh, torch.exp, torch.log

        @staticmethod
        def max(a, axis, keepdims):
            return torch.amax(a, dim=axis, keepdim=keepdims)

        @staticmethod
        def sum(a, axis=None, keepdims=False):
            return torch.sum(a) if axis is None else torch.sum(a, dim=axis, keepdim=keepdims)

    def fwd():
        with torch.no_grad():
            return float(loss_fn(NS, pt, xt, yt))

    def grad():
        for p in pt.values():
            p.grad = None
        loss = loss_fn(NS, pt, xt, yt)
        loss.backward()
        return float(loss.detach())

    grad()
    check = (float(loss_fn(NS, pt, xt, yt).detach()),
             {k: v.grad.numpy().copy() for k, v in pt.items()})
    return time_pair(fwd, grad, min_time), check


def bench_jax(x, y, params, min_time):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_platforms", "cpu")
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    pj = {k: jnp.asarray(v) for k, v in params.items()}
    f = jax.jit(lambda p: loss_fn(jnp, p, xj, yj))
    vg = jax.jit(jax.value_and_grad(lambda p: loss_fn(jnp, p, xj, yj)))

    def fwd():
        return f(pj).block_until_ready()

    def grad():
        v, g = vg(pj)
        jax.block_until_ready(g)
        return v, g

    v, g = grad()
    check = (float(v), {k: np.asarray(a) for k, a in g.items()})
    return time_pair(fwd, grad, min_time), check


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short timing windows")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1" if args.threads == 1 else "")
    import lazyarr as xp

    xp.set_num_threads(args.threads)
    min_time = 0.3 if args.quick else 2.0
    x, y, params = data()
    ref = None
    results = {}
    for name, run in (("lazyarr", lambda: bench_lazyarr(x, y, params, min_time)),
                      ("PyTorch", lambda: bench_torch(x, y, params, min_time, args.threads)),
                      ("JAX jit", lambda: bench_jax(x, y, params, min_time))):
        r = run()
        if r is None:
            print(f"({name} not installed: skipped)")
            continue
        t, (val, grads) = r
        if ref is None:
            ref = (val, grads)
        err = max(float(np.max(np.abs(grads[k] - ref[1][k]))) for k in grads)
        results[name] = {**{k: v * 1e3 for k, v in t.items()},
                         "ratio_min": t["grad_min"] / t["forward_min"],
                         "ratio_median": t["grad_median"] / t["forward_median"],
                         "loss": val, "max_grad_diff_vs_lazyarr": err}
    rows = [[n, r["forward_min"], r["forward_median"], r["grad_min"], r["grad_median"],
             r["ratio_min"], r["ratio_median"], r["max_grad_diff_vs_lazyarr"]]
            for n, r in results.items()]
    print(table(["library", "fwd min ms", "fwd median ms", "v&g min ms", "v&g median ms",
                 "ratio of mins", "ratio of medians", "max |grad - lazyarr's|"], rows,
                title=f"MLP {N_IN}-{N_HID}-{N_OUT}, tanh, softmax CE, batch {BATCH}, float32, "
                      f"{args.threads} thread(s); target: value_and_grad <= 3x forward"))
    path = save_json("grad_mlp", {"threads": args.threads, "results": results})
    png = bar_chart("grad_mlp", list(results),
                    {"forward": [r["forward_min"] for r in results.values()],
                     "value_and_grad": [r["grad_min"] for r in results.values()]},
                    "ms per call (min)", "MLP loss: forward vs value_and_grad")
    print(f"wrote {path}" + (f" and {png}" if png else ""))


if __name__ == "__main__":
    main()
