"""Central finite differences: the derivative oracle of the gradient tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_differences(f: Callable[[np.ndarray], float], x: np.ndarray,
                        h: float = 1e-6) -> np.ndarray:
    """The gradient of scalar ``f`` at float64 array ``x`` (same shape), each entry
    ``(f(x + h e_i) - f(x - h e_i)) / 2h``."""
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out
