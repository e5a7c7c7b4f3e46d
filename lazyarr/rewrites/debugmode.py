"""Checks behind the debug modes (the pipeline runs the programs; this module judges them).

* `check_against_reference`: optimized outputs vs the unoptimized graph's on the reference VM,
  within a tolerance set by the dtype; a mismatch raises `RewriteMismatchError` naming the
  rewrites that fired. Where the reference is not finite and the optimized value is, and a
  stabilize rewrite fired, the optimized program is the more accurate one: that is accepted.
  Zeros of different signs differ, except in outputs computed from a sum, a max or min
  reduction or a matrix product (`unsigned_zero_outputs`), whose sign of zero the standard
  leaves open (elementwise maximum/minimum keep NumPy's choice, the second operand).
* `first_nonfinite`: which of some arrays holds a NaN or an infinity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph.fgraph import FunctionGraph
from .db import Report, registered

#: (rtol, atol) per floating dtype kind and size; integers and bools compare exactly
_TOL = {4: (1e-4, 1e-5), 8: (1e-7, 1e-10), 16: (1e-7, 1e-10)}


class RewriteMismatchError(AssertionError):
    """An optimized program disagreed with the unoptimized reference (debug mode)."""


def tolerance(dtype: np.dtype) -> tuple[float, float]:
    """``(rtol, atol)`` used to compare values of ``dtype`` (0 for exact dtypes)."""
    if dtype.kind == "f":
        return _TOL[dtype.itemsize]
    if dtype.kind == "c":
        return _TOL[dtype.itemsize // 2]
    return 0.0, 0.0


def _stabilized(report: Report) -> bool:
    tags = registered()
    return any("stabilize" in tags.get(n, ("", ()))[1] for n in report.names())


def check_against_reference(optimized: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                            report: Report, floor: np.dtype | None = None,
                            unsigned_zeros: Sequence[bool] | None = None) -> None:
    """Raise `RewriteMismatchError` if an output differs beyond its dtype's tolerance, or
    ``floor``'s where that is looser (the least precise floating dtype the graph computes
    in: a float64 output of float32 work carries float32 rounding). Zeros of different
    signs differ, except in the outputs where ``unsigned_zeros`` (one bool per output) is
    True."""
    if unsigned_zeros is None:
        unsigned_zeros = [False] * len(reference)
    for k, (a, b) in enumerate(zip(optimized, reference)):
        a, b = np.asarray(a), np.asarray(b)
        problem = None
        if a.dtype != b.dtype:
            problem = f"dtype {a.dtype} instead of {b.dtype}"
        elif a.shape != b.shape:
            problem = f"shape {a.shape} instead of {b.shape}"
        else:
            bad = _mismatch(a, b, floor, signed_zeros=not unsigned_zeros[k])
            if bad.any() and _stabilized(report):
                bad &= ~(~_finite(b) & _finite(a))  # the reference overflowed; we did not
            if bad.any():
                i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
                problem = (f"{int(bad.sum())} of {bad.size} elements differ, e.g. at {i}: "
                           f"{a[i]!r} (optimized) vs {b[i]!r} (reference)")
        if problem:
            fired = ", ".join(report.names()) or "none"
            raise RewriteMismatchError(f"debug mode: output {k}: {problem}; rewrites that "
                                       f"fired: {fired}")


def least_precise(dtypes) -> np.dtype | None:
    """The floating or complex dtype of ``dtypes`` with the loosest `tolerance`, or None."""
    found = [np.dtype(d) for d in dtypes if np.dtype(d).kind in "fc"]
    return max(found, key=lambda d: tolerance(d)[0], default=None)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a) if a.dtype.kind in "fc" else np.ones(a.shape, bool)


def unsigned_zero_outputs(fg: FunctionGraph) -> list[bool]:
    """Per output of ``fg``: True where the sign of its zeros is not specified, as it is
    computed from the output of an op that leaves it open (`Op.zero_sign_unspecified`)."""
    unsigned = set()
    for node in fg.toposort():
        if node.op.zero_sign_unspecified or any(v in unsigned for v in node.inputs):
            unsigned.update(node.outputs)
    return [v in unsigned for v in fg.outputs]


def _mismatch(a: np.ndarray, b: np.ndarray, floor: np.dtype | None = None,
              signed_zeros: bool = True) -> np.ndarray:
    if a.dtype.kind not in "fc":
        return a != b
    rtol, atol = tolerance(a.dtype)
    if floor is not None:
        rtol, atol = (max(t, f) for t, f in zip((rtol, atol), tolerance(floor)))
    with np.errstate(all="ignore"):
        close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        # zeros of a different sign are an IEEE difference the standard's tests look at
        same_zero = (a == 0) & (b == 0)
        if signed_zeros and a.dtype.kind == "f":
            close &= ~same_zero | (np.signbit(a) == np.signbit(b))
    return ~close


def first_nonfinite(arrays: Sequence[np.ndarray]) -> int | None:
    """Index of the first floating array holding a NaN or an infinity, else None."""
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            return i
    return None
