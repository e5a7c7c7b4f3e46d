"""Set ops: the unique elements of an array, with first indices, inverse indices and counts.

Their sizes depend on the data: the outputs that list unique elements have shape ``(None,)``.
NaNs are all distinct (the standard's rule), and values come out sorted.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from .. import dtypes as D

_INDEX = D.default_index

#: which outputs each flavour returns, in the standard's order
FIELDS = {
    "all": ("values", "indices", "inverse_indices", "counts"),
    "counts": ("values", "counts"),
    "inverse": ("values", "inverse_indices"),
    "values": ("values",),
}


class Unique(Op):
    """``unique_<kind>(x)``: outputs named by ``FIELDS[kind]``."""

    def __init__(self, kind: str):
        self.kind = kind
        self.nout = len(FIELDS[kind])

    def infer(self, x: Var):
        out = []
        for f in FIELDS[self.kind]:
            if f == "values":
                out.append((x.dtype, (None,)))
            elif f == "inverse_indices":
                out.append((_INDEX, x.shape))
            else:
                out.append((_INDEX, (None,)))
        return out

    def perform(self, x: np.ndarray):
        fields = FIELDS[self.kind]
        got = np.unique(x.reshape(-1), return_index="indices" in fields,
                        return_inverse="inverse_indices" in fields,
                        return_counts="counts" in fields, equal_nan=False)
        if len(fields) == 1:
            return got
        r = [got[0]]
        for f, a in zip(fields[1:], got[1:]):
            r.append((a.reshape(x.shape) if f == "inverse_indices" else a)
                     .astype(_INDEX, copy=False))
        return tuple(r)
