"""The linalg extension of the standard (``lazyarr.linalg``): decompositions, solvers,
norms and the products it shares with the main namespace.

Inputs of integer dtype are converted to the default float (NumPy's behaviour; the standard
asks for floating inputs and leaves others open).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ...graph.userline import where as _site
from .. import dtypes as D
from ..coerce import Array, as_var, build, build_many, cast, coerce_pair, wrap
from ..ops.axes import int_arg, normalize_axes
from ..ops.linalg_ext import Linalg
from .linalg_basic import matmul, matrix_transpose, tensordot, vecdot

__all__ = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm"]


class EighResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class QRResult(NamedTuple):
    Q: Array
    R: Array


class SlogdetResult(NamedTuple):
    sign: Array
    logabsdet: Array


class SVDResult(NamedTuple):
    U: Array
    S: Array
    Vh: Array


def _float(x, fname: str):
    v = as_var(x)
    if v.dtype.kind == "b":
        raise TypeError(f"linalg.{fname}() needs a numeric array, not bool ({_site()})")
    return cast(v, D.float_dtype(v.dtype))


def _one(name: str, x, **params) -> Array:
    return build(Linalg(name, tuple(params.items())), _float(x, name))


def cholesky(x, /, *, upper: bool = False) -> Array:
    """Cholesky factor of Hermitian positive-definite ``(..., M, M)`` matrices: lower ``L``
    with ``x = L @ L^H`` (upper ``U`` with ``x = U^H @ U`` if ``upper``)."""
    return _one("cholesky", x, upper=bool(upper))


def inv(x, /) -> Array:
    """Inverses of square ``(..., M, M)`` matrices."""
    return _one("inv", x)


def det(x, /) -> Array:
    """Determinants of square ``(..., M, M)`` matrices, shape ``(...)``."""
    return _one("det", x)


def adjugate(x, /) -> Array:
    """Adjugates of square ``(..., M, M)`` matrices (``adj(x) @ x = det(x) I``), defined at
    singular ones: the derivative of `det` (``d det(x) / dx = adj(x)^T``). Not in the
    standard's namespace."""
    return _one("adjugate", x)


def slogdet(x, /) -> SlogdetResult:
    """Sign (x's dtype) and natural log of the absolute value (real dtype) of determinants."""
    return SlogdetResult(*build_many(Linalg("slogdet"), _float(x, "slogdet")))


def eigh(x, /) -> EighResult:
    """Eigenvalues (ascending, real dtype, ``(..., M)``) and eigenvectors (``(..., M, M)``)
    of Hermitian matrices."""
    return EighResult(*build_many(Linalg("eigh"), _float(x, "eigh")))


def eigvalsh(x, /) -> Array:
    """Eigenvalues (ascending, real dtype) of Hermitian ``(..., M, M)`` matrices."""
    return _one("eigvalsh", x)


def _rtol(name, x, rtol) -> Array:
    v = _float(x, name)
    if rtol is None or isinstance(rtol, (int, float)):
        return build(Linalg(name, (("rtol", None if rtol is None else float(rtol)),)), v)
    r = cast(as_var(rtol), D.real_dtype(v.dtype))
    return build(Linalg(name, (("rtol", None),)), v, r)


def pinv(x, /, *, rtol=None) -> Array:
    """Moore-Penrose pseudo-inverses, ``(..., M, N)`` -> ``(..., N, M)``; singular values
    below ``rtol * largest`` count as zero (default ``max(M, N) * eps``)."""
    return _rtol("pinv", x, rtol)


def matrix_rank(x, /, *, rtol=None) -> Array:
    """Ranks (int64, shape ``(...)``) of ``(..., M, N)`` matrices: singular values above
    ``rtol * largest``."""
    return _rtol("matrix_rank", x, rtol)


def qr(x, /, *, mode: str = "reduced") -> QRResult:
    """QR decomposition: ``reduced`` gives ``Q (..., M, K)``, ``R (..., K, N)`` with
    ``K = min(M, N)``; ``complete`` gives ``Q (..., M, M)``, ``R (..., M, N)``."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr(): mode must be 'reduced' or 'complete', not {mode!r} "
                         f"({_site()})")
    return QRResult(*build_many(Linalg("qr", (("mode", mode),)), _float(x, "qr")))


def svd(x, /, *, full_matrices: bool = True) -> SVDResult:
    """Singular value decomposition ``x = U @ diag(S) @ Vh``; ``S`` (real dtype) descends."""
    op = Linalg("svd", (("full_matrices", bool(full_matrices)),))
    return SVDResult(*build_many(op, _float(x, "svd")))


def svdvals(x, /) -> Array:
    """Singular values (descending, real dtype, ``(..., K)``, ``K = min(M, N)``)."""
    return _one("svdvals", x)


def solve(x1, x2, /) -> Array:
    """Solution of ``x1 @ y = x2``: ``x2`` is a vector if 1-d, else a stack of ``(M, K)``
    matrices broadcast against ``x1``'s batch."""
    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"linalg.solve() needs numeric arrays, not bool ({_site()})")
    dt = D.float_dtype(dt)
    return build(Linalg("solve"), cast(v1, dt), cast(v2, dt))


def matrix_power(x, n: int, /) -> Array:
    """``x`` raised to the integer power ``n`` (negative ``n`` inverts first)."""
    v = as_var(x)
    if v.dtype.kind == "b":
        raise TypeError(f"linalg.matrix_power() needs a numeric array ({_site()})")
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power(): n must be an int, not {n!r} ({_site()})")
    if n < 0:
        v = cast(v, D.float_dtype(v.dtype))
    return build(Linalg("matrix_power", (("n", n),)), v)


def diagonal(x, /, *, offset: int = 0) -> Array:
    """Diagonal ``offset`` of the last two axes, shape ``(..., L)``."""
    return build(Linalg("diagonal", (("offset", int_arg(offset, "linalg.diagonal", "offset")),)),
                 as_var(x))


def trace(x, /, *, offset: int = 0, dtype=None) -> Array:
    """Sums along diagonal ``offset`` of the last two axes, shape ``(...)``; integer inputs
    accumulate in (u)int64 unless ``dtype`` is given."""
    v = as_var(x)
    if v.dtype.kind == "b":
        raise TypeError(f"linalg.trace() needs a numeric array ({_site()})")
    if dtype is not None:
        dt = D.as_dtype(dtype)
    else:
        dt = {"i": D.int64, "u": D.uint64}.get(v.dtype.kind, v.dtype)
    return build(Linalg("trace", (("offset", int_arg(offset, "linalg.trace", "offset")),
                                  ("dtype", dt))), v)


def matrix_norm(x, /, *, keepdims: bool = False, ord="fro") -> Array:  # noqa: A002
    """Matrix norms of the last two axes (``ord``: 'fro', 'nuc', 1, 2, inf, -1, -2, -inf);
    real dtype."""
    if ord not in ("fro", "nuc", 1, 2, -1, -2, math.inf, -math.inf):
        raise ValueError(f"linalg.matrix_norm(): invalid ord {ord!r} ({_site()})")
    return _one("matrix_norm", x, keepdims=bool(keepdims), ord=ord)


def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2) -> Array:  # noqa: A002
    """Vector ``ord``-norms over ``axis`` (None: all axes, an int or a tuple); real dtype."""
    v = _float(x, "vector_norm")
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise ValueError(f"linalg.vector_norm(): invalid ord {ord!r} ({_site()})")
    axes = normalize_axes(axis, len(v.shape), "vector_norm")
    op = Linalg("vector_norm", (("axes", axes), ("keepdims", bool(keepdims)), ("ord", ord)))
    return build(op, v)


def cross(x1, x2, /, *, axis: int = -1) -> Array:
    """Cross products of 3-vectors along ``axis`` (other axes broadcast)."""
    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"linalg.cross() needs numeric arrays ({_site()})")
    axis = int_arg(axis, "linalg.cross", "axis")
    if axis >= 0:  # NumPy's positive axis: counted in each operand, and in the result
        from .manipulation import moveaxis

        a = moveaxis(wrap(cast(v1, dt)), axis, -1)
        b = moveaxis(wrap(cast(v2, dt)), axis, -1)
        r = build(Linalg("cross", (("axis", -1),)), as_var(a), as_var(b))
        return moveaxis(r, -1, axis)
    return build(Linalg("cross", (("axis", axis),)), cast(v1, dt), cast(v2, dt))


def outer(x1, x2, /) -> Array:
    """Outer product of 1-d arrays, shape ``(N, M)``."""
    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"linalg.outer() needs numeric arrays ({_site()})")
    return build(Linalg("outer"), cast(v1, dt), cast(v2, dt))



