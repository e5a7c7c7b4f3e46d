"""Fused elementwise ops: the contract between the fusion rewrite and the kernel generators.

A `Composite` is a small scalar program applied elementwise over broadcast inputs; the fusion
rewrite builds it from a connected group of `Elemwise`/`Cast` nodes, and ``exec_cpu``/``exec_gpu``
generate one loop for it. ``FusedReduce`` is a composite whose single output is reduced at once
(``sum(exp(x - m))`` in one pass).

Parameters (all hashable):

* ``in_dtypes``: the dtype of each input, in input order;
* ``steps``: ``(name, args, dtype, value)`` per step, where ``name`` is a scalar-table name, or
  ``"cast"`` (one arg, converted to ``dtype``), or ``"const"`` (no args, Python scalar ``value``);
  ``args`` refer to inputs as ``0..n_in-1`` and to step ``k`` as ``n_in + k``;
* ``out_refs``: the refs computed as outputs.

Every output has the broadcast shape of all the inputs (fusion only groups nodes for which that
holds); inputs may be smaller and broadcast.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from .elemwise import broadcast_shapes, cast_values
from .reduce import Reduce
from .scalar_table import TABLE


class Composite(Op):
    """Several elementwise steps fused into one node (one pass over the data)."""

    raises_on_values = False
    exact_params = True  # const steps: 0.0 and -0.0 are different programs

    def __init__(self, in_dtypes: tuple, steps: tuple, out_refs: tuple):
        self.in_dtypes, self.steps, self.out_refs = in_dtypes, steps, out_refs
        n_in = len(in_dtypes)
        dts = list(in_dtypes) + [s[2] for s in steps]
        self.out_dtypes = tuple(dts[r] for r in out_refs)
        self.nout = len(out_refs)
        for k, (name, args, _dt, _val) in enumerate(steps):
            if name not in ("cast", "const") and name not in TABLE:
                raise ValueError(f"Composite step {k}: unknown scalar function {name!r}")
            if any(not 0 <= a < n_in + k for a in args):
                raise ValueError(f"Composite step {k}: argument refers forward: {args}")

    def infer(self, *inputs: Var):
        shape = broadcast_shapes(*[v.shape for v in inputs]) if inputs else ()
        return [(dt, shape) for dt in self.out_dtypes]

    def evaluate(self, xs) -> list[np.ndarray]:
        """NumPy reference: the values of ``out_refs`` (broadcast to the full shape)."""
        shape = np.broadcast_shapes(*[x.shape for x in xs]) if xs else ()
        vals = list(xs)
        for name, args, dt, value in self.steps:
            if name == "const":
                vals.append(np.asarray(value, dtype=dt))
            elif name == "cast":
                vals.append(cast_values(np.asarray(vals[args[0]]), dt))
            else:
                r = np.asarray(TABLE[name].np_fn(*[vals[a] for a in args]))
                vals.append(r if r.dtype == dt else r.astype(dt))
        outs = []
        for r in self.out_refs:
            v = vals[r]
            outs.append(v if v.shape == shape else np.broadcast_to(v, shape).copy())
        return outs

    def perform(self, *xs: np.ndarray):
        outs = self.evaluate(xs)
        return outs[0] if self.nout == 1 else tuple(outs)

    def __repr__(self) -> str:
        names = [s[0] for s in self.steps if s[0] != "const"]
        return f"Composite{{{','.join(names)}}}"


class FusedReduce(Op):
    """``reduce(composite(*inputs))``: a single-output composite reduced in the same pass."""

    raises_on_values = False

    def __init__(self, composite: Composite, reduce: Reduce):
        if composite.nout != 1:
            raise ValueError("FusedReduce needs a single-output composite")
        self.composite, self.reduce = composite, reduce

    def infer(self, *inputs: Var):
        (dt, shape), = self.composite.infer(*inputs)
        return self.reduce.infer(Var(dt, shape))

    def perform(self, *xs: np.ndarray) -> np.ndarray:
        return self.reduce.perform(self.composite.evaluate(xs)[0])

    def __repr__(self) -> str:
        return f"FusedReduce{{{self.reduce!r} of {self.composite!r}}}"
