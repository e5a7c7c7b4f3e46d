"""vjp and jvp rules of the linalg extension (one op class, ``Linalg``, dispatched by name).

Formulas: cholesky (Murray 2016, triangular solves as ``solve``), eigh with the F-matrix
``1/(w_j - w_i)`` and a skew-Hermitian projection (PyTorch's ``linalg_eig_backward``), svd for
``full_matrices=False`` (the jvp of JAX, the vjp its exact adjoint, complex phase term included),
reduced QR (``gA = (gQ + Q copyltu(M)) R^-H``), pinv (Golub and Pereyra, constant rank).
det's derivative is the transposed adjugate (an op of its own, defined at singular matrices);
the adjugate's derivative goes through the SVD, ``adj(U S Vh) = det(U) det(Vh) Vh^H adj(S) U^H``.
Hermitian inputs (cholesky, eigh, eigvalsh) read only one triangle, so their rules treat the
perturbation as Hermitian: the jvp symmetrizes the tangent and the vjp returns a Hermitian
cotangent. Repeated eigenvalues or singular values, and rank changes of ``pinv``, have no
derivative (the rules give inf/NaN there).
"""

from __future__ import annotations

import math

from ..array.coerce import Array
from ..array.functions import creation as C
from ..array.functions import elementwise as E
from ..array.functions import linalg_ext as LA
from ..array.functions import manipulation as M
from ..array.functions import searching as SE
from ..array.functions import statistics as S
from ..array.ops.linalg_ext import Linalg
from ..array.ops.shape import Diagonal
from .registry import register_jvp, register_vjp
from .rules_ext import add, as_dtype_of, conj, expand_axes, mH, mT, real_part
from .util import broadcast_like, sum_to_like

_VJP: dict = {}
_JVP: dict = {}


def _rule(table: dict, *names: str):
    def deco(fn):
        for n in names:
            table[n] = fn
        return fn
    return deco


@register_vjp(Linalg)
def linalg_vjp(op, inputs, outputs, cotangents) -> list:
    """Dispatch to the vjp of ``linalg.<op.name>``."""
    if all(c is None for c in cotangents) or inputs[0].dtype.kind not in "fc":
        return [None] * len(inputs)
    return _VJP[op.name](op.p, inputs, outputs, cotangents)


@register_jvp(Linalg)
def linalg_jvp(op, inputs, outputs, tangents) -> list:
    """Dispatch to the jvp of ``linalg.<op.name>``."""
    if all(t is None for t in tangents) or inputs[0].dtype.kind not in "fc":
        return [None] * len(outputs)
    return _JVP[op.name](op.p, inputs, outputs, tangents)


# -- small helpers -----------------------------------------------------------------------------

def _real_eye(n: int, like: Array) -> Array:
    return C.eye(n, dtype=E.real(like).dtype if like.dtype.kind == "c" else like.dtype)


def _sym(t: Array) -> Array:
    return 0.5 * (t + mH(t))


def _left_solve(a: Array, b: Array) -> Array:
    """``a^-1 @ b`` for matrices ``b``."""
    return LA.solve(a, b)


def _right_solve(b: Array, a: Array) -> Array:
    """``b @ a^-1`` for matrices ``b``."""
    return mH(LA.solve(mH(a), mH(b)))


def _diag_embed(v: Array, like: Array) -> Array:
    n = v.shape[-1]
    return v[..., None] * _real_eye(n, like)


def _matrix_dims(x: Array, name: str) -> tuple[int, int]:
    m, n = x.shape[-2:]
    if m is None or n is None:
        raise ValueError(f"the derivative of linalg.{name}() needs the matrix sizes, got "
                         f"shape {x.shape}")
    return m, n


# -- inverses, determinants, solves -----------------------------------------------------------

@_rule(_VJP, "inv")
def _inv_vjp(p, inputs, outputs, cts):
    yh = mH(outputs[0])
    return [-(yh @ cts[0] @ yh)]


@_rule(_JVP, "inv")
def _inv_jvp(p, inputs, outputs, ts):
    y = outputs[0]
    return [-(y @ ts[0] @ y)]


def _dlogdet(x: Array, t: Array) -> Array:
    """``tr(x^-1 @ t)`` over the last two axes."""
    return S.sum(mT(LA.inv(x)) * t, axis=(-2, -1))


@_rule(_VJP, "det")
def _det_vjp(p, inputs, outputs, cts):
    return [cts[0][..., None, None] * mH(LA.adjugate(inputs[0]))]


@_rule(_JVP, "det")
def _det_jvp(p, inputs, outputs, ts):
    return [S.sum(mT(LA.adjugate(inputs[0])) * ts[0], axis=(-2, -1))]


def _adjugate_svd(x: Array):
    """``(u, s, vh, phase)``: the SVD ``x = u diag(s) vh`` and ``det(u) det(vh)`` (shape
    ``(...)``), so that ``adj(x) = phase vh^H adj(diag(s)) u^H``."""
    u, s, vh = LA.svd(x)
    return u, s, vh, LA.det(u) * LA.det(vh)


def _diag_adjugate_tangent(s: Array, f: Array) -> Array:
    """The tangent of ``adj(diag(s))`` along ``f`` (both ``(..., M, M)``, ``s`` real
    ``(..., M)``): ``-P_ij f_ij`` off the diagonal, ``sum_{k != i} P_ik f_kk`` on it, with
    ``P_ij = prod_{k not in (i, j)} s_k``. Self-adjoint in ``f``; built without dividing by
    ``s`` (singular matrices), as an ``(..., M, M, M)`` product."""
    n = s.shape[-1]
    eye = _real_eye(n, s)
    left_out = (eye[:, None, :] + eye[None, :, :]) > 0  # k in (i, j)
    pair = S.prod(E.where(left_out, 1.0, s[..., None, None, :]), axis=-1) * (1.0 - eye)
    diag = S.sum(LA.diagonal(f)[..., None, :] * pair, axis=-1)
    return _diag_embed(diag, s) - pair * f


@_rule(_VJP, "adjugate")
def _adjugate_vjp(p, inputs, outputs, cts):
    u, s, vh, phase = _adjugate_svd(inputs[0])
    h = conj(phase)[..., None, None] * (vh @ cts[0] @ u)
    return [u @ _diag_adjugate_tangent(s, h) @ vh]


@_rule(_JVP, "adjugate")
def _adjugate_jvp(p, inputs, outputs, ts):
    u, s, vh, phase = _adjugate_svd(inputs[0])
    f = mH(u) @ ts[0] @ mH(vh)
    return [phase[..., None, None] * (mH(vh) @ _diag_adjugate_tangent(s, f) @ mH(u))]


@_rule(_VJP, "slogdet")
def _slogdet_vjp(p, inputs, outputs, cts):
    x = inputs[0]
    sign, _ = outputs
    g_sign, g_log = cts
    coef = g_log
    if x.dtype.kind == "c" and g_sign is not None:
        coef = add(coef, -1j * E.imag(conj(g_sign) * sign))
    if coef is None:
        return [None]
    return [coef[..., None, None] * mH(LA.inv(x))]


@_rule(_JVP, "slogdet")
def _slogdet_jvp(p, inputs, outputs, ts):
    x = inputs[0]
    t = _dlogdet(x, ts[0])
    if x.dtype.kind != "c":
        return [None, t]
    return [outputs[0] * (1j * E.imag(t)), E.real(t)]


@_rule(_VJP, "solve")
def _solve_vjp(p, inputs, outputs, cts):
    a, b = inputs
    x, g = outputs[0], cts[0]
    if b.ndim == 1:
        gb = LA.solve(mH(a), g[..., None])[..., 0]
        ga = -(gb[..., :, None] * conj(x)[..., None, :])
    else:
        gb = LA.solve(mH(a), g)
        ga = -(gb @ mH(x))
    return [sum_to_like(ga, a), sum_to_like(gb, b)]


@_rule(_JVP, "solve")
def _solve_jvp(p, inputs, outputs, ts):
    a, b = inputs
    x = outputs[0]
    da, db = ts
    rhs = db
    if da is not None:
        rhs = add(rhs, -((da @ x[..., None])[..., 0] if b.ndim == 1 else da @ x))
    if b.ndim == 1:
        dx = LA.solve(a, rhs[..., None])[..., 0]
    else:
        dx = LA.solve(a, rhs)
    return [broadcast_like(dx, x)]


# -- Hermitian decompositions -----------------------------------------------------------------

def _phi(x: Array) -> Array:
    """Lower triangle of ``x`` with its diagonal halved."""
    n = x.shape[-1]
    return C.tril(x) - 0.5 * (_real_eye(n, x) * x)


def _lower(p, x: Array) -> Array:
    return mH(x) if p["upper"] else x


@_rule(_VJP, "cholesky")
def _cholesky_vjp(p, inputs, outputs, cts):
    lo = _lower(p, outputs[0])
    g = _lower(p, cts[0])
    w = _left_solve(mH(lo), _phi(mH(lo) @ g))
    return [_sym(_right_solve(w, lo))]


@_rule(_JVP, "cholesky")
def _cholesky_jvp(p, inputs, outputs, ts):
    lo = _lower(p, outputs[0])
    z = _left_solve(lo, _sym(ts[0]))
    x = mH(_left_solve(lo, mH(z)))
    return [_lower(p, lo @ _phi(x))]


def _eig_f(w: Array) -> Array:
    """``F[i, j] = 1 / (w_j - w_i)`` off the diagonal, 0 on it."""
    eye = _real_eye(w.shape[-1], w)
    return (1.0 - eye) / (w[..., None, :] - w[..., :, None] + eye)


@_rule(_VJP, "eigh")
def _eigh_vjp(p, inputs, outputs, cts):
    w, v = outputs
    gw, gv = cts
    inner = None
    if gv is not None:
        m = mH(v) @ gv
        inner = _eig_f(w) * (0.5 * (m - mH(m)))
    if gw is not None:
        inner = add(inner, _diag_embed(gw, w))
    return [as_dtype_of(v @ inner @ mH(v), inputs[0])]


@_rule(_JVP, "eigh")
def _eigh_jvp(p, inputs, outputs, ts):
    w, v = outputs
    s = mH(v) @ _sym(ts[0]) @ v
    return [real_part(LA.diagonal(s)), v @ (_eig_f(w) * s)]


@_rule(_VJP, "eigvalsh")
def _eigvalsh_vjp(p, inputs, outputs, cts):
    v = LA.eigh(inputs[0]).eigenvectors
    return [as_dtype_of(v @ (cts[0][..., :, None] * mH(v)), inputs[0])]


@_rule(_JVP, "eigvalsh")
def _eigvalsh_jvp(p, inputs, outputs, ts):
    v = LA.eigh(inputs[0]).eigenvectors
    return [real_part(S.sum(conj(v) * (_sym(ts[0]) @ v), axis=-2))]


# -- QR ---------------------------------------------------------------------------------------

def _qr_split(p, x: Array, q: Array):
    m, n = _matrix_dims(x, "qr")
    if p["mode"] == "complete" and m > n:
        raise ValueError(f"linalg.qr(mode='complete') of a {m}x{n} matrix (M > N) has no "
                         f"derivative: Q's last {m - n} columns are not unique; use "
                         f"mode='reduced'")
    return m, n


def _qr_square_vjp(q, r, gq, gr):
    """Cotangent of ``a = q @ r`` with ``r`` square (``M >= K``)."""
    mm = None
    if gr is not None:
        mm = gr @ mH(r)
    if gq is not None:
        mm = add(mm, -(mH(q) @ gq))
    up = C.triu(mm, k=1)
    xbar = up + mH(up) + _real_eye(r.shape[-1], r) * real_part(mm)
    b = add(q @ xbar, gq)
    return _right_solve(b, mH(r))


def _qr_square_jvp(q, r, da):
    x = _right_solve(mH(q) @ da, r)
    low = C.tril(x, k=-1)
    omega = low - mH(low)
    if x.dtype.kind == "c":
        omega = omega + _real_eye(r.shape[-1], r) * (1j * E.imag(x))
    u = x - omega
    return _right_solve(da, r) - q @ u, u @ r


@_rule(_VJP, "qr")
def _qr_vjp(p, inputs, outputs, cts):
    x = inputs[0]
    q, r = outputs
    gq, gr = cts
    m, n = _qr_split(p, x, q)
    if m >= n:
        return [_qr_square_vjp(q, r, gq, gr)]
    x2 = x[..., :, m:]
    gr1 = None if gr is None else gr[..., :, :m]
    if gr is not None:
        gq = add(gq, x2 @ mH(gr[..., :, m:]))
    g1 = _qr_square_vjp(q, r[..., :, :m], gq, gr1)
    g2 = C.zeros_like(x2) if gr is None else q @ gr[..., :, m:]
    return [M.concat([g1, g2], axis=-1)]


@_rule(_JVP, "qr")
def _qr_jvp(p, inputs, outputs, ts):
    x = inputs[0]
    q, r = outputs
    m, n = _qr_split(p, x, q)
    da = ts[0]
    if m >= n:
        return list(_qr_square_jvp(q, r, da))
    dq, dr1 = _qr_square_jvp(q, r[..., :, :m], da[..., :, :m])
    dr2 = mH(dq) @ x[..., :, m:] + mH(q) @ da[..., :, m:]
    return [dq, M.concat([dr1, dr2], axis=-1)]


# -- SVD ----------------------------------------------------------------------------------------

def _svd_check(p, x: Array) -> tuple[int, int]:
    m, n = _matrix_dims(x, "svd")
    if p.get("full_matrices") and m != n:
        raise ValueError(f"linalg.svd(full_matrices=True) of a {m}x{n} matrix has no "
                         f"derivative (the extra singular vectors are not unique); use "
                         f"full_matrices=False")
    return m, n


def _svd_f(s: Array) -> Array:
    """``F[i, j] = 1 / (s_j^2 - s_i^2)`` off the diagonal, 0 on it."""
    s2 = s * s
    eye = _real_eye(s.shape[-1], s)
    return (1.0 - eye) / (s2[..., None, :] - s2[..., :, None] + eye)


def _svd_vjp_core(x, u, s, vh, gu, gs, gvh):
    m, n = x.shape[-2:]
    if gu is None and gvh is None:
        return (u * gs[..., None, :]) @ vh
    f = _svd_f(s)
    gds = None if gs is None else _diag_embed(gs, s)
    if gu is not None:
        uhgu = mH(u) @ gu
        sk = uhgu - mH(uhgu)
        gds = add(gds, (f * sk) * s[..., None, :])
        if x.dtype.kind == "c":
            gds = gds + _diag_embed(LA.diagonal(sk) / (2.0 * s), s)
    gv = None
    if gvh is not None:
        gv = mH(gvh)
        vhgv = vh @ gv
        gds = add(gds, s[..., :, None] * (f * (vhgv - mH(vhgv))))
    ga = u @ gds @ vh
    if m > n and gu is not None:
        gus = gu / s[..., None, :]
        ga = ga + (gus - u @ (mH(u) @ gus)) @ vh
    if n > m and gv is not None:
        gvs = gv / s[..., None, :]
        ga = ga + u @ mH(gvs - mH(vh) @ (vh @ gvs))
    return ga


def _svd_jvp_core(x, u, s, vh, da):
    m, n = x.shape[-2:]
    v = mH(vh)
    ds = mH(u) @ da @ v
    f = _svd_f(s)
    dss = ds * s[..., None, :]
    sds = s[..., :, None] * ds
    du_in = f * (dss + mH(dss))
    if x.dtype.kind == "c":
        du_in = du_in + _diag_embed(1j * E.imag(LA.diagonal(ds)) / s, s)
    du = u @ du_in
    dv = v @ (f * (sds + mH(sds)))
    if m > n:
        dav = da @ v
        du = du + (dav - u @ (mH(u) @ dav)) / s[..., None, :]
    if n > m:
        dahu = mH(da) @ u
        dv = dv + (dahu - v @ (vh @ dahu)) / s[..., None, :]
    return du, real_part(LA.diagonal(ds)), mH(dv)


@_rule(_VJP, "svd")
def _svd_vjp(p, inputs, outputs, cts):
    _svd_check(p, inputs[0])
    return [_svd_vjp_core(inputs[0], *outputs, *cts)]


@_rule(_JVP, "svd")
def _svd_jvp(p, inputs, outputs, ts):
    _svd_check(p, inputs[0])
    return list(_svd_jvp_core(inputs[0], *outputs, ts[0]))


@_rule(_VJP, "svdvals")
def _svdvals_vjp(p, inputs, outputs, cts):
    u, _, vh = LA.svd(inputs[0], full_matrices=False)
    return [(u * cts[0][..., None, :]) @ vh]


@_rule(_JVP, "svdvals")
def _svdvals_jvp(p, inputs, outputs, ts):
    u, _, vh = LA.svd(inputs[0], full_matrices=False)
    return [real_part(S.sum(conj(u) * (ts[0] @ mH(vh)), axis=-2))]


@_rule(_VJP, "pinv")
def _pinv_vjp(p, inputs, outputs, cts):
    a, pa, g = inputs[0], outputs[0], cts[0]
    ph = mH(pa)
    gh = mH(g)
    t2 = gh @ pa @ ph
    t2 = t2 - a @ (pa @ t2)
    t3 = ph @ pa @ gh
    t3 = t3 - (t3 @ pa) @ a
    return [-(ph @ g @ ph) + t2 + t3] + [None] * (len(inputs) - 1)


@_rule(_JVP, "pinv")
def _pinv_jvp(p, inputs, outputs, ts):
    a, pa, da = inputs[0], outputs[0], ts[0]
    if da is None:
        return [None]
    dah = mH(da)
    t2 = pa @ mH(pa) @ dah
    t2 = t2 - (t2 @ a) @ pa
    t3 = dah @ mH(pa) @ pa
    t3 = t3 - pa @ (a @ t3)
    return [-(pa @ da @ pa) + t2 + t3]


@_rule(_VJP, "matrix_rank")
def _rank_vjp(p, inputs, outputs, cts):
    return [None] * len(inputs)


@_rule(_JVP, "matrix_rank")
def _rank_jvp(p, inputs, outputs, ts):
    return [None]


# -- powers, diagonals, traces ------------------------------------------------------------------

def _power_terms(p, x, middle, conjugate: bool):
    """``sum_j B^j @ middle @ B^(k-1-j)`` (each power conjugate-transposed if ``conjugate``)
    for ``x^n = B^k`` (``B = inv(x)`` when ``n < 0``); the powers are built once, in sequence,
    so the graph has O(k) products. Returns ``(sum, B)``; ``None`` sum for ``n = 0``."""
    n = p["n"]
    b, k = (LA.inv(x), -n) if n < 0 else (x, n)
    if k == 0:
        return None, b
    step = mH(b) if conjugate else b
    pows = [None, step]  # pows[j] = step^j; None stands for the identity
    for _ in range(2, k):
        pows.append(pows[-1] @ step)
    out = None
    for j in range(k):
        term = middle if pows[j] is None else pows[j] @ middle
        right = pows[k - 1 - j]
        out = add(out, term if right is None else term @ right)
    return out, b


@_rule(_VJP, "matrix_power")
def _matrix_power_vjp(p, inputs, outputs, cts):
    gb, b = _power_terms(p, inputs[0], cts[0], conjugate=True)
    if gb is not None and p["n"] < 0:
        bh = mH(b)
        gb = -(bh @ gb @ bh)
    return [gb]


@_rule(_JVP, "matrix_power")
def _matrix_power_jvp(p, inputs, outputs, ts):
    x, t = inputs[0], ts[0]
    if p["n"] < 0:
        b = LA.inv(x)
        t = -(b @ t @ b)
    return [_power_terms(p, x, t, conjugate=False)[0]]


def _embed_diagonal(g: Array, x: Array, offset: int) -> Array:
    """The ``(..., M, N)`` matrix with ``g`` (``(..., L)``) on diagonal ``offset``."""
    m, n = _matrix_dims(x, "diagonal")
    size = g.shape[-1]
    if size == 0:  # the offset lies outside the matrix
        return C.zeros(tuple(x.shape), dtype=g.dtype)
    c0 = max(offset, 0)
    batch = tuple(g.shape[:-1])
    parts = []
    if c0:
        parts.append(C.zeros(batch + (c0,), dtype=g.dtype))
    parts.append(g)
    if n - c0 - size > 0:
        parts.append(C.zeros(batch + (n - c0 - size,), dtype=g.dtype))
    row = parts[0] if len(parts) == 1 else M.concat(parts, axis=-1)
    return C.eye(m, n, k=offset, dtype=g.dtype) * row[..., None, :]


@_rule(_VJP, "diagonal")
def _diagonal_vjp(p, inputs, outputs, cts):
    return [_embed_diagonal(cts[0], inputs[0], p["offset"])]


@_rule(_JVP, "diagonal")
def _diagonal_jvp(p, inputs, outputs, ts):
    return [LA.diagonal(ts[0], offset=p["offset"])]


@register_vjp(Diagonal)
def _diagonal_view_vjp(op, inputs, outputs, cts):  # the view that lowering makes of it
    return [_embed_diagonal(cts[0], inputs[0], op.offset)]


@register_jvp(Diagonal)
def _diagonal_view_jvp(op, inputs, outputs, ts):
    return [LA.diagonal(ts[0], offset=op.offset)]


@_rule(_VJP, "trace")
def _trace_vjp(p, inputs, outputs, cts):
    x = inputs[0]
    m, n = _matrix_dims(x, "trace")
    g = as_dtype_of(cts[0], x)
    return [g[..., None, None] * C.eye(m, n, k=p["offset"], dtype=x.dtype)]


@_rule(_JVP, "trace")
def _trace_jvp(p, inputs, outputs, ts):
    return [LA.trace(ts[0], offset=p["offset"], dtype=p["dtype"])]


# -- norms --------------------------------------------------------------------------------------

def _nonzero(y: Array) -> Array:
    """``y`` with zeros replaced by ones: a zero norm divides a zero numerator, and its
    derivative is taken as 0 (PyTorch's subgradient) instead of NaN."""
    return E.where(y == 0, 1.0, y)


def _over_norm(num: Array, y: Array) -> Array:
    """``num / y`` for a norm ``y`` (broadcast against ``num``), 0 where ``y`` is 0: a zero norm
    has derivative 0, also where ``x`` is not zero but its squares underflowed."""
    return E.where(y == 0, 0.0, num / _nonzero(y))


def _abs_tangent(x: Array, t: Array) -> Array:
    """The tangent of ``abs(x)``: ``Re(conj(sign(x)) * t)``."""
    return real_part(conj(E.sign(x)) * t)


def _norm_pick(p, x: Array):
    """For ``ord`` 1/-1/inf/-inf: the 0/1 mask ``(..., M, N)`` of the column (or row) whose
    absolute sum is the norm."""
    ord_ = p["ord"]
    m, n = _matrix_dims(x, "matrix_norm")
    by_col = ord_ in (1, -1)
    sums = S.sum(E.abs(x), axis=-2 if by_col else -1)
    pick = (SE.argmax if ord_ > 0 else SE.argmin)(sums, axis=-1)
    size = n if by_col else m
    hit = E.equal(C.arange(size), pick[..., None])
    mask = C.ones_like(sums) * hit
    return mask[..., None, :] if by_col else mask[..., :, None]


def _sv_pair(p, x: Array):
    """Singular vectors ``(u (..., M, 1), vh (..., 1, N))`` of the singular value that is the
    2-norm (``ord=2``) or the -2 norm."""
    u, _, vh = LA.svd(x, full_matrices=False)
    i = 0 if p["ord"] == 2 else min(_matrix_dims(x, "matrix_norm")) - 1
    return u[..., :, i:i + 1], vh[..., i:i + 1, :]


@_rule(_VJP, "matrix_norm")
def _matrix_norm_vjp(p, inputs, outputs, cts):
    x, y, g = inputs[0], outputs[0], cts[0]
    keep = p["keepdims"]
    gk = g if keep else g[..., None, None]
    ord_ = p["ord"]
    if ord_ == "fro":
        return [_over_norm(gk * x, y if keep else y[..., None, None])]
    if ord_ == "nuc":
        u, _, vh = LA.svd(x, full_matrices=False)
        return [gk * (u @ vh)]
    if ord_ in (2, -2):
        u, vh = _sv_pair(p, x)
        return [gk * (u @ vh)]
    return [gk * E.sign(x) * _norm_pick(p, x)]


@_rule(_JVP, "matrix_norm")
def _matrix_norm_jvp(p, inputs, outputs, ts):
    x, y, t = inputs[0], outputs[0], ts[0]
    keep = p["keepdims"]
    ord_ = p["ord"]
    if ord_ == "fro":
        return [_over_norm(S.sum(real_part(conj(x) * t), axis=(-2, -1), keepdims=keep), y)]
    if ord_ == "nuc":
        u, _, vh = LA.svd(x, full_matrices=False)
        return [S.sum(real_part(conj(u) * (t @ mH(vh))), axis=(-2, -1), keepdims=keep)]
    if ord_ in (2, -2):
        u, vh = _sv_pair(p, x)
        return [S.sum(real_part(conj(u) * (t @ mH(vh))), axis=(-2, -1), keepdims=keep)]
    return [S.sum(_abs_tangent(x, t) * _norm_pick(p, x), axis=(-2, -1), keepdims=keep)]


def _vector_norm_weight(p, x: Array, yk: Array) -> Array | None:
    """``d norm / d |x_i|`` (with ``yk`` the norm broadcast to ``x``); None for ``ord=0``
    (a count)."""
    ord_, axes = p["ord"], p["axes"]
    if ord_ == 0:
        return None
    if not axes or ord_ == 1:  # a 0-d input's "norm" is abs(x), whatever the (nonzero) order
        return C.ones_like(yk)
    if math.isinf(ord_):  # ties share the derivative equally
        a = E.abs(x)
        top = (S.max if ord_ > 0 else S.min)(a, axis=axes, keepdims=True)
        hit = C.ones_like(yk) * E.equal(a, top)
        return hit / S.sum(hit, axis=axes, keepdims=True)
    # a zero norm has derivative 0 (a negative or fractional order would give 0 ** <0: inf)
    return E.where(yk == 0, 0.0, (E.abs(x) / _nonzero(yk)) ** (ord_ - 1))


@_rule(_VJP, "vector_norm")
def _vector_norm_vjp(p, inputs, outputs, cts):
    x, y, g = inputs[0], outputs[0], cts[0]
    keep, axes = p["keepdims"], p["axes"]
    yk, gk = (y, g) if keep else (expand_axes(y, axes), expand_axes(g, axes))
    if p["ord"] == 2:
        return [_over_norm(gk * x, yk)]
    w = _vector_norm_weight(p, x, yk)
    return [None if w is None else gk * w * E.sign(x)]


@_rule(_JVP, "vector_norm")
def _vector_norm_jvp(p, inputs, outputs, ts):
    x, y, t = inputs[0], outputs[0], ts[0]
    keep, axes = p["keepdims"], p["axes"]
    if p["ord"] == 2:
        return [_over_norm(S.sum(real_part(conj(x) * t), axis=axes, keepdims=keep), y)]
    yk = y if keep else expand_axes(y, axes)
    w = _vector_norm_weight(p, x, yk)
    if w is None:
        return [None]
    return [S.sum(w * _abs_tangent(x, t), axis=axes, keepdims=keep)]


# -- products -----------------------------------------------------------------------------------

@_rule(_VJP, "cross")
def _cross_vjp(p, inputs, outputs, cts):
    a, b = inputs
    g, ax = cts[0], p["axis"]
    return [sum_to_like(LA.cross(conj(b), g, axis=ax), a),
            sum_to_like(LA.cross(g, conj(a), axis=ax), b)]


@_rule(_JVP, "cross")
def _cross_jvp(p, inputs, outputs, ts):
    a, b = inputs
    da, db = ts
    ax = p["axis"]
    out = None if da is None else LA.cross(da, b, axis=ax)
    out = add(out, None if db is None else LA.cross(a, db, axis=ax))
    return [broadcast_like(out, outputs[0])]


@_rule(_VJP, "outer")
def _outer_vjp(p, inputs, outputs, cts):
    a, b = inputs
    g = cts[0]
    return [g @ conj(b), mT(g) @ conj(a)]


@_rule(_JVP, "outer")
def _outer_jvp(p, inputs, outputs, ts):
    a, b = inputs
    da, db = ts
    out = None if da is None else LA.outer(da, b)
    return [add(out, None if db is None else LA.outer(a, db))]


def _tensordot_parts(p, x: Array, y: Array):
    a1, a2 = (list(a) for a in p["axes"])
    free1 = [i for i in range(x.ndim) if i not in a1]
    free2 = [j for j in range(y.ndim) if j not in a2]
    return a1, a2, free1, free2


def _moved_back(r: Array, axes: list) -> Array:
    """``r`` whose axis ``k`` is axis ``axes[k]`` of an operand, in that operand's order."""
    return M.permute_dims(r, tuple(axes.index(i) for i in range(len(axes))))


@_rule(_VJP, "tensordot")
def _tensordot_vjp(p, inputs, outputs, cts):
    x, y = inputs
    g = cts[0]
    a1, a2, free1, free2 = _tensordot_parts(p, x, y)
    g_free2 = list(range(len(free1), g.ndim))
    gx = LA.tensordot(g, conj(y), axes=(g_free2, free2))  # (free1, y's a2 axes in order)
    gy = LA.tensordot(conj(x), g, axes=(free1, list(range(len(free1)))))
    return [_moved_back(gx, free1 + [a1[a2.index(j)] for j in sorted(a2)]),
            _moved_back(gy, [a2[a1.index(i)] for i in sorted(a1)] + free2)]


@_rule(_JVP, "tensordot")
def _tensordot_jvp(p, inputs, outputs, ts):
    x, y = inputs
    dx, dy = ts
    axes = tuple(list(a) for a in p["axes"])
    out = None if dx is None else LA.tensordot(dx, y, axes=axes)
    return [add(out, None if dy is None else LA.tensordot(x, dy, axes=axes))]
