"""Fused elementwise kernels (issue 6): lazyarr's generated C against NumPy, numexpr, JAX jit and
PyTorch, float32, 2 threads, 10^7 values, all measured in one run.

(a) memory-bound ``(a*b + c)*0.5 - a/(b*b + 1)`` against a plain copy moving the same bytes
    (target >= 85 % of copy bandwidth);
(b) transcendental ``exp(-x*x/2)*sin(x) + 0.5*x*cos(x)`` (target >= 2x numexpr, >= 4x NumPy,
    special values right);
(c) row softmax on 1000 x 10000;
(d) chain (b) on 100 values, cached call (target <= 10 us);
(e) cold compile of one fused kernel (target <= 300 ms) and warm load from disk (<= 5 ms).

The lazyarr kernels are built as one ``Composite`` node (the contract of the fusion rewrite)
traced from the same Python expression, and run through ``exec_cpu.link``; the front-end path
(``xp`` arrays) is timed beside it.

    python -m bench.elementwise_bench [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.report import bar_chart, bench_env, save_json, table

bench_env()
THREADS = 2
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true "
                      f"intra_op_parallelism_threads={THREADS}")

import lazyarr as xp  # noqa: E402
from lazyarr.array.ops.composite import Composite  # noqa: E402
from lazyarr.exec_cpu import ccache, link  # noqa: E402
from lazyarr.exec_cpu.native import elementwise_kernel  # noqa: E402
from lazyarr.graph import FunctionGraph, Var, apply  # noqa: E402

F32 = np.dtype(np.float32)


# ---- a tiny tracer: a Python expression -> one Composite ------------------------------------

class _T:
    def __init__(self, tr, ref):
        self.tr, self.ref = tr, ref

    def _b(self, name, other, rev=False):
        o = other if isinstance(other, _T) else self.tr.const(other)
        return self.tr.emit(name, o, self) if rev else self.tr.emit(name, self, o)

    __add__ = lambda s, o: s._b("add", o)  # noqa: E731
    __radd__ = lambda s, o: s._b("add", o, True)  # noqa: E731
    __sub__ = lambda s, o: s._b("subtract", o)  # noqa: E731
    __rsub__ = lambda s, o: s._b("subtract", o, True)  # noqa: E731
    __mul__ = lambda s, o: s._b("multiply", o)  # noqa: E731
    __rmul__ = lambda s, o: s._b("multiply", o, True)  # noqa: E731
    __truediv__ = lambda s, o: s._b("divide", o)  # noqa: E731
    __rtruediv__ = lambda s, o: s._b("divide", o, True)  # noqa: E731
    __neg__ = lambda s: s.tr.emit("negative", s)  # noqa: E731


class _Tracer:
    def __init__(self, n_in, dt):
        self.n_in, self.dt, self.steps = n_in, dt, []

    def emit(self, name, *args):
        self.steps.append((name, tuple(a.ref for a in args), self.dt, None))
        return _T(self, self.n_in + len(self.steps) - 1)

    def const(self, v):
        self.steps.append(("const", (), self.dt, float(v)))
        return _T(self, self.n_in + len(self.steps) - 1)

    def __getattr__(self, name):  # exp, sin, cos...
        return lambda x: self.emit(name, x)


def fused_program(fn, shapes, dt=F32):
    """``program(args) -> [out]`` computing ``fn(ns, *inputs)`` as one fused kernel."""
    tr = _Tracer(len(shapes), dt)
    out = fn(tr, *[_T(tr, i) for i in range(len(shapes))])
    comp = Composite(tuple([dt] * len(shapes)), tuple(tr.steps), (out.ref,))
    ins = [Var.input(dt, s) for s in shapes]
    y, = apply(comp, *ins)
    return link(FunctionGraph(ins, [y])), y


def chain_a(ns, a, b, c):
    return (a * b + c) * 0.5 - a / (b * b + 1)


def chain_b(ns, x):
    return ns.exp(-x * x / 2) * ns.sin(x) + 0.5 * x * ns.cos(x)


# ---- timing -----------------------------------------------------------------------------------

def best(fn, repeat, number=1) -> float:
    """Best time of ``number`` calls, in seconds per call."""
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        ts.append((time.perf_counter() - t) / number)
    return min(ts)


def _holding(prog, args):
    """A call whose caller still holds the previous result: the program cannot take its
    output buffer back, so it allocates a new one (as NumPy does on every call)."""
    held = [None]

    def call():
        held[0] = prog(args)[0]
    return call


def peers():
    out = {}
    try:
        import numexpr

        numexpr.set_num_threads(THREADS)
        out["numexpr"] = numexpr
    except ImportError:
        pass
    try:
        import jax

        jax.config.update("jax_platforms", "cpu")
        out["jax"] = jax
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(THREADS)
        out["torch"] = torch
    except ImportError:
        pass
    return out


def bench_a(n, repeat, pk):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(n).astype(F32) for _ in range(3))
    prog, _ = fused_program(chain_a, [(n,)] * 3)
    res = {"lazyarr": best(lambda: prog([a, b, c]), repeat)}
    assert np.allclose(prog([a, b, c])[0], chain_a(np, a, b, c), rtol=1e-5, atol=1e-6)
    res["lazyarr (result held: new output each call)"] = best(_holding(prog, [a, b, c]), repeat)
    xp.set_num_threads(1)  # on a shared machine a second thread may wait for a CPU
    res["lazyarr (1 thread)"] = best(lambda: prog([a, b, c]), repeat)
    xp.set_num_threads(THREADS)
    xa, xb, xc = xp.asarray(a), xp.asarray(b), xp.asarray(c)
    res["lazyarr (front end)"] = best(lambda: np.asarray(chain_a(xp, xa, xb, xc)), repeat)
    res["numpy"] = best(lambda: chain_a(np, a, b, c), repeat)
    if "numexpr" in pk:
        ne = pk["numexpr"]
        res["numexpr"] = best(lambda: ne.evaluate("(a*b + c)*0.5 - a/(b*b + 1)",
                                                  local_dict={"a": a, "b": b, "c": c}), repeat)
    if "jax" in pk:
        jax = pk["jax"]
        f = jax.jit(lambda a, b, c: chain_a(None, a, b, c))
        ja, jb, jc = (jax.device_put(v) for v in (a, b, c))
        res["jax.jit"] = best(lambda: f(ja, jb, jc).block_until_ready(), repeat)
    if "torch" in pk:
        t = pk["torch"]
        ta, tb, tc = (t.from_numpy(v) for v in (a, b, c))
        res["torch"] = best(lambda: chain_a(None, ta, tb, tc), repeat)
    # the physical limit: copies moving the same 16 bytes per element (3 reads + 1 write)
    src = np.tile(a, 2)
    dst = np.empty_like(src)
    copy_pre = best(lambda: np.copyto(dst, src), repeat)
    copy_fresh = best(lambda: src.copy(), repeat)
    cprog, _ = fused_program(lambda ns, x: ns.positive(x), [(2 * n,)])
    copy_kernel = best(lambda: cprog([src]), repeat)
    gb = 16 * n / 1e9
    return res, {"copy (numpy copyto, preallocated)": copy_pre,
                 "copy (numpy .copy(), fresh output)": copy_fresh,
                 "copy (lazyarr kernel, 2 threads)": copy_kernel,
                 "GB moved": gb}


def bench_b(n, repeat, pk):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(n) * 3).astype(F32)
    prog, _ = fused_program(chain_b, [(n,)])
    res = {"lazyarr": best(lambda: prog([x]), repeat)}
    res["lazyarr (result held: new output each call)"] = best(_holding(prog, [x]), repeat)
    xx = xp.asarray(x)
    res["lazyarr (front end)"] = best(lambda: np.asarray(chain_b(xp, xx)), repeat)
    with np.errstate(all="ignore"):
        res["numpy"] = best(lambda: chain_b(np, x), repeat)
    if "numexpr" in pk:
        ne = pk["numexpr"]
        res["numexpr"] = best(lambda: ne.evaluate("exp(-x*x/2)*sin(x) + 0.5*x*cos(x)",
                                                  local_dict={"x": x}), repeat)
    if "jax" in pk:
        jax = pk["jax"]
        f = jax.jit(lambda x: chain_b(jax.numpy, x))
        jx = jax.device_put(x)
        res["jax.jit"] = best(lambda: f(jx).block_until_ready(), repeat)
    if "torch" in pk:
        t = pk["torch"]
        tx = t.from_numpy(x)
        res["torch"] = best(lambda: chain_b(t, tx), repeat)
    # special values and accuracy against NumPy in float64
    sp = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -3.5, 80.0, -200.0, 1e5],
                  dtype=F32)
    sprog, _ = fused_program(chain_b, [sp.shape])
    with np.errstate(all="ignore"):
        ref = chain_b(np, sp.astype(np.float64)).astype(F32)
        ref_big = chain_b(np, x[:100000].astype(np.float64))
    got = sprog([sp])[0]
    special_ok = bool(np.array_equal(np.isnan(got), np.isnan(ref)) and
                      np.allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-5, atol=1e-6))
    err = float(np.max(np.abs(prog([x])[0][:100000] - ref_big)))
    return res, {"special values right": special_ok, "max abs error vs float64": err,
                 "special inputs": sp.tolist(), "lazyarr out": got.tolist(),
                 "numpy float64 out": ref.tolist()}


def softmax(ns, x):
    e = ns.exp(x - ns.max(x, axis=1, keepdims=True))
    return e / ns.sum(e, axis=1, keepdims=True)


def bench_c(repeat, pk):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1000, 10000)).astype(F32)
    xx = xp.asarray(x)
    res = {"lazyarr (front end)": best(lambda: np.asarray(softmax(xp, xx)), repeat)}
    ref = softmax(np, x)
    assert np.allclose(np.asarray(softmax(xp, xx)), ref, rtol=1e-5, atol=1e-8)
    res["numpy"] = best(lambda: softmax(np, x), repeat)
    if "numexpr" in pk:
        ne = pk["numexpr"]

        def nesm():
            m = x.max(axis=1, keepdims=True)
            e = ne.evaluate("exp(x - m)", local_dict={"x": x, "m": m})
            s = e.sum(axis=1, keepdims=True)
            return ne.evaluate("e / s", local_dict={"e": e, "s": s})
        res["numexpr"] = best(nesm, repeat)
    if "jax" in pk:
        jax = pk["jax"]
        f = jax.jit(lambda x: jax.nn.softmax(x, axis=1))
        jx = jax.device_put(x)
        res["jax.jit"] = best(lambda: f(jx).block_until_ready(), repeat)
    if "torch" in pk:
        t = pk["torch"]
        tx = t.from_numpy(x)
        res["torch"] = best(lambda: t.softmax(tx, dim=1), repeat)
    return res


def _split_eager(xx, repeat, number) -> tuple[float, float]:
    """Seconds per eager 6(d) call spent building the nodes and materializing them, timed
    apart inside the same calls (building alone, with the pending result dropped each time,
    would time the collection of unrealized graphs instead), best of ``repeat`` batches."""
    clock = time.perf_counter
    splits = []
    for _ in range(repeat):
        tb = tr = 0.0
        for _ in range(number):
            t0 = clock()
            y = chain_b(xp, xx)
            t1 = clock()
            np.asarray(y)
            tr += clock() - t1
            tb += t1 - t0
            del y  # as in the front-end timing: the program may take its output back
        splits.append((tb / number, tr / number))
    return min(splits, key=sum)


def bench_d(repeat, pk):
    # microsecond calls: the best of many batches of 20 (a batch of milliseconds on a shared
    # machine is nearly always interrupted, a short one rarely), as bench.overhead times them
    batches, number = 100 * repeat, 20
    x = np.linspace(-3, 3, 100, dtype=F32)
    prog, _ = fused_program(chain_b, [(100,)])
    res = {"lazyarr (program call)": best(lambda: prog([x]), batches, number)}
    xx = xp.asarray(x)
    res["lazyarr (front end)"] = best(lambda: np.asarray(chain_b(xp, xx)), batches, number)
    build, realize = _split_eager(xx, batches, number)
    res["  of which: building the nodes"] = build
    res["  of which: materialize (cut, key, lookup, run)"] = realize
    if hasattr(xp, "compile"):  # traced once, the program called directly
        f = xp.compile(lambda v: chain_b(xp, v))
        np.asarray(f(x))
        res["lazyarr.compile (NumPy in, Array out)"] = best(lambda: f(x), batches, number)
        ft = xp.compile(lambda v: chain_b(xp, v), trust_input=True)
        ft(x)
        res["lazyarr.compile, trust_input"] = best(lambda: ft(x), batches, number)
    with np.errstate(all="ignore"):
        res["numpy"] = best(lambda: chain_b(np, x), batches, number)
    if "numexpr" in pk:
        ne = pk["numexpr"]
        res["numexpr"] = best(lambda: ne.evaluate("exp(-x*x/2)*sin(x) + 0.5*x*cos(x)",
                                                  local_dict={"x": x}),
                              batches, number)
    if "jax" in pk:
        jax = pk["jax"]
        f = jax.jit(lambda x: chain_b(jax.numpy, x))
        jx = jax.device_put(x)
        res["jax.jit"] = best(lambda: f(jx).block_until_ready(), batches, number)
    if "torch" in pk:
        t = pk["torch"]
        tx = t.from_numpy(x)
        res["torch"] = best(lambda: chain_b(t, tx), batches, number)
    return res


_WARM = """
import time, sys
from lazyarr.exec_cpu import ccache
src = open(sys.argv[1]).read()
ccache.kernel_key(src)  # compiler id and CPU features (once per process)
t = time.perf_counter(); lib = ccache.load(src); dt = time.perf_counter() - t
assert ccache.stats["disk_hits"] == 1 and ccache.stats["builds"] == 0
print(dt)
"""


def bench_e():
    """Cold compile (fresh cache directory) and warm load (a new process, file on disk)."""
    with tempfile.TemporaryDirectory() as d:
        os.environ["LAZYARR_CACHE_DIR"] = d
        ccache.reset()
        ccache._loaded.clear()
        x = Var.input(F32, (100,))
        tr = _Tracer(1, F32)
        out = chain_b(tr, _T(tr, 0))
        comp = Composite((F32,), tuple(tr.steps), (out.ref,))
        y, = apply(comp, x)
        src = elementwise_kernel(y.owner).source(ccache.have_mvec())
        ccache.kernel_key(src)  # compiler id, CPU features: once per process, not per kernel
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        ccache.load(src)
        cold = time.perf_counter() - t
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        srcf = os.path.join(d, "src.c")
        with open(srcf, "w") as f:
            f.write(src)
        warm = min(float(subprocess.run([sys.executable, "-c", _WARM, srcf], check=True,
                                        capture_output=True, text=True,
                                        env=dict(os.environ)).stdout.split()[-1])
                   for _ in range(3))
    os.environ.pop("LAZYARR_CACHE_DIR")
    ccache.reset()
    # on a shared machine the wall time waits for a CPU; the compiler's own CPU time does not
    return {"cold compile": cold, "cold compile: compiler CPU time (user+sys)": cpu,
            "warm load from disk": warm}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10^6 values, fewer repeats")
    args = ap.parse_args(argv)
    n = 10**6 if args.quick else 10**7
    repeat = 3 if args.quick else 7
    xp.set_num_threads(THREADS)
    pk = peers()
    ra, copy = bench_a(n, repeat, pk)
    rb, special = bench_b(n, repeat, pk)
    rc = bench_c(repeat, pk)
    rd = bench_d(repeat, pk)
    re_ = bench_e()

    gb = copy["GB moved"]
    limit = min(v for k, v in copy.items() if k.startswith("copy"))
    limit_fresh = copy["copy (numpy .copy(), fresh output)"]
    rows = [["(a) " + k, v * 1e3, gb / v] for k, v in ra.items()]
    rows += [[k, v * 1e3, gb / v] for k, v in copy.items() if k.startswith("copy")]
    print(table(["(a) memory-bound chain, 1e7 float32", "ms", "GB/s"], rows))
    frac = limit / ra["lazyarr"]
    frac_fresh = limit_fresh / ra["lazyarr (result held: new output each call)"]
    print(f"lazyarr = {100 * frac:.0f} % of the best copy bandwidth (target >= 85 %); "
          f"with a new output each call, {100 * frac_fresh:.0f} % of a copy that also "
          "allocates its output\n")
    print(table(["(b) exp/sin/cos chain, 1e7 float32", "ms", "speed-up of lazyarr"],
                [[k, v * 1e3, v / rb["lazyarr"]] for k, v in rb.items()]))
    print(f"vs numexpr {rb.get('numexpr', float('nan')) / rb['lazyarr']:.2f}x (target >= 2), "
          f"vs NumPy {rb['numpy'] / rb['lazyarr']:.2f}x (target >= 4); special values right: "
          f"{special['special values right']}; "
          f"max abs error {special['max abs error vs float64']:.2g}\n")
    print(table(["(c) row softmax 1000x10000 float32", "ms"],
                [[k, v * 1e3] for k, v in rc.items()]))
    print()
    print(table(["(d) chain (b) on 100 values", "us per call"],
                [[k, v * 1e6] for k, v in rd.items()]))
    print("target: <= 10 us per cached call\n")
    print(table(["(e) one fused kernel", "ms"], [[k, v * 1e3] for k, v in re_.items()]))
    print("targets: cold compile <= 300 ms, warm load <= 5 ms")

    data = {"threads": THREADS, "n": n, "a_seconds": ra, "a_copy": copy,
            "a_fraction_of_copy": frac, "a_fraction_of_fresh_copy": frac_fresh,
            "b_seconds": rb, "b_special": special, "c_seconds": rc, "d_seconds": rd,
            "e_seconds": re_}
    print("JSON:", save_json("elementwise_bench", data))
    libs = sorted({k for r in (ra, rb, rc, rd) for k in r if not k.startswith(" ")})
    series = {lib: [r.get(lib, float("nan")) / r.get("numpy", 1.0) for r in (ra, rb, rc, rd)]
              for lib in libs}
    png = bar_chart("elementwise_bench", ["(a) memory-bound", "(b) exp/sin/cos",
                                          "(c) softmax", "(d) 100 values"],
                    series, "time / NumPy time (lower is better)",
                    f"Elementwise kernels, float32, {THREADS} threads", log=True)
    if png:
        print("PNG:", png)


if __name__ == "__main__":
    main()
