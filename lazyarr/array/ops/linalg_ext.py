"""Ops of the linalg extension: one op class, ``Linalg(name, params)``, whose shape/dtype
rule and NumPy reference come from a row of ``RULES`` (decompositions have several outputs).

Inputs reach these ops already converted to a floating dtype (the namespace functions cast),
except ``matrix_power``, ``diagonal``, ``trace``, ``cross``, ``outer`` and ``tensordot``, which
are defined for every numeric dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .. import dtypes as D
from .elemwise import broadcast_shapes


def _matrix(x: Var, name: str, square: bool = False) -> tuple:
    s = x.shape
    if len(s) < 2:
        raise ValueError(f"linalg.{name}() needs at least 2 dimensions, got shape {s} "
                         f"({where()})")
    if square and None not in s[-2:] and s[-1] != s[-2]:
        raise ValueError(f"linalg.{name}() needs square matrices, got shape {s} ({where()})")
    return s


def _kmin(m, n):
    return None if m is None or n is None else min(m, n)


def _real(dt):
    return D.real_dtype(dt)


def _square_same(p, x):
    return [(x.dtype, _matrix(x, p["name"], True))]


def _det(p, x):
    return [(x.dtype, _matrix(x, "det", True)[:-2])]


def _slogdet(p, x):
    s = _matrix(x, "slogdet", True)[:-2]
    return [(x.dtype, s), (_real(x.dtype), s)]


def _eigh(p, x):
    s = _matrix(x, "eigh", True)
    return [(_real(x.dtype), s[:-1]), (x.dtype, s)]


def _eigvalsh(p, x):
    return [(_real(x.dtype), _matrix(x, "eigvalsh", True)[:-1])]


def _pinv(p, x, *rtol):
    s = _matrix(x, "pinv")
    return [(x.dtype, s[:-2] + (s[-1], s[-2]))]


def _rank(p, x, *rtol):
    return [(D.default_index, _matrix(x, "matrix_rank")[:-2])]


def _qr(p, x):
    s = _matrix(x, "qr")
    m, n = s[-2:]
    k = m if p["mode"] == "complete" else _kmin(m, n)
    return [(x.dtype, s[:-2] + (m, k)), (x.dtype, s[:-2] + (k, n))]


def _svd(p, x):
    s = _matrix(x, "svd")
    m, n = s[-2:]
    k = _kmin(m, n)
    if p["full_matrices"]:
        return [(x.dtype, s[:-2] + (m, m)), (_real(x.dtype), s[:-2] + (k,)),
                (x.dtype, s[:-2] + (n, n))]
    return [(x.dtype, s[:-2] + (m, k)), (_real(x.dtype), s[:-2] + (k,)),
            (x.dtype, s[:-2] + (k, n))]


def _svdvals(p, x):
    s = _matrix(x, "svdvals")
    return [(_real(x.dtype), s[:-2] + (_kmin(*s[-2:]),))]


def _solve(p, a, b):
    sa = _matrix(a, "solve", True)
    if len(b.shape) == 1:
        if None not in (b.shape[0], sa[-1]) and b.shape[0] != sa[-1]:
            raise ValueError(f"linalg.solve(): shapes {sa} and {b.shape} do not match "
                             f"({where()})")
        return [(a.dtype, sa[:-1])]
    sb = _matrix(b, "solve")
    if None not in (sb[-2], sa[-1]) and sb[-2] != sa[-1]:
        raise ValueError(f"linalg.solve(): shapes {sa} and {b.shape} do not match ({where()})")
    return [(a.dtype, broadcast_shapes(sa[:-2], sb[:-2]) + sb[-2:])]


def _diagonal(p, x, name: str = "diagonal"):
    s = _matrix(x, name)
    m, n, k = s[-2], s[-1], p["offset"]
    if m is None or n is None:
        size = None
    else:
        size = max(0, min(m, n - k) if k >= 0 else min(m + k, n))
    return [(x.dtype, s[:-2] + (size,))]


def _trace(p, x):
    return [(p["dtype"], _diagonal(p, x, "trace")[0][1][:-1])]


def _matrix_norm(p, x):
    s = _matrix(x, "matrix_norm")
    return [(_real(x.dtype), s[:-2] + ((1, 1) if p["keepdims"] else ()))]


def _vector_norm(p, x):
    axes = p["axes"]
    if p["keepdims"]:
        s = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        s = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return [(_real(x.dtype), s)]


def _cross(p, a, b):
    s = broadcast_shapes(a.shape, b.shape)
    ax = p["axis"]
    if not -len(s) <= ax < len(s) or ax >= 0:
        raise ValueError(f"linalg.cross(): axis {ax} is out of range ({where()})")
    for sh in (a.shape, b.shape):
        if len(sh) < -ax or sh[ax] not in (3, None):
            raise ValueError(f"linalg.cross(): the axis must have size 3, got shapes {a.shape} "
                             f"and {b.shape} ({where()})")
    return [(a.dtype, s)]


def _outer(p, a, b):
    if len(a.shape) != 1 or len(b.shape) != 1:
        raise ValueError(f"linalg.outer() needs 1-d arrays, got {a.shape} and {b.shape} "
                         f"({where()})")
    return [(a.dtype, (a.shape[0], b.shape[0]))]


def _tensordot(p, a, b):
    a1, a2 = p["axes"]
    free1 = tuple(d for i, d in enumerate(a.shape) if i not in a1)
    free2 = tuple(d for j, d in enumerate(b.shape) if j not in a2)
    return [(a.dtype, free1 + free2)]


def _default_rtol(x: np.ndarray) -> float:
    """The standard's default cut-off: ``max(M, N) * eps`` of the dtype."""
    return max(x.shape[-2:]) * np.finfo(x.dtype).eps


def _adjugate_by_lu_ok(x: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Mask ``(...)`` of the matrices of ``x`` whose ``inv`` is accurate enough to give the
    adjugate (``cond_1(x) < 1 / sqrt(eps)``)."""
    with np.errstate(all="ignore"):
        cond = (np.linalg.matrix_norm(x, ord=1) * np.linalg.matrix_norm(inv, ord=1))
    return np.isfinite(cond) & (cond < np.finfo(x.dtype).eps ** -0.5)


def _products_but_one(s: np.ndarray) -> np.ndarray:
    """``out[..., i] = prod_{j != i} s[..., j]``, without dividing (``s`` may hold zeros)."""
    n = s.shape[-1]
    return np.prod(np.where(np.eye(n, dtype=bool), 1, s[..., None, :]), axis=-1)


def _adjugate_by_svd(x: np.ndarray) -> np.ndarray:
    """``adj(x) = det(U) det(Vh) Vh^H diag(prod_{j != i} s_j) U^H`` for ``x = U diag(s) Vh``
    (``adj(XY) = adj(Y) adj(X)``, ``adj(Q) = det(Q) Q^H`` for unitary ``Q``): singular ``x``
    included."""
    u, s, vh = np.linalg.svd(x)
    phase = np.linalg.det(u) * np.linalg.det(vh)
    left = np.conj(np.swapaxes(vh, -1, -2)) * _products_but_one(s)[..., None, :]
    return phase[..., None, None] * (left @ np.conj(np.swapaxes(u, -1, -2)))


def _np_adjugate(p, x: np.ndarray) -> np.ndarray:
    """Adjugates (``adj(x) x = det(x) I``) of ``(..., M, M)`` matrices: ``det(x) * inv(x)`` for
    the well-conditioned ones (LU), through the SVD for the others (singular ones too); NaN
    for a matrix holding a NaN or an infinity (the SVD would fail for the whole stack)."""
    n = x.shape[-1]
    if x.size == 0:
        return x.copy()
    flat = x.reshape(-1, n, n)
    out = np.full_like(flat, np.nan)
    finite = np.isfinite(flat).all(axis=(-2, -1))
    if not finite.all():
        out[finite] = _np_adjugate(p, flat[finite])
        return out.reshape(x.shape)
    try:
        inv = np.linalg.inv(flat)
        fast = _adjugate_by_lu_ok(flat, inv)
    except np.linalg.LinAlgError:  # an exactly singular matrix in the stack
        inv, fast = None, np.zeros(len(flat), dtype=bool)
    if fast.any():
        out[fast] = np.linalg.det(flat[fast])[:, None, None] * inv[fast]
    if not fast.all():
        out[~fast] = _adjugate_by_svd(flat[~fast])
    return out.reshape(x.shape)


def _np_slogdet(p, x):
    r = np.linalg.slogdet(x)
    return r.sign, r.logabsdet


def _np_vector_norm(p, x):
    axes = p["axes"]
    if not axes:  # a 0-d input, or no axes: each element its own vector
        a = np.abs(x).astype(_real(x.dtype))
        return (a != 0).astype(a.dtype) if p["ord"] == 0 else a
    return np.linalg.vector_norm(x, axis=axes, keepdims=p["keepdims"], ord=p["ord"])


def _np_trace(p, x):
    return np.linalg.trace(x, offset=p["offset"], dtype=p["dtype"])


#: name -> (shape/dtype rule, NumPy reference); ``p`` is the op's parameters as a dict
RULES: dict[str, tuple[Callable, Callable]] = {
    "cholesky": (_square_same, lambda p, x: np.linalg.cholesky(x, upper=p["upper"])),
    "inv": (_square_same, lambda p, x: np.linalg.inv(x)),
    "matrix_power": (_square_same, lambda p, x: (
        x.copy() if p["n"] == 1 else np.linalg.matrix_power(x, p["n"]))),  # n=1: no alias
    "det": (_det, lambda p, x: np.linalg.det(x)),
    "adjugate": (_square_same, _np_adjugate),  # det's derivative (not in the namespace)
    "slogdet": (_slogdet, _np_slogdet),
    "eigh": (_eigh, lambda p, x: tuple(np.linalg.eigh(x))),
    "eigvalsh": (_eigvalsh, lambda p, x: np.linalg.eigvalsh(x)),
    # an array rtol: one value per matrix (NumPy adds the axis it broadcasts along)
    "pinv": (_pinv, lambda p, x, *r: np.linalg.pinv(x, rtol=(
        r[0] if r else p["rtol"] if p["rtol"] is not None else _default_rtol(x)))),
    "matrix_rank": (_rank, lambda p, x, *r: np.linalg.matrix_rank(x, **(
        {"rtol": r[0]} if r else {"rtol": p["rtol"]} if p["rtol"] is not None else {}))),
    "qr": (_qr, lambda p, x: tuple(np.linalg.qr(x, mode=p["mode"]))),
    "svd": (_svd, lambda p, x: tuple(np.linalg.svd(x, full_matrices=p["full_matrices"]))),
    "svdvals": (_svdvals, lambda p, x: np.linalg.svd(x, compute_uv=False)),
    "solve": (_solve, lambda p, a, b: np.linalg.solve(a, b)),
    "diagonal": (_diagonal, lambda p, x: np.linalg.diagonal(x, offset=p["offset"]).copy()),
    "trace": (_trace, _np_trace),
    "matrix_norm": (_matrix_norm, lambda p, x: np.linalg.matrix_norm(
        x, keepdims=p["keepdims"], ord=p["ord"])),
    "vector_norm": (_vector_norm, _np_vector_norm),
    "cross": (_cross, lambda p, a, b: np.linalg.cross(a, b, axis=p["axis"])),
    "outer": (_outer, lambda p, a, b: np.linalg.outer(a, b)),
    # the tensordot of operands with sizes known only at run time (`linalg_basic.tensordot`)
    "tensordot": (_tensordot, lambda p, a, b: np.tensordot(a, b, axes=p["axes"])),
}


class Linalg(Op):
    """``linalg.<name>`` with hashable ``params`` (a tuple of ``(key, value)`` pairs)."""

    def __init__(self, name: str, params: tuple = ()):
        self.name = name
        self.p = dict(params)
        self.p["name"] = name
        self.rule, self.ref = RULES[name]
        self.nout = {"slogdet": 2, "eigh": 2, "qr": 2, "svd": 3}.get(name, 1)
        #: the output dtypes by the inputs' dtypes and ranks (`perform` on small matrices
        #: in a loop ran the rule each call: as long as NumPy's own 2 x 2 solve)
        self._types: dict[tuple, list] = {}

    def infer(self, *inputs: Var):
        return self.rule(self.p, *inputs)

    def perform(self, *inputs: np.ndarray):
        key = tuple((a.dtype, a.ndim) for a in inputs)
        types = self._types.get(key)
        if types is None:
            types = [t[0] for t in self.rule(self.p, *_Shapes.of(inputs))]
            if len(self._types) < 64:
                self._types[key] = types
        r = self.ref(self.p, *inputs)
        if self.nout == 1:
            return np.asarray(r).astype(types[0], copy=False)
        return tuple(np.asarray(o).astype(t, copy=False) for o, t in zip(r, types))

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.p.items() if k != "name")
        return f"Linalg{{{self.name}{', ' + extra if extra else ''}}}"


class _Shapes:
    """Stand-ins with ``dtype`` and ``shape`` so a rule can type NumPy arrays at run time."""

    __slots__ = ("dtype", "shape")

    def __init__(self, a: np.ndarray):
        self.dtype, self.shape = a.dtype, a.shape

    @classmethod
    def of(cls, arrays):
        return [cls(a) for a in arrays]
