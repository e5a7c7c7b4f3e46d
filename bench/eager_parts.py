"""Where the time of one eager training step goes (fig1's "lazyarr eager" row, issue 7).

    python -m bench.eager_parts [--cells 'logreg b1,mlp500 b10'] [--steps N] [--threads N]

Per cell of fig1 (model, minibatch): the microseconds of one SGD step's parts, in the order
the step runs them: the ``value_and_grad`` call (the forward graph built over fresh inputs,
then the gradient cache's hit: one `GradientCall` node for the value and gradients), the
update list ``[p - LR * g ...]``, and
``float(loss)`` (the realization: walk, key, trace-cache hit, program run, write-back). As in
fig1's loop, the old parameters are dropped before the loss is read, so the run may write the
new ones into their buffers (kept alive, each step would allocate fresh ones). The
forward build alone is timed in a separate loop (its graphs dropped unrealized, with the
cyclic garbage collector and lazyarr's freeing of dropped graphs off while it runs:
freeing is not building). Each part is
the best of a few repetitions of ``--steps`` steps (a loaded machine inflates them all; read
them side by side).

Beside them, in the same process: the step's linked program run alone (``Program.vm`` on the
loop's minibatches in turn: no graph, no cache, no Python above it) and the
``lazyarr.compile`` step (fig1's "compile" row). The floor is what an eager step costs if
everything of lazyarr's above the program were free: the forward build, the update (both the
user's own code, building graph nodes) and the run. ``compiled / floor`` is then the most
that eager ÷ compiled throughput can reach on this machine (issue 7 asks for 0.7). Table,
JSON (``results/eager_parts.json``) and a PNG bar chart.
"""

from __future__ import annotations

import argparse
import gc
import time

from . import fig1
from .report import bar_chart, bench_env, save_json, table

PARTS = ("value_and_grad", "update", "float(loss)")


def measure_cell(model: str, batch: int, steps: int, reps: int = 5) -> dict[str, float]:
    """Microseconds per step of each part (best of ``reps``) for one fig1 cell."""
    import lazyarr as xp
    from lazyarr.array import _front
    from lazyarr.array.materialize import release_dropped

    loss_fn = fig1.lazyarr_loss(xp)
    vg = xp.value_and_grad(loss_fn)
    data = fig1.make_data(batch)
    ps = [xp.asarray(p) for p in fig1.init_params(fig1.MODELS[model])]
    xs = [xp.asarray(a) for a in data[0]]
    ys = [xp.asarray(a) for a in data[1]]
    lr = fig1.LR
    best = dict.fromkeys((*PARTS, "forward build alone"), float("inf"))
    clock = time.perf_counter_ns
    for rep in range(reps + 1):  # the first repetition warms the caches up
        t = dict.fromkeys(PARTS, 0)
        for i in range(steps):
            x, y = xs[i % fig1.N_DATA], ys[i % fig1.N_DATA]
            t0 = clock()
            loss, g = vg(ps, x, y)
            t1 = clock()
            ps = [p - lr * gp for p, gp in zip(ps, g)]
            t2 = clock()
            del g  # the old parameters are dead now, as in fig1's loop: the run may donate them
            t3 = clock()
            float(loss)
            t4 = clock()
            t["value_and_grad"] += t1 - t0
            t["update"] += t2 - t1
            t["float(loss)"] += t4 - t3
        gc.collect()
        gc.disable()  # the dropped graphs are cycles: their collection is not building,
        every = _front.set_dropped_prune_at(1 << 40)  # nor is lazyarr's freeing of them
        t0 = clock()
        for i in range(steps):
            loss_fn(ps, xs[i % fig1.N_DATA], ys[i % fig1.N_DATA])
        t["forward build alone"] = clock() - t0
        _front.set_dropped_prune_at(every)
        release_dropped()  # now, not inside the next repetition's timed steps
        gc.enable()
        gc.collect()
        if rep:
            for k, v in t.items():
                best[k] = min(best[k], v / steps / 1e3)
    best["step"] = sum(best[k] for k in PARTS)
    best["program run"], best["compiled step"] = _run_and_compiled(model, batch, steps, reps)
    best["floor"] = best["forward build alone"] + best["update"] + best["program run"]
    best["eager / compiled"] = best["compiled step"] / best["step"]
    best["compiled / floor"] = best["compiled step"] / best["floor"]
    return best


def _run_and_compiled(model: str, batch: int, steps: int, reps: int) -> tuple[float, float]:
    """Microseconds per step (best of ``reps``) of the compiled training step's linked
    program alone, and of the compiled step as fig1 calls it."""
    import numpy as np

    import lazyarr as xp

    _, train_step = fig1._lazyarr_fns()
    step = xp.compile(train_step, donate_argnums=0)
    data = fig1.make_data(batch)
    ps = [xp.asarray(p) for p in fig1.init_params(fig1.MODELS[model])]
    xs = [xp.asarray(a) for a in data[0]]
    ys = [xp.asarray(a) for a in data[1]]
    for i in range(3):
        ps, loss = step(ps, xs[i], ys[i])
    prog = step.program(ps, xs[0], ys[0])
    params = [np.array(p) for p in ps]
    # the loop's minibatches in turn, as the eager and compiled loops read them (one
    # minibatch read again and again stays in cache: ~10% less at logreg b60)
    argsets = [params + [np.asarray(xs[i]), np.asarray(ys[i])] + list(prog.extras_data)
               for i in range(fig1.N_DATA)]
    vm = prog.vm
    run = compiled = float("inf")
    clock = time.perf_counter_ns
    for rep in range(reps + 1):
        t0 = clock()
        for i in range(steps):
            # the updates land in the parameter copies, as a donated call's would
            vm(argsets[i % fig1.N_DATA])
        t1 = clock()
        for i in range(steps):
            ps, loss = step(ps, xs[i % fig1.N_DATA], ys[i % fig1.N_DATA])
        float(loss)
        t2 = clock()
        if rep:
            run = min(run, (t1 - t0) / steps / 1e3)
            compiled = min(compiled, (t2 - t1) / steps / 1e3)
    return run, compiled


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="logreg b1,logreg b60,mlp500 b10,mlp500 b60",
                    help="fig1 cells, e.g. 'logreg b1,mlp500 b10'")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2, help="as fig1 (default 2)")
    args = ap.parse_args(argv)
    bench_env()
    fig1.set_threads(args.threads)
    cells = []
    for c in args.cells.split(","):
        model, b = c.strip().split()
        cells.append((model, int(b.lstrip("b"))))
    results = {}
    for model, batch in cells:
        steps = args.steps if model == "logreg" else max(args.steps // 5, 50)
        results[f"{model} b{batch}"] = measure_cell(model, batch, steps)
    cols = [*PARTS, "step", "forward build alone"]
    rows = [[cell] + [r[k] for k in cols] for cell, r in results.items()]
    print(table(["cell"] + [f"{k} us" for k in cols], rows,
                f"One eager SGD step of fig1, by part ({args.threads} thread(s))"))
    cols = ["step", "floor", "program run", "compiled step", "eager / compiled",
            "compiled / floor"]
    rows = [[cell] + [r[k] for k in cols] for cell, r in results.items()]
    print()
    print(table(["cell", "eager step us", "floor us", "program run us", "compiled step us",
                 "eager / compiled", "compiled / floor"], rows,
                "The eager step beside its floor (forward build + update + program run) and "
                "the compiled step"))
    save_json("eager_parts", {"threads": args.threads, "results": results})
    bar_chart("eager_parts", list(results), {k: [r[k] for r in results.values()]
                                             for k in (*PARTS, "forward build alone")},
              "us per step", "Eager SGD step of fig1, by part", log=True)
    return results


if __name__ == "__main__":
    main()
