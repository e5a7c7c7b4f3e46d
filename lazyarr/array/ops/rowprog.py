"""Row programs: a small chain of elementwise nodes and reductions over the rows of one
``(R, C)`` problem, run row by row in one kernel.

The softmax / cross-entropy tail of a minibatch step (row max, shift and exp, row sums, the
gradient row, the loss) is eight nodes on arrays of a few hundred elements: each costs more to
dispatch than to compute. `rewrites.rowfusion` gathers such a chain into one `RowProgram`
node, ``exec_cpu.rowgen`` generates its kernel.

Parameters (hashable):

* ``n_in``: the node's inputs;
* ``members``: ``(op, refs, types)`` per fused node, in topological order: ``op`` an
  `Elemwise`, `Composite`, `Reduce` or `FusedReduce`; ``refs`` its inputs, numbering the
  node's inputs ``0..n_in-1`` and then every member output in order; ``types`` its outputs'
  ``(dtype, shape)``;
* ``out_refs``: the values the node returns.

Every value has the shape ``(R, C)``, ``(R, 1)``, ``(R,)`` or holds one element (the
rewrite checks it): a row's elements, a row's one value, or a value shared by all rows.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var


def _one(shape: tuple) -> bool:
    return all(d == 1 for d in shape)


def access(shape: tuple, domain: str, rows: int, cols: int | None) -> str | None:
    """How a member running over ``domain`` (``"vec"``: each element of each row; ``"col"``
    or ``"r"``: one value per row, of an ``(R, 1)`` or ``(R,)`` result) reads a value of
    ``shape``, as NumPy broadcasts it: ``"vec"`` (the row's elements), ``"col"`` (the row's
    one value), ``"bvec"`` (a row shared by all rows), ``"one"`` (one element); or None."""
    if domain == "vec":
        if shape == (rows, cols):
            return "vec"
        if shape == (rows, 1):
            return "col"
        if 1 <= len(shape) <= 2 and shape[-1] == cols and _one(shape[:-1]):
            return "bvec"
        return "one" if len(shape) <= 2 and _one(shape) else None
    if domain == "col":
        if shape == (rows, 1):
            return "col"
        return "one" if len(shape) <= 2 and _one(shape) else None
    if shape == (rows,):  # domain "r"
        return "col"
    return "one" if len(shape) <= 1 and _one(shape) else None



def domain(shape: tuple) -> tuple[int, int | None, str] | None:
    """``(R, C or None, domain)`` of a member computing over ``shape``: ``"vec"`` (each
    element of each row of an ``(R, C)`` problem), ``"col"`` (one value per row, ``(R, 1)``)
    or ``"r"`` (one value per row, ``(R,)``); None for other shapes."""
    if len(shape) == 2 and shape[1] > 1:
        return shape[0], shape[1], "vec"
    if len(shape) == 2:
        return shape[0], None, "col"
    if len(shape) == 1:
        return shape[0], None, "r"
    return None

class RowProgram(Op):
    """Fused nodes over the rows of an ``(R, C)`` problem (see the module docstring)."""

    raises_on_values = False
    exact_params = True  # member ops hold constants (0.0 and -0.0 differ)

    def __init__(self, n_in: int, members: tuple, out_refs: tuple):
        self.n_in, self.members, self.out_refs = n_in, members, out_refs
        types = []
        for _op, refs, outs in members:
            if any(not 0 <= r < n_in + len(types) for r in refs):
                raise ValueError(f"RowProgram: a member reads a later value: {refs}")
            types.extend(outs)
        self.types = tuple(types)
        self.nout = len(out_refs)

    def value_types(self, in_types: list) -> list:
        """``(dtype, shape)`` of every value: the inputs' (given), then the members'."""
        return list(in_types) + list(self.types)

    def infer(self, *inputs: Var):
        return [self.types[r - self.n_in] for r in self.out_refs]

    def perform(self, *xs: np.ndarray):
        """NumPy reference: the members' own ``perform``, in order."""
        vals = list(xs)
        for op, refs, outs in self.members:
            r = op.perform(*[vals[k] for k in refs])
            vals.extend([r] if len(outs) == 1 else list(r))
        res = tuple(np.asarray(vals[r]) for r in self.out_refs)
        return res[0] if self.nout == 1 else res

    def __repr__(self) -> str:
        return f"RowProgram{{{', '.join(repr(m[0]) for m in self.members)}}}"
