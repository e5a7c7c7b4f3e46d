"""Sparse updates (specialize, before fusion): ``x - c * AddAt(zeros, g, *idx)`` becomes
``AddAt(x, -(c * g), *idx)``. An SGD step on an embedding table then touches only the rows a
batch used, instead of building a dense gradient the size of the table and updating every row
(NumPy's ``np.add.at(U, w, -lr * g)``, RNNLM's row loop).

Rows indexed once get ``x + -(c*g)``, equal to ``x - c*(0 + g)`` (up to the sign of a zero
result); rows indexed several times add their terms one by one, another rounding order (as
BLAS's accumulation is); untouched rows stay ``x`` exactly, ``c`` being a finite constant.
"""

from __future__ import annotations

import numpy as np

from ..array.ops.creation import Alloc
from ..array.ops.scatter import AddAt
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import E, const_data, ew, op_of

__all__ = ["sparse_update"]


def _zeros(v: Var) -> bool:
    """``v`` is all ``+0``: constant zeros or an `Alloc` of a constant ``+0``."""
    if isinstance(op_of(v), Alloc):
        v = v.owner.inputs[0]
    d = const_data(v)
    return d is not None and d.size > 0 and not np.any(d) and not np.any(np.signbit(d))


@register_rewrite("sparse_update", "specialize", tags=("sparse",), op_classes=[E("subtract")])
def sparse_update(node, g):
    """``x - c * AddAt(zeros, value, *idx) -> AddAt(x, -(c * value), *idx)`` (``c`` a finite
    0-d constant; the scatter and the product read only there)."""
    x, m = node.inputs
    out = node.outputs[0]
    if x.dtype != out.dtype or x.shape != out.shape or None in out.shape:
        return None
    if op_of(m) is not E("multiply") or g.nclients(m) != 1:
        return None
    a, b = m.owner.inputs
    c, s = (a, b) if isinstance(op_of(b), AddAt) else (b, a)
    if not isinstance(op_of(s), AddAt) or g.nclients(s) != 1 or s.shape != out.shape:
        return None
    cd = const_data(c)
    z, value, *idx = s.owner.inputs
    if cd is None or cd.ndim != 0 or not np.isfinite(cd) or not _zeros(z):
        return None
    if not (c.dtype == value.dtype == s.dtype == out.dtype):
        return None
    site = node.site
    step = ew("negative", ew("multiply", c, value, site=site), site=site)
    return build(s.owner.op, x, step, *idx, site=site)
