"""The seed's Figure 2: training speed of a simple recurrent network, in words per second.

Elman network, sigmoid hidden units, softmax output over a vocabulary of 1000 words, one-hot
(embedding-row) input, batch size 1, backpropagation through time over sentences of 10-20 words,
plain SGD; float32. Hidden sizes 50, 100, 200, 500. Every row trains the same model from the
same initial weights on the same sentences (their mean losses are printed as a check that they
compute the same thing):

* lazyarr: the recurrence is ``lazyarr.scan``, the gradient ``lazyarr.value_and_grad`` (BPTT
  as a reverse scan built by the scan's vjp rule); the output layer is one matrix product over
  the sentence, as in every row but the C loop. Two rows: eager (the graph is built every step
  and found again in the trace cache) and under ``lazyarr.compile`` (traced once per sentence
  length, parameters donated);
* NumPy, a hand-written BPTT with the same batching of the output layer;
* PyTorch eager (autograd over a Python loop of steps);
* JAX, ``jit`` of ``value_and_grad`` over ``lax.scan`` (compiled per sentence length, warmed);
* PyTensor ``scan`` + ``pytensor.grad`` (one compiled function, symbolic length);
* a hand-written C loop compiled here with ``cc -O3 -march=native``, standing in for RNNLM
  (per-word matrix-vector loops, the whole training loop in C).

The rows are timed interleaved, sentence by sentence, so that the load of a shared machine
changes every row's time alike (their ratios are what to read). Every row runs on
``--threads`` threads (default 1, as RNNLM: batch-1 recurrences are too small
to split, and on a shared 2-core machine a second BLAS thread made a 1000x15 @ 15x50 product
140x slower). ``--threads 2`` there (loaded, quick run): lazyarr compiled H=50 ~1,600 words/s
against ~30,000 on 1 thread, NumPy as slow, JAX less affected; OpenBLAS's own threads are the
cause (OpenMP at 2 threads with BLAS at 1 is as fast as 1 thread), worst with two OpenBLAS
pools at 2 threads each (NumPy's for gemm, SciPy's for gemv) spinning against each other. On a
quiet machine 2 threads are as fast as 1, except beside PyTensor in the same process: the
PyTensor row is therefore timed in a child process (same sentences, threads and order).

    python -m bench.fig2 [--quick] [--no-pytensor] [--threads N] [--sizes 50,100]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import RESULTS, bench_env, save_json, table

bench_env()

import lazyarr as xp  # noqa: E402

VOCAB = 1000
_threads = [1]


def threads() -> int:
    return _threads[0]


def limit_threads(n: int) -> None:
    """Run every row on ``n`` threads (BLAS, OpenMP, PyTorch, XLA)."""
    _threads[0] = n
    xp.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    if n == 1:  # read when JAX starts its CPU client (its first use, inside jax_trainer)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1")
LR = 0.1
F32 = np.float32


LENGTHS = tuple(range(10, 21))  # training steps per sentence


def make_data(n: int, seed: int, lengths: tuple = LENGTHS) -> list[np.ndarray]:
    """``n`` sentences of word ids, each with ``len - 1`` training steps drawn from
    ``lengths``."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, VOCAB, int(rng.choice(lengths)) + 1).astype(np.int64)
            for _ in range(n)]


def warm_data(lengths: tuple = LENGTHS) -> list[np.ndarray]:
    """One sentence per length, so that every per-length compilation happens before timing."""
    rng = np.random.default_rng(99)
    return [rng.integers(0, VOCAB, L + 1).astype(np.int64) for L in lengths]


def init_params(H: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(H)
    return {"U": (rng.standard_normal((VOCAB, H)) * 0.1).astype(F32),
            "W": (rng.standard_normal((H, H)) * 0.1).astype(F32),
            "b": np.zeros(H, F32),
            "Vo": (rng.standard_normal((H, VOCAB)) * 0.1).astype(F32),
            "c": np.zeros(VOCAB, F32)}


# ---- NumPy, hand-written BPTT ----------------------------------------------------------------

def numpy_trainer(p: dict):
    P = {k: v.copy() for k, v in p.items()}

    def step(sent):
        U, W, b, Vo, c = P["U"], P["W"], P["b"], P["Vo"], P["c"]
        w, y = sent[:-1], sent[1:]
        T, H = len(w), W.shape[0]
        hs = np.empty((T + 1, H), F32)
        hs[0] = 0
        for t in range(T):
            z = U[w[t]] + hs[t] @ W + b
            hs[t + 1] = 1 / (1 + np.exp(-z))
        h = hs[1:]
        logits = h @ Vo + c
        logits -= logits.max(1, keepdims=True)
        e = np.exp(logits)
        pr = e / e.sum(1, keepdims=True)
        loss = -np.log(pr[np.arange(T), y]).sum()
        pr[np.arange(T), y] -= 1
        dh_out = pr @ Vo.T
        dz = np.empty((T, H), F32)
        dnext = np.zeros(H, F32)
        for t in reversed(range(T)):
            d = (dh_out[t] + dnext) * h[t] * (1 - h[t])
            dz[t] = d
            dnext = d @ W.T
        Vo -= LR * (h.T @ pr)
        c -= LR * pr.sum(0)
        W -= LR * (hs[:-1].T @ dz)
        b -= LR * dz.sum(0)
        np.add.at(U, w, -LR * dz)
        return float(loss)
    return step


# ---- lazyarr: scan + lazyarr.value_and_grad -------------------------------------------------

def lazyarr_loss(U, W, b, Vo, c, w, y):
    """Summed cross-entropy of next-word prediction over one sentence (``w`` -> ``y``)."""
    def fwd(h, x):
        h = 1 / (1 + xp.exp(-(x + h @ W + b)))
        return h, h

    _, h = xp.scan(fwd, xp.zeros(W.shape[0], dtype=W.dtype), xp.take(U, w, axis=0))
    logits = h @ Vo + c
    # written as the math reads: the stabilize rewrites shift both the logsumexp and its
    # gradient (the softmax) by the max, which a hand-written shift would also differentiate
    lse = xp.log(xp.sum(xp.exp(logits), axis=1))
    return xp.sum(lse) - xp.sum(xp.take_along_axis(logits, y[:, None], axis=1))


def lazyarr_trainer(p: dict):
    keys = ("U", "W", "b", "Vo", "c")
    s = {k: xp.asarray(p[k].copy()) for k in keys}
    step_fn = xp.value_and_grad(lazyarr_loss, argnums=(0, 1, 2, 3, 4))

    def step(sent):
        loss, gs = step_fn(*(s[k] for k in keys), xp.asarray(sent[:-1]), xp.asarray(sent[1:]))
        for k, g in zip(keys, gs):
            s[k] = s[k] - LR * g
        del gs, g  # live pending arrays are written back too: keep only what is asked
        xp.realize(loss, *s.values())
        return float(loss)
    return step


def lazyarr_compiled_trainer(p: dict):
    """The same step under ``lazyarr.compile`` (traced once per sentence length, parameters
    donated: updated in place), so steady state is one program call per sentence."""
    keys = ("U", "W", "b", "Vo", "c")

    def train_step(params, w, y):
        loss, gs = xp.value_and_grad(lambda *ps: lazyarr_loss(*ps, w, y),
                                     argnums=(0, 1, 2, 3, 4))(*params)
        return loss, tuple(a - LR * g for a, g in zip(params, gs))

    step_c = xp.compile(train_step, donate_argnums=(0,))
    state = {"ps": tuple(xp.asarray(p[k].copy()) for k in keys)}

    def step(sent):
        loss, state["ps"] = step_c(state["ps"], sent[:-1], sent[1:])
        return float(loss)
    return step


# ---- PyTorch eager ---------------------------------------------------------------------------

def torch_trainer(p: dict):
    import torch

    torch.set_num_threads(threads())
    ps = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in p.items()}

    def step(sent):
        w = torch.from_numpy(sent[:-1])
        y = torch.from_numpy(sent[1:])
        U, W, b, Vo, c = ps["U"], ps["W"], ps["b"], ps["Vo"], ps["c"]
        x = U[w]
        h = torch.zeros(W.shape[0])
        hs = []
        for t in range(len(w)):
            h = torch.sigmoid(x[t] + h @ W + b)
            hs.append(h)
        logits = torch.stack(hs) @ Vo + c
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        for q in ps.values():
            q.grad = None
        loss.backward()
        with torch.no_grad():
            for q in ps.values():
                q -= LR * q.grad
        return float(loss.detach())
    return step


# ---- JAX jit + lax.scan ----------------------------------------------------------------------

def jax_trainer(p: dict):
    import jax
    import jax.numpy as jnp

    def loss_fn(ps, w, y):
        def f(h, x):
            h = jax.nn.sigmoid(x + h @ ps["W"] + ps["b"])
            return h, h
        _, hs = jax.lax.scan(f, jnp.zeros(ps["W"].shape[0], jnp.float32), ps["U"][w])
        logits = hs @ ps["Vo"] + ps["c"]
        lp = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.take_along_axis(lp, y[:, None], axis=1))

    @jax.jit
    def update(ps, w, y):
        loss, g = jax.value_and_grad(loss_fn)(ps, w, y)
        return jax.tree_util.tree_map(lambda a, d: a - LR * d, ps, g), loss

    st = {"ps": {k: jnp.asarray(v) for k, v in p.items()}}

    def step(sent):
        st["ps"], loss = update(st["ps"], sent[:-1], sent[1:])
        return float(loss)
    return step


# ---- PyTensor scan ---------------------------------------------------------------------------

_pt_fn = None


def pytensor_trainer(p: dict):
    global _pt_fn
    import pytensor
    import pytensor.tensor as pt

    if _pt_fn is None:
        U, W, Vo = (pt.matrix(n, dtype="float32") for n in ("U", "W", "Vo"))
        b, c = pt.vector("b", dtype="float32"), pt.vector("c", dtype="float32")
        w, y = pt.lvector("w"), pt.lvector("y")
        h0 = pt.zeros((W.shape[0],), "float32")
        hs = pytensor.scan(lambda x, h: pt.sigmoid(x + h @ W + b), sequences=U[w],
                           outputs_info=h0, return_updates=False)
        logits = hs @ Vo + c
        lp = logits - pt.logsumexp(logits, axis=1, keepdims=True)
        loss = -lp[pt.arange(y.shape[0]), y].sum()
        params = [U, W, b, Vo, c]
        grads = pytensor.grad(loss, params)
        _pt_fn = pytensor.function([*params, w, y],
                                   [loss] + [q - np.float32(LR) * g for q, g in zip(params, grads)])
    st = [p[k].copy() for k in ("U", "W", "b", "Vo", "c")]

    def step(sent):
        loss, *new = _pt_fn(*st, sent[:-1], sent[1:])
        st[:] = new
        return float(loss)
    return step


# ---- hand-written C loop (RNNLM stand-in) ----------------------------------------------------

C_SRC = r"""
#include <math.h>
#include <string.h>
#include <stdlib.h>
/* Elman RNN, SGD with BPTT over each sentence; layouts U[V][H], W[H][H], Vo[H][V]. */
double train(int H, int V, int nsent, const long *off, const long *words, float *U, float *W,
             float *b, float *Vo, float *c, float lr, int maxT) {
    float *hs = calloc((size_t)(maxT + 1) * H, sizeof(float));
    float *pr = malloc((size_t)maxT * V * sizeof(float));
    float *dh = malloc((size_t)maxT * H * sizeof(float));
    float *dz = malloc((size_t)maxT * H * sizeof(float));
    float *dn = malloc((size_t)H * sizeof(float));
    double total = 0;
    for (int s = 0; s < nsent; s++) {
        const long *w = words + off[s];
        int T = (int)(off[s + 1] - off[s]) - 1;
        for (int t = 0; t < T; t++) {
            float *hp = hs + (size_t)t * H, *h = hp + H;
            for (int j = 0; j < H; j++) h[j] = U[(size_t)w[t] * H + j] + b[j];
            for (int i = 0; i < H; i++) { float a = hp[i]; const float *Wi = W + (size_t)i * H;
                for (int j = 0; j < H; j++) h[j] += a * Wi[j]; }
            for (int j = 0; j < H; j++) h[j] = 1.f / (1.f + expf(-h[j]));
            float *o = pr + (size_t)t * V;
            memcpy(o, c, V * sizeof(float));
            for (int i = 0; i < H; i++) { float a = h[i]; const float *Vi = Vo + (size_t)i * V;
                for (int k = 0; k < V; k++) o[k] += a * Vi[k]; }
            float m = o[0]; for (int k = 1; k < V; k++) if (o[k] > m) m = o[k];
            float sum = 0; for (int k = 0; k < V; k++) { o[k] = expf(o[k] - m); sum += o[k]; }
            float inv = 1.f / sum; for (int k = 0; k < V; k++) o[k] *= inv;
            total -= log(o[w[t + 1]]);
            o[w[t + 1]] -= 1.f;
            float *d = dh + (size_t)t * H;
            for (int i = 0; i < H; i++) { const float *Vi = Vo + (size_t)i * V; float a = 0;
                for (int k = 0; k < V; k++) a += Vi[k] * o[k]; d[i] = a; }
        }
        memset(dn, 0, H * sizeof(float));
        for (int t = T - 1; t >= 0; t--) {
            float *h = hs + (size_t)(t + 1) * H, *z = dz + (size_t)t * H, *d = dh + (size_t)t * H;
            for (int j = 0; j < H; j++) z[j] = (d[j] + dn[j]) * h[j] * (1.f - h[j]);
            for (int i = 0; i < H; i++) { const float *Wi = W + (size_t)i * H; float a = 0;
                for (int j = 0; j < H; j++) a += Wi[j] * z[j]; dn[i] = a; }
        }
        for (int t = 0; t < T; t++) {
            float *h = hs + (size_t)(t + 1) * H, *hp = h - H, *o = pr + (size_t)t * V;
            float *z = dz + (size_t)t * H;
            for (int i = 0; i < H; i++) { float a = -lr * h[i]; float *Vi = Vo + (size_t)i * V;
                for (int k = 0; k < V; k++) Vi[k] += a * o[k]; }
            for (int k = 0; k < V; k++) c[k] -= lr * o[k];
            for (int i = 0; i < H; i++) { float a = -lr * hp[i]; float *Wi = W + (size_t)i * H;
                for (int j = 0; j < H; j++) Wi[j] += a * z[j]; }
            for (int j = 0; j < H; j++) { b[j] -= lr * z[j]; U[(size_t)w[t] * H + j] -= lr * z[j]; }
        }
    }
    free(hs); free(pr); free(dh); free(dz); free(dn);
    return total;
}
"""


def c_library():
    d = Path(tempfile.mkdtemp(prefix="fig2_"))
    src, lib = d / "rnn.c", d / "rnn.so"
    src.write_text(C_SRC)
    subprocess.run(["cc", "-O3", "-march=native", "-ffast-math", "-shared", "-fPIC",
                    str(src), "-o", str(lib), "-lm"], check=True)
    so = ctypes.CDLL(str(lib))
    so.train.restype = ctypes.c_double
    return so


def c_run(so, st: dict, sents: list[np.ndarray]) -> tuple[float, float]:
    """(seconds, total loss) of training ``st`` (updated in place) on ``sents`` entirely in C."""
    off = np.cumsum([0] + [len(s) for s in sents]).astype(np.int64)
    words = np.concatenate(sents).astype(np.int64)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    H = st["W"].shape[0]
    t0 = time.perf_counter()
    total = so.train(H, VOCAB, len(sents), ptr(off), ptr(words), ptr(st["U"]), ptr(st["W"]),
                     ptr(st["b"]), ptr(st["Vo"]), ptr(st["c"]), ctypes.c_float(LR),
                     max(len(s) for s in sents))
    return time.perf_counter() - t0, total


# ---- driver ----------------------------------------------------------------------------------

def c_trainer(so, p: dict):
    """The C loop as a per-sentence step (one ``train`` call per sentence), so that it can be
    timed interleaved with the other rows."""
    st = {k: np.ascontiguousarray(v.copy()) for k, v in p.items()}

    def step(sent):
        return c_run(so, st, [sent])[1]
    return step


def run_rows(makers: dict, p, warm, sents) -> dict[str, tuple[float, float]]:
    """``{row: (seconds, total loss)}``: every row trains from ``p`` on ``sents``, the rows
    interleaved sentence by sentence (in a rotating order), so that a change of load on a
    shared machine hits every row alike."""
    steps = {}
    for name, make in makers.items():
        try:
            steps[name] = make(p)
        except ImportError as exc:
            print(f"skip {name}: {exc}")
    for step in steps.values():
        for s in warm:
            step(s)
    names = list(steps)
    secs = dict.fromkeys(names, 0.0)
    loss = dict.fromkeys(names, 0.0)
    clock = time.perf_counter
    for i, s in enumerate(sents):
        for name in names[i % len(names):] + names[:i % len(names)]:
            t0 = clock()
            loss[name] += steps[name](s)
            secs[name] += clock() - t0
    return {n: (secs[n], loss[n]) for n in names}


ROWS = {"lazyarr scan": lazyarr_trainer, "lazyarr scan + compile": lazyarr_compiled_trainer,
        "NumPy (hand BPTT)": numpy_trainer, "PyTorch eager": torch_trainer,
        "JAX jit + lax.scan": jax_trainer, "PyTensor scan": pytensor_trainer}
C_ROW = "C loop (RNNLM stand-in)"
OURS = ("lazyarr scan", "lazyarr scan + compile")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few sentences of 3 lengths (< 1 min)")
    ap.add_argument("--no-pytensor", action="store_true")
    ap.add_argument("--sizes", default="50,100,200,500")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pytensor-child", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    limit_threads(args.threads)
    sizes = [int(x) for x in args.sizes.split(",")]
    n_sent = {50: 150, 100: 120, 200: 80, 500: 40}
    lengths = LENGTHS
    rows = dict(ROWS)
    if args.quick:
        n_sent = {k: max(v // 6, 8) for k, v in n_sent.items()}
        lengths = (10, 20)
        rows.pop("PyTensor scan")  # its compilation alone takes most of a minute
    if args.no_pytensor:
        rows.pop("PyTensor scan", None)
    if args.pytensor_child:
        rows = {"PyTensor scan": ROWS["PyTensor scan"]}
    # PyTensor runs in a process of its own: in this one, it left every BLAS-using row
    # (lazyarr, NumPy, itself) several times slower at --threads 2 on a quiet machine (lazyarr
    # compiled H=50: 6,263 words/s beside it, 25,798 without it), while JAX and the C loop
    # kept their speed
    pytensor_apart = not args.pytensor_child and rows.pop("PyTensor scan", None) is not None
    so = None if args.pytensor_child else c_library()
    warm = warm_data(lengths)
    result: dict = {}
    for H in sizes:
        p = init_params(H)
        sents = make_data(n_sent.get(H, 40), seed=H + 1, lengths=lengths)
        n_words = sum(len(s) - 1 for s in sents)
        makers = dict(rows)
        if so is not None:
            makers[C_ROW] = lambda p, so=so: c_trainer(so, p)
        for name, (secs, loss) in run_rows(makers, p, warm, sents).items():
            result.setdefault(name, {})[H] = {"words_per_s": n_words / secs,
                                              "mean_loss": loss / n_words}
        print(f"hidden {H}: done", flush=True)
    if args.pytensor_child:
        Path(args.pytensor_child).write_text(json.dumps(result))
        return result
    if pytensor_apart:
        result.update(pytensor_in_child(args))
    report(result, sizes, args)
    return result


def pytensor_in_child(args) -> dict:
    """The PyTensor row, timed in a child process on the same sentences and threads."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pytensor.json"
        cmd = [sys.executable, "-m", "bench.fig2", "--sizes", args.sizes, "--threads",
               str(args.threads), "--pytensor-child", str(out)] + (["--quick"] * args.quick)
        r = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1])
        if r.returncode != 0 or not out.exists():
            print("(PyTensor child failed: row skipped)")
            return {}
        return {name: {int(H): v for H, v in by_h.items()}
                for name, by_h in json.loads(out.read_text()).items()}


def report(result: dict, sizes: list[int], args) -> None:
    names = list(result)
    hdr = ["row"] + [f"h={H} words/s" for H in sizes] + [f"h={H} loss" for H in sizes]
    body = [[n] + [result[n].get(H, {}).get("words_per_s", float("nan")) for H in sizes]
            + [result[n].get(H, {}).get("mean_loss", float("nan")) for H in sizes]
            for n in names]
    print(table(hdr, body, f"Figure 2: Elman RNN training, words/s (batch 1, BPTT, SGD, "
                           f"float32, {threads()} thread(s))"))
    peers = [n for n in names if n not in OURS and n != C_ROW]
    for H in sizes:
        best_name, best = max(((n, result[n][H]["words_per_s"]) for n in peers
                               if H in result[n]), key=lambda t: t[1],
                              default=("-", float("nan")))
        cl = result.get(C_ROW, {}).get(H, {}).get("words_per_s", float("nan"))
        for ours in OURS:
            la = result.get(ours, {}).get(H, {}).get("words_per_s", float("nan"))
            print(f"h={H}: {ours}: {la / best:.2f}x the best peer ({best_name}), "
                  f"{la / cl:.2f}x the C loop")
    path = save_json("fig2", {"sizes": sizes, "vocab": VOCAB, "threads": threads(),
                              "quick": bool(args.quick), "rows": result})
    print(f"JSON: {path}")
    png = chart(result, sizes)
    if png:
        print(f"PNG: {png}")


def chart(result: dict, sizes: list[int]) -> Path | None:
    """Words/s against hidden size, one line per implementation (log scale), like Figure 2."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, per in result.items():
        hs = [H for H in sizes if H in per]
        ax.plot(hs, [per[H]["words_per_s"] for H in hs], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("number of hidden units")
    ax.set_ylabel("words per second")
    ax.set_title("Elman RNN, vocab 1000, batch 1, BPTT + SGD (float32)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "fig2.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
