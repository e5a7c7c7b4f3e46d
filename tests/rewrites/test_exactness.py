"""Property: canonicalize never changes a result, bit for bit, on random expressions seeded
with the identities it removes, over special values (NaN, infinities, signed zeros,
subnormals) in several dtypes."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp

from .rw_helpers import check_rewrite

SPECIAL = [-0.0, 0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 5e-324, 3.0e38, -7.25]

_UNARY = [
    lambda a: a * 1, lambda a: 1 * a, lambda a: a / 1, lambda a: a - 0.0,
    lambda a: a + (-0.0), lambda a: xp.negative(-a), lambda a: +a, lambda a: a + 0.0,
    lambda a: xp.astype(xp.astype(a, xp.float64), a.dtype), lambda a: a.T.T,
    lambda a: xp.reshape(xp.reshape(a, (-1,)), a.shape), lambda a: xp.sum(a[:, None], axis=1),
    lambda a: xp.exp(a) - 1, lambda a: xp.sin(a), lambda a: a * a, lambda a: -a,
]
_BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
           lambda a, b: xp.where(a > b, a, a), lambda a, b: xp.maximum(a, b)]


@given(st.sampled_from([np.float32, np.float64]),
       st.lists(st.tuples(st.booleans(), st.integers(0, 15), st.integers(0, 4)),
                min_size=1, max_size=8),
       st.integers(0, 2**16))
def test_canonicalize_is_bit_exact(dtype, program, seed):
    rng = np.random.default_rng(seed)
    data = rng.choice(np.array(SPECIAL), size=(len(SPECIAL),)).astype(dtype)
    x = xp.asarray(data)
    y = xp.asarray(rng.permutation(data))
    vals = [x, y]
    for binary, u, b in program:
        if binary:
            vals.append(_BINARY[b](vals[-1], vals[u % len(vals)]))
        else:
            vals.append(_UNARY[u](vals[-1]))
    check_rewrite(vals[-1], vals[len(vals) // 2], fires=None, exclude=["stabilize"])
