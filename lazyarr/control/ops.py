"""The control-flow ops: `Cond` (lazy: only the chosen branch runs), `Scan` and `While`.

Each holds its bodies as `InnerGraph` parameters, so nodes intern and key structurally like any
other op. A body is compiled once per op (``graph.pipeline.compile_fgraph``: rewrites and the
native linker) and the program is kept on the op; the loop (``_loop.run_scan``, in C) then
calls it once per step, writing each step's stacked outputs into arrays allocated once before
the loop. A scan also compiles the body with its carries donated, and runs that program on
the steps whose carries are buffers the loop alone holds (made by the previous step), so an
update of a carry (``c[i] = v``) writes into it instead of copying it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..graph import pipeline
from ..graph.basic import Op, Var
from ..graph.inner import InnerGraph
from ._loop import run_scan_static, run_while

#: run counters, read by tests to prove laziness and count loop passes
counters = {"cond_true": 0, "cond_false": 0, "scan_runs": 0, "scan_steps": 0,
            "while_runs": 0, "while_steps": 0}


def program(op: Op, g: InnerGraph, donate: tuple = ()) -> Callable:
    """The compiled program of inner graph ``g`` held by ``op`` (compiled on first use);
    ``donate``: input positions whose buffers output ``k`` may take for input ``k`` (see
    `donated_carries`)."""
    progs = op.__dict__.setdefault("_programs", {})
    key = (id(g), donate) if donate else id(g)
    p = progs.get(key)
    if p is None:
        fg = g.fgraph()
        if donate:
            fg.donate = {k: k for k in donate}
        p = progs[key] = pipeline.compile_fgraph(fg)
    return p


def donated_carries(g: InnerGraph, n_carry: int) -> tuple:
    """The carries of body ``g`` that a loop may let the body write into: arrays (not 0-d
    counters) of a static shape whose new value is an update of one (``c[i] = v``), where
    writing in place saves a copy of the whole carry. None where no carry is: the body is
    then compiled once only."""
    def updated(k: int) -> bool:
        o, i = g.outputs[k], g.inputs[k]
        return (o is not i and o.owner is not None and hasattr(o.owner.op, "perform_into")
                and o.dtype == i.dtype and o.shape == i.shape and i.shape != ()
                and None not in i.shape)

    return tuple(k for k in range(n_carry) if updated(k)) and tuple(
        k for k in range(n_carry) if g.outputs[k] is not g.inputs[k]
        and g.outputs[k].dtype == g.inputs[k].dtype and g.outputs[k].shape == g.inputs[k].shape
        and g.inputs[k].shape != () and None not in g.inputs[k].shape)


def _types(g: InnerGraph) -> list[tuple[np.dtype, tuple]]:
    return [(v.dtype, v.shape) for v in g.outputs]


class Cond(Op):
    """``cond(pred, *operands, *true_extras, *false_extras)``: the outputs of one branch.

    Params: the two branch graphs (inputs: operands then that branch's extras) and the operand
    and extra counts. Lazy: the VM computes the predicate, then only the chosen branch's inputs.
    """

    lazy = True

    def __init__(self, true_g: InnerGraph, false_g: InnerGraph, n_ops: int, n_te: int,
                 n_fe: int):
        self.true_g, self.false_g = true_g, false_g
        self.n_ops, self.n_te, self.n_fe = n_ops, n_te, n_fe
        self.inner_graphs = (true_g, false_g)
        self.nout = len(true_g.outputs)

    def infer(self, *inputs: Var):
        return _types(self.true_g)

    def branch_inputs(self, taken: bool) -> range:
        """Positions (in the node's inputs) that the taken branch reads, after the predicate."""
        first = 1 + self.n_ops + (0 if taken else self.n_te)
        return range(first, first + (self.n_te if taken else self.n_fe))

    def _run(self, taken: bool, get: Callable[[int], np.ndarray]):
        g = self.true_g if taken else self.false_g
        counters["cond_true" if taken else "cond_false"] += 1
        args = [get(1 + i) for i in range(self.n_ops)]
        args += [get(i) for i in self.branch_inputs(taken)]
        out = program(self, g)(args)
        return out[0] if self.nout == 1 else tuple(out)

    def perform(self, pred, *rest):
        return self._run(bool(pred), lambda i: rest[i - 1])

    def perform_lazy(self, get, n_in):
        return self._run(bool(get(0)), get)


class Scan(Op):
    """``scan(length, *carry_init, *xs, *consts)`` -> ``(*final_carry, *stacked_ys)``.

    Params: the body graph (inputs: carries, one slice of each ``xs``, consts; outputs: new
    carries, then per-step ys), the counts, ``reverse``, the static length (or ``None`` when the
    length is only known at run time) and ``ys_last``: per y, True to keep only the last step's
    value instead of stacking (the rewrite for stacked outputs read only at their end).
    """

    def __init__(self, body: InnerGraph, n_carry: int, n_xs: int, n_consts: int,
                 reverse: bool, length: int | None, ys_last: tuple):
        self.body = body
        self.n_carry, self.n_xs, self.n_consts = n_carry, n_xs, n_consts
        self.reverse, self.length, self.ys_last = reverse, length, ys_last
        self.inner_graphs = (body,)
        self.nout = len(body.outputs)

    def infer(self, *inputs: Var):
        out = _types(self.body)
        nc = self.n_carry
        res = out[:nc]
        for (dt, sh), last in zip(out[nc:], self.ys_last):
            res.append((dt, sh if last else (self.length,) + tuple(sh)))
        return res

    def perform(self, length, *args):
        n = int(length)
        nc, nx = self.n_carry, self.n_xs
        if n < 0:
            n = 0
        if n == 0 and any(self.ys_last):
            raise IndexError("scan: the last step of a loop of length 0 was asked for")
        y_types, static = self._plan()
        if static:  # the hot path: every output's shape is known, the loop is in C
            counters["scan_runs"] += 1
            counters["scan_steps"] += n
            donate = self.__dict__.get("_donate_")
            if donate is None:
                donate = self.__dict__["_donate_"] = donated_carries(self.body, nc)
            dprog = program(self, self.body, donate) if donate and n > 1 else None
            return run_scan_static(program(self, self.body), args, n, nc, nx, y_types,
                                   self.ys_last, self.reverse, self.nout == 1, dprog, donate)
        for x in args[nc:nc + nx]:
            if x.shape[0] < n:
                raise ValueError(f"scan: a sequence of length {x.shape[0]} is shorter than "
                                 f"the scan length {n}")
        counters["scan_runs"] += 1
        counters["scan_steps"] += n
        ys = [None if None in sh else np.empty(sh if last else (n, *sh), dt)
              for (_, sh, dt), last in zip(y_types, self.ys_last)]
        carry = self._steps_learning_shapes(program(self, self.body), list(args[:nc]),
                                            args[nc:nc + nx], list(args[nc + nx:]), ys, n)
        for y in ys:
            if y is None:
                raise ValueError("scan of length 0 whose per-step output shape is known "
                                 "only at run time")
        res = [np.asarray(c) for c in carry] + ys
        return res[0] if self.nout == 1 else tuple(res)

    def _plan(self) -> tuple:
        """``([(typenum, step shape, dtype) per y], every y shape static)``, made on the first
        run and kept on the op (a training loop runs the same scan every step)."""
        plan = self.__dict__.get("_plan_")
        if plan is None:
            ys = [(dt.num, tuple(sh), dt) for dt, sh in _types(self.body)[self.n_carry:]]
            plan = self.__dict__["_plan_"] = (ys, all(None not in sh for _, sh, _ in ys))
        return plan

    def _steps_learning_shapes(self, prog, carry, xs, consts, ys, n):
        """The step loop in Python, for outputs whose shape is known only once a step ran."""
        nc = self.n_carry
        for step in range(n):
            t = n - 1 - step if self.reverse else step
            outs = prog(carry + [x[t] for x in xs] + consts)
            carry = outs[:nc]
            for k, o in enumerate(outs[nc:]):
                if ys[k] is None:
                    ys[k] = np.empty(o.shape if self.ys_last[k] else (n,) + o.shape, o.dtype)
                elif np.shape(o) != ys[k].shape[0 if self.ys_last[k] else 1:]:
                    raise ValueError(
                        f"scan: output {k} of step {t} has shape {np.shape(o)}, another step's "
                        f"has {ys[k].shape[0 if self.ys_last[k] else 1:]}; every step's outputs "
                        f"must have one shape to be stacked")
                if self.ys_last[k]:
                    if step == n - 1:
                        ys[k][...] = o
                else:
                    ys[k][t] = o
        return carry


class While(Op):
    """``while(*init, *cond_extras, *body_extras)`` -> final carry, or with ``record`` also the
    trajectory: every carry value the body was applied to, stacked, and the step count.

    Params: the condition graph (carries + its extras -> bool scalar), the body graph (carries +
    its extras -> new carries), the counts and ``record``.
    """

    def __init__(self, cond_g: InnerGraph, body_g: InnerGraph, n_carry: int, n_ce: int,
                 n_be: int, record: bool):
        self.cond_g, self.body_g = cond_g, body_g
        self.n_carry, self.n_ce, self.n_be, self.record = n_carry, n_ce, n_be, record
        self.inner_graphs = (cond_g, body_g)
        self.nout = n_carry * (2 if record else 1) + (1 if record else 0)

    def infer(self, *inputs: Var):
        out = _types(self.body_g)
        if self.record:
            out = out + [(dt, (None,) + tuple(sh)) for dt, sh in out]
            out.append((np.dtype(np.int64), ()))
        return out

    def perform(self, *args):
        nc = self.n_carry
        carry = list(args[:nc])
        ce = list(args[nc:nc + self.n_ce])
        be = list(args[nc + self.n_ce:])
        cprog = program(self, self.cond_g)
        bprog = program(self, self.body_g)
        counters["while_runs"] += 1
        carry, traj, steps = run_while(cprog, bprog, carry, ce, be, self.record)
        counters["while_steps"] += steps
        res = [np.asarray(c) for c in carry]
        if self.record:
            for k, (dt, _sh) in enumerate(_types(self.body_g)):
                res.append(np.stack(traj[k]) if traj[k] else
                           np.empty((0,) + tuple(carry[k].shape), dt))
            res.append(np.asarray(steps, np.int64))
        return res[0] if self.nout == 1 else tuple(res)
