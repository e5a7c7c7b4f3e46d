"""Checking derivative rules numerically: ``verify_grad`` (central finite differences in
float64 along random directions, Theano's helper) and ``check_vjp_jvp`` (the adjoint identity
``<u, J v> == <Jᵀ u, v>`` between forward and reverse mode).

Inner products are real: ``<a, b> = Re(sum(conj(a) * b))``, which makes both checks hold for
complex functions under PyTorch's convention (see ``rules_elemwise``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..array.coerce import Array, wrap
from ..array.coerce import leaf_from_numpy as _leaf
from .transforms import jvp, vjp

__all__ = ["verify_grad", "check_vjp_jvp", "GradientError"]


class GradientError(AssertionError):
    """A derivative disagrees with its numerical (or adjoint) counterpart."""


def _as64(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    if a.dtype.kind == "c":
        return a.astype(np.complex128)
    return a


def _random_like(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    r = rng.standard_normal(a.shape)
    if a.dtype.kind == "c":
        r = r + 1j * rng.standard_normal(a.shape)
    return np.asarray(r, dtype=a.dtype)


def _dot(a, b) -> float:
    return float(np.real(np.sum(np.conj(np.asarray(a)) * np.asarray(b))))


def _arrays(xs) -> list[Array]:
    return [wrap(_leaf(np.array(x))) for x in xs]


def _run(f: Callable, xs) -> np.ndarray:
    return _as64(np.asarray(f(*_arrays(xs))))


def verify_grad(f: Callable, args: Sequence, *, n_directions: int = 2, eps: float = 1e-6,
                rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0) -> None:
    """Check reverse-mode derivatives of ``f`` (Arrays in, one Array out) at ``args`` against
    central finite differences, in float64 (float and complex arguments are converted; integer
    and boolean ones are held fixed). The output is projected on a random cotangent ``u`` and
    compared along ``n_directions`` random directions. Raises `GradientError` on a mismatch
    larger than ``atol + rtol * scale``."""
    rng = np.random.default_rng(seed)
    xs = [_as64(a) for a in args]
    diff = [i for i, x in enumerate(xs) if x.dtype.kind in "fc"]
    out, vjp_fn = vjp(f, *_arrays(xs))
    out_dt = np.asarray(out).dtype
    if out_dt.kind not in "fc":
        return  # a piecewise-constant output: nothing to compare
    u = _random_like(rng, np.zeros(out.shape, out_dt))
    grads = vjp_fn(wrap(_leaf(u)))
    grads = [None if grads[i] is None else np.asarray(grads[i]) for i in range(len(xs))]
    for _ in range(n_directions):
        vs = {i: _random_like(rng, xs[i]) for i in diff}
        plus = [x + eps * vs[i] if i in vs else x for i, x in enumerate(xs)]
        minus = [x - eps * vs[i] if i in vs else x for i, x in enumerate(xs)]
        fd = (_dot(u, _run(f, plus)) - _dot(u, _run(f, minus))) / (2 * eps)
        an = sum(_dot(grads[i], vs[i]) for i in diff if grads[i] is not None)
        scale = max(abs(fd), abs(an), 1.0)
        if not abs(fd - an) <= atol + rtol * scale:
            raise GradientError(
                f"verify_grad: the gradient of {getattr(f, '__name__', f)!r} along a random "
                f"direction is {an!r}, finite differences give {fd!r} (abs error "
                f"{abs(fd - an):.3g}, arguments {[x.shape for x in xs]})")


def check_vjp_jvp(f: Callable, args: Sequence, *, rtol: float = 1e-9, atol: float = 1e-10,
                  seed: int = 0) -> None:
    """Check that forward and reverse mode of ``f`` at ``args`` are adjoint:
    ``<u, J v> == <Jᵀ u, v>`` for random ``u`` and ``v`` (float64). Raises `GradientError`."""
    rng = np.random.default_rng(seed)
    xs = [_as64(a) for a in args]
    diff = [i for i, x in enumerate(xs) if x.dtype.kind in "fc"]
    vs = [_random_like(rng, x) if i in diff else np.zeros(x.shape, x.dtype)
          for i, x in enumerate(xs)]
    out, jv = jvp(f, _arrays(xs), _arrays(vs))
    if np.asarray(out).dtype.kind not in "fc":
        return
    u = _random_like(rng, np.asarray(out))
    _, vjp_fn = vjp(f, *_arrays(xs))
    jtu = vjp_fn(wrap(_leaf(u)))
    lhs = _dot(u, np.asarray(jv))
    rhs = sum(_dot(np.asarray(jtu[i]), vs[i]) for i in diff if jtu[i] is not None)
    if not abs(lhs - rhs) <= atol + rtol * max(abs(lhs), abs(rhs), 1.0):
        raise GradientError(f"check_vjp_jvp: <u, J v> = {lhs!r} but <J^T u, v> = {rhs!r} for "
                            f"{getattr(f, '__name__', f)!r} at shapes {[x.shape for x in xs]}")
