"""Fusion of tiny groups (at most `TINY_GROUP` elements): a smaller-shape node of any function
(``log``, a division) read only inside the group is recomputed in it instead of running as a
thunk of its own; in a larger group only the cheap `RECOMPUTE` functions are."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.composite import Composite
from lazyarr.rewrites.fusion import TINY_GROUP, fuse_elemwise

from .test_fusion import check_same, graph_of, ops

rng = np.random.default_rng(11)


@pytest.mark.parametrize("n, fused", [(10, True), (TINY_GROUP, True), (TINY_GROUP + 1, False)])
def test_log_and_division_of_a_column_join_a_tiny_row(n, fused):
    x = xp.asarray(rng.standard_normal((1, n)))
    s = xp.asarray(rng.uniform(0.5, 2.0, (1, 1)))
    out = xp.exp(x) * (1.0 / s) + xp.log(s) * x
    fg, args = graph_of(out)
    fuse_elemwise(fg)
    composites = [op for op in ops(fg) if isinstance(op, Composite)]
    assert len(composites) == 1
    names = {step[0] for step in composites[0].steps}
    assert ({"log", "divide"} <= names) == fused
    assert len(ops(fg)) == (1 if fused else 3)
    check_same(fg, [out], args)
