"""Shared helpers of the rule tests: argument strategies and the combined check (finite
differences in float64 and forward/reverse adjointness)."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as xp

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
SEEDS = st.integers(0, 2 ** 16)


def values(seed: int, shape: tuple, lo: float = -2.0, hi: float = 2.0,
           signed_away: bool = False, complex_: bool = False) -> np.ndarray:
    """Random float64 (or complex128) values in ``[lo, hi]``; ``signed_away``: magnitudes in
    ``[lo, hi]`` with a random sign (away from zero)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, shape)
    if signed_away:
        x = x * rng.choice([-1.0, 1.0], shape)
    if complex_:
        x = x + 1j * rng.uniform(lo, hi, shape)
    return np.asarray(x)


def check(f, args, rtol: float = 1e-5) -> None:
    """verify_grad along one random direction, and <u, J v> == <J^T u, v>."""
    xp.verify_grad(f, args, n_directions=1, rtol=rtol, atol=1e-7)
    xp.check_vjp_jvp(f, args)
