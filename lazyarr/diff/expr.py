"""Theano-style operators on lazy arrays the user already holds: ``gradient``, ``Lop``
(vector-Jacobian) and ``Rop`` (Jacobian-vector).

The graph between ``wrt`` and the output must still be pending. Reading any value
materializes every pending array the user holds, which turns them into leaves (see
docs/design.md, "Live arrays are written back"): after that the path is gone. A cost that was
itself read raises; an array read before the cost was built on it is a constant to these
operators (as Theano's ``consider_constant``): no derivative flows through it, so
``g = gradient(c, x); print(g); gradient(sum(g), x)`` gives zeros. ``lazyarr.grad(f)`` has
no such constraint.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from ..array.coerce import Array, as_var
from ..graph.basic import Var
from ..graph.userline import where
from .engine import Tape
from .transforms import DisconnectedInputError, _check_like, check_disconnected_mode
from .util import is_differentiable, zeros_of
from .xp import xp

__all__ = ["gradient", "Lop", "Rop"]


def _as_list(x, what: str, fname: str) -> tuple[list, bool]:
    single = not isinstance(x, (list, tuple))
    items = [x] if single else list(x)
    for k, a in enumerate(items):
        if not isinstance(a, Array):
            raise TypeError(f"{fname}(): {what}{'' if single else f'[{k}]'} must be a lazyarr "
                            f"array, not {type(a).__name__} ({where()})")
    return items, single


def _check_wrt(wrt: list[Array], fname: str) -> list[Var]:
    vs = [a._v for a in wrt]
    for k, v in enumerate(vs):
        if not is_differentiable(v.dtype):
            raise TypeError(f"{fname}(): wrt[{k}] has dtype {v.dtype}; derivatives are taken "
                            f"only with respect to floating-point or complex arrays, not "
                            f"integer or boolean ones ({where()})")
    return vs


def _unique(vs: list[Var]) -> tuple[list[Var], list[int]]:
    """``vs`` without repeats, and where each entry of ``vs`` is in it (a tape counts an input
    given twice once)."""
    first: dict[int, int] = {}
    uniq: list[Var] = []
    where_ = []
    for v in vs:
        k = first.setdefault(id(v), len(uniq))
        if k == len(uniq):
            uniq.append(v)
        where_.append(k)
    return uniq, where_


def _check_pending(ys: list[Var], wrt: list[Var], fname: str, what: str) -> None:
    ids = {id(v) for v in wrt}
    for v in ys:
        if v.owner is None and id(v) not in ids and not v.const:
            raise ValueError(
                f"{fname}(): {what} was already materialized (a value was read, which computes "
                f"and freezes every pending array), so its graph from wrt is gone; call "
                f"{fname}() before reading values, or use lazyarr.grad(f) ({where()})")


def _constants(arrays: Sequence[Array]) -> list[Var]:
    items, _ = _as_list(list(arrays), "consider_constant", "gradient")
    return [a._v for a in items]


def _finish(gs, vs, tape: Tape, mode: str, fname: str) -> list[Array]:
    out = []
    for k, (g, v) in enumerate(zip(gs, vs)):
        if not tape.reaches(v):
            msg = f"{fname}(): wrt[{k}] is not part of the computational graph ({where()})"
            if mode == "raise":
                raise DisconnectedInputError(msg)
            if mode == "warn":
                warnings.warn(msg, stacklevel=3)
        out.append(zeros_of(v) if g is None else g)
    return out


def gradient(cost: Array, wrt: Array | Sequence[Array], *,
             consider_constant: Sequence[Array] = (),
             disconnected_inputs: str = "zero") -> Array | list[Array]:
    """The gradient of 0-d real ``cost`` w.r.t. ``wrt`` (an array or a list of arrays): arrays
    of the shapes and dtypes of ``wrt``. No derivative flows through the arrays of
    ``consider_constant``. ``disconnected_inputs``: ``'zero'``, ``'warn'`` or ``'raise'``
    (DisconnectedInputError, a ValueError) for a ``wrt`` that ``cost`` does not depend on."""
    check_disconnected_mode(disconnected_inputs, "gradient")
    c = as_var(cost)
    if c.shape != ():
        raise TypeError(f"gradient(): cost must be a scalar (0-d) array, got shape {c.shape} "
                        f"({where()})")
    if c.dtype.kind != "f":
        raise TypeError(f"gradient(): cost must be real floating-point, got {c.dtype} "
                        f"({where()})")
    items, single = _as_list(wrt, "wrt", "gradient")
    vs = _check_wrt(items, "gradient")
    _check_pending([c], vs, "gradient", "cost")
    uniq, pos = _unique(vs)  # a repeated entry gets its full gradient each time (Theano's)
    tape = Tape([c], uniq, constants=_constants(consider_constant))
    gs = _finish(tape.backward([xp.ones((), dtype=c.dtype)]), uniq, tape, disconnected_inputs,
                 "gradient")
    gs = [gs[k] for k in pos]
    return gs[0] if single else gs


def Lop(y: Array | Sequence[Array], wrt: Array | Sequence[Array],
        u: Array | Sequence[Array], *, consider_constant: Sequence[Array] = (),
        disconnected_inputs: str = "zero"):  # noqa: N802
    """Vector-Jacobian products ``sum_i J_i(wrt)ᵀ u_i`` (Theano's L-operator): ``u`` matches
    ``y`` in structure, shapes and dtypes; the result matches ``wrt``. Options as for
    `gradient`."""
    check_disconnected_mode(disconnected_inputs, "Lop")
    ys, _ = _as_list(y, "y", "Lop")
    us = [u] if not isinstance(u, (list, tuple)) else list(u)
    if len(us) != len(ys):
        raise ValueError(f"Lop(): {len(ys)} outputs but {len(us)} vectors u ({where()})")
    items, single = _as_list(wrt, "wrt", "Lop")
    vs = _check_wrt(items, "Lop")
    yv = [a._v for a in ys]
    _check_pending(yv, vs, "Lop", "y")
    cts = [_check_like(c, v, f"u[{k}]", "Lop") for k, (c, v) in enumerate(zip(us, yv))]
    uniq, pos = _unique(vs)  # a repeated entry gets its full product each time (Theano's)
    tape = Tape(yv, uniq, constants=_constants(consider_constant))
    gs = _finish(tape.backward(cts), uniq, tape, disconnected_inputs, "Lop")
    gs = [gs[k] for k in pos]
    return gs[0] if single else gs


def Rop(y: Array | Sequence[Array], wrt: Array | Sequence[Array],
        v: Array | Sequence[Array]):  # noqa: N802
    """Jacobian-vector products ``sum_j J(wrt_j) v_j`` by forward mode (Theano's R-operator):
    ``v`` matches ``wrt``; the result matches ``y`` (zeros where ``y`` does not depend on
    ``wrt``)."""
    ys, single = _as_list(y, "y", "Rop")
    items, _ = _as_list(wrt, "wrt", "Rop")
    vs = _check_wrt(items, "Rop")
    ts_in = [v] if not isinstance(v, (list, tuple)) else list(v)
    if len(ts_in) != len(vs):
        raise ValueError(f"Rop(): {len(vs)} wrt arrays but {len(ts_in)} vectors v ({where()})")
    yv = [a._v for a in ys]
    _check_pending(yv, vs, "Rop", "y")
    ts = [_check_like(t, w, f"v[{k}]", "Rop") for k, (t, w) in enumerate(zip(ts_in, vs))]
    uniq, pos = _unique(vs)  # a repeated entry's vectors add up: sum_j J(wrt_j) v_j
    summed: list = [None] * len(uniq)
    for k, t in zip(pos, ts):
        summed[k] = t if summed[k] is None else summed[k] + t
    outs = Tape(yv, uniq).forward(summed)
    res = [zeros_of(o) if t is None else t for t, o in zip(outs, yv)]
    return res[0] if single else res
