"""Lowering of linalg ops into primitives (specialize phase, before fusion).

``linalg.vector_norm`` keeps its own op up to here, so that its derivative rules (the zero
norm's zero derivative) apply, then becomes the reductions NumPy's ``vector_norm`` computes,
which fusion joins to their elementwise prologue:

* ``ord=2``: ``sqrt(sum(x*x))`` (``sqrt(sum(re*re + im*im))`` for complex ``x``);
* ``ord=1``: ``sum(|x|)``; ``ord=inf``/``-inf``: ``max(|x|)``/``min(|x|)``;
* ``ord=0``: the count of nonzero elements;
* any other ``p``: ``sum(|x|**p) ** (1/p)``.

Like NumPy's, these are unscaled: a norm whose squares overflow is ``inf`` and one whose
squares underflow is 0. A norm over no axes (each element its own vector) stays the op.
"""

from __future__ import annotations

import math

from ..array.ops.linalg_ext import Linalg
from ..array.ops.reduce import Reduce
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import cast_to, const_like, ew

__all__ = ["vector_norm_primitives"]


@register_rewrite("vector_norm_primitives", "specialize", tags=("lowering",),
                  op_classes=[Linalg])
def vector_norm_primitives(node, g):
    """``Linalg{vector_norm}(x)`` -> the reductions above."""
    op = node.op
    if op.name != "vector_norm":
        return None
    x = node.inputs[0]
    axes, keep, p = tuple(sorted(op.p["axes"])), op.p["keepdims"], op.p["ord"]
    if not axes or x.dtype.kind not in "fc":
        return None
    if p in (math.inf, -math.inf) and any(x.shape[a] == 0 for a in axes):
        return None  # max/min of nothing raises when built; the op raises when run, as NumPy
    site = node.site
    rt = node.outputs[0].dtype

    def reduce(kind: str, v: Var) -> Var:
        return build(Reduce(kind, axes, keep, rt), v, site=site)[0]

    if p == 2:
        if x.dtype.kind == "c":
            re, im = ew("real", x, site=site), ew("imag", x, site=site)
            sq = ew("add", ew("multiply", re, re, site=site), ew("multiply", im, im, site=site),
                    site=site)
        else:
            sq = ew("multiply", x, x, site=site)
        return [ew("sqrt", reduce("sum", sq), site=site)]
    if p == 0:
        nz = ew("not_equal", x, const_like(0, x), site=site)
        return [reduce("sum", cast_to(nz, rt, site=site))]
    a = ew("abs", x, site=site)
    if p == 1:
        return [reduce("sum", a)]
    if p == math.inf:
        return [reduce("max", a)]
    if p == -math.inf:
        return [reduce("min", a)]
    s = reduce("sum", ew("pow", a, const_like(p, a), site=site))
    return [ew("pow", s, const_like(1.0 / p, s), site=site)]
