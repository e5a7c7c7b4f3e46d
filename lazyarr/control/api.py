"""The public control-flow functions: `cond`, `scan`, `fori_loop`, `while_loop`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import coerce
from ..array import dtypes as D
from ..graph.basic import apply
from ..graph.userline import where
from . import trace as T
from .ops import Cond, Scan, While

_INT64 = np.dtype(np.int64)


def _types(vs) -> list:
    return [(v.dtype, v.shape) for v in vs]


def _check_same(kind: str, a_struct, a_types, b_struct, b_types, a_name: str, b_name: str):
    if a_struct != b_struct:
        raise TypeError(f"{kind}: {a_name} returns {T.struct_str(a_struct)} but {b_name} "
                        f"returns {T.struct_str(b_struct)} ({where()})")
    for k, ((da, sa), (db, sb)) in enumerate(zip(a_types, b_types)):
        if da != db:
            raise TypeError(f"{kind}: output {k} has dtype {da} in {a_name} but {db} in "
                            f"{b_name} ({where()})")
        if tuple(sa) != tuple(sb):
            raise ValueError(f"{kind}: output {k} has shape {tuple(sa)} in {a_name} but "
                             f"{tuple(sb)} in {b_name} ({where()})")


def cond(pred, true_fn: Callable, false_fn: Callable, *operands) -> Any:
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, computing only the
    branch taken.

    ``pred``: a boolean (or numeric) scalar, lazy or not. ``operands``: pytrees of arrays. Both
    branches must return the same structure with equal dtypes and shapes (``TypeError`` /
    ``ValueError`` otherwise). Values the branches close over become inputs of the node, but
    computation inside a branch stays there: an untaken branch runs nothing.
    """
    p = coerce.as_var(pred)
    if p.shape != ():
        raise ValueError(f"cond: pred must be a scalar, got shape {p.shape} ({where()})")
    if p.dtype != D.bool_:
        p = _to_bool(p)
    leaves, struct = T.flatten(tuple(operands))
    ops = T.to_vars(leaves)
    types = _types(ops)
    tt = T.trace(true_fn, types, struct, hoist=False, what="true_fn")
    ft = T.trace(false_fn, types, struct, hoist=False, what="false_fn")
    _check_same("cond", tt.out_struct, tt.out_types, ft.out_struct, ft.out_types,
                "true_fn", "false_fn")
    if not tt.out_types:
        raise ValueError(f"cond: the branches return no arrays ({where()})")
    op = Cond(tt.graph, ft.graph, len(ops), len(tt.extras), len(ft.extras))
    outs = apply(op, p, *ops, *tt.extras, *ft.extras)
    return T.unflatten(tt.out_struct, [coerce.wrap(o) for o in outs])


def _to_bool(v):
    from ..array.functions.elementwise import not_equal

    return not_equal(coerce.wrap(v), 0)._v


def _length_var(length, where_: str):
    """``(static length or None, Var)`` for a scan length given as int or (lazy) array. A
    negative int is a ValueError; a negative value known only at run time runs no step."""
    if isinstance(length, (int, np.integer)) and not isinstance(length, bool):
        n = int(length)
        if n < 0:
            raise ValueError(f"scan: length must be >= 0, got {n} ({where_})")
        return n, coerce.const(n, _INT64)
    v = coerce.as_var(length)
    if v.shape != () or v.dtype.kind not in "iu":
        raise TypeError(f"scan: length must be an integer scalar, got {v.dtype}{list(v.shape)} "
                        f"({where_})")
    if v.owner is None and v.data is not None:
        n = max(int(v.data), 0)
        return n, coerce.const(n, _INT64)
    if v.dtype != _INT64:
        v = coerce.cast(v, _INT64)
    return None, v


def _scan_length(xv: list, length: Any, site: str) -> tuple[int | None, Any]:
    """``(static length or None, length Var)`` of a scan over sequences ``xv``.

    Without ``length`` the sequences' common leading size; a static ``length`` must equal the
    sequences' static sizes; a lazy ``length`` may be shorter than the sequences (the loop
    walks their first ``length`` slices; a shorter sequence fails at run time)."""
    for v in xv:
        if len(v.shape) == 0:
            raise ValueError(f"scan: sequences must have a leading axis, got a scalar ({site})")
    known = {v.shape[0] for v in xv if v.shape[0] is not None}
    if length is None:
        if not xv:
            raise ValueError(f"scan: give xs or length ({site})")
        if len(known) > 1:
            raise ValueError(f"scan: sequences have different lengths {sorted(known)} "
                             f"({site})")
        if not known:
            raise ValueError("scan: sequences whose length is known only at run time need "
                             f"length= ({site})")
        n = known.pop()
        if any(v.shape[0] is None for v in xv):
            raise ValueError(f"scan: some sequences have length {n}, others a length known "
                             f"only at run time: give length= ({site})")
        return n, coerce.const(n, _INT64)
    n, n_var = _length_var(length, site)
    if n is not None and any(k != n for k in known):
        if not isinstance(length, (int, np.integer)) and all(k > n for k in known):
            # an array's length walks a prefix, as one known only at run time does
            return None, n_var
        raise ValueError(f"scan: length={n} but the sequences have length(s) "
                         f"{sorted(known)} ({site})")
    return n, n_var


def scan(f: Callable, init: Any, xs: Any = None, length: Any = None, reverse: bool = False
         ) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``.

    ``init``: a pytree of arrays (the carry; ``f`` must return it with the same structure,
    dtypes and shapes). ``xs``: a pytree of arrays sharing a leading length ``n`` (or ``None``
    with ``length`` given; ``length`` may be a lazy integer scalar). Returns ``(final carry,
    ys)`` with each leaf of ``ys`` stacked to shape ``(n, *y.shape)``. ``reverse=True`` walks the
    sequences from the end (ys stay aligned with xs). ``f`` is traced once.
    """
    site = where()
    c_leaves, c_struct = T.flatten(init)
    carry = T.to_vars(c_leaves)
    x_leaves, x_struct = T.flatten(xs)
    xv = T.to_vars(x_leaves)
    static, n_var = _scan_length(xv, length, site)
    arg_types = _types(carry) + [(v.dtype, v.shape[1:]) for v in xv]
    arg_struct = ("tuple", (c_struct, x_struct))
    # a loop known to run a step computes its invariants anyway: those that may raise are
    # lifted too, unless only a cond branch needs them
    hoist = "steps" if static is not None and static >= 1 else "safe"
    tr = T.trace(f, arg_types, arg_struct, hoist=hoist, what="scan body")
    o = tr.out_struct
    pair = o[2] if o[0] == "ntuple" else o[1] if o[0] in ("tuple", "list") else ()
    if len(pair) != 2:
        raise TypeError(f"scan: f must return a pair (carry, y), got {T.struct_str(o)} "
                        f"({site})")
    new_c_struct, y_struct = pair
    nc = len(carry)
    _check_same("scan", c_struct, _types(carry), new_c_struct, tr.out_types[:nc],
                "init", "f's new carry")
    n_y = len(tr.out_types) - nc
    op = Scan(tr.graph, nc, len(xv), len(tr.extras), bool(reverse), static, (False,) * n_y)
    outs = apply(op, n_var, *carry, *xv, *tr.extras)
    arrs = [coerce.wrap(v) for v in outs]
    return T.unflatten(c_struct, arrs[:nc]), T.unflatten(y_struct, arrs[nc:])


def fori_loop(lower, upper, body: Callable, init: Any) -> Any:
    """``val = body(i, val)`` for ``i`` in ``range(lower, upper)``; returns the final ``val``.

    ``lower``/``upper``: integers or (lazy) integer scalars; ``init``: a pytree of arrays. Built
    on `scan`, so it has the same gradients.
    """
    site = where()

    def bound(b):  # a lazy bound in int64: the difference of two uint8 or int8 bounds wraps
        if isinstance(b, int):
            return b
        v = coerce.as_var(b)
        if v.dtype.kind not in "iu":
            raise TypeError(f"fori_loop: bounds must be integers, got {v.dtype} ({site})")
        return coerce.wrap(coerce.cast(v, _INT64))

    lo, up = bound(lower), bound(upper)
    if isinstance(lower, int) and isinstance(upper, int):
        n: Any = max(upper - lower, 0)
    else:
        from ..array.functions.elementwise import maximum

        n = maximum(up - lo, 0)
    i0 = coerce.wrap(coerce.const(lower, _INT64)) if isinstance(lower, int) else lo

    def step(c, _):
        i, v = c
        new = body(i, v)
        (old_leaves, old_struct), (new_leaves, new_struct) = T.flatten(v), T.flatten(new)
        if new_struct != old_struct:
            raise TypeError(f"fori_loop: body(i, val) must return val's structure "
                            f"{T.struct_str(old_struct)}, got {T.struct_str(new_struct)} "
                            f"({site})")
        for k, (a, b) in enumerate(zip(old_leaves, new_leaves)):
            da, db = coerce.as_var(a).dtype, coerce.as_var(b).dtype
            if da != db:
                raise TypeError(
                    f"fori_loop: body(i, val) changed the dtype of val's leaf {k} from {da} to "
                    f"{db}; it must keep val's dtypes (an operand of another dtype promotes "
                    f"it: the loop index i is an int64 scalar, so cast i or that operand, e.g. "
                    f"xp.astype(i, xp.{da})) ({site})")
        return (i + 1, new), None

    (_, out), _ = scan(step, (i0, init), None, length=n)
    return out


def while_loop(cond_fn: Callable, body_fn: Callable, init: Any) -> Any:
    """``while cond_fn(val): val = body_fn(val)``; returns the final ``val``.

    The number of steps depends on the data. ``cond_fn`` returns a boolean scalar; ``body_fn``
    returns ``val``'s structure with the same dtypes and shapes. The trajectory is recorded, so
    reverse-mode gradients flow through the loop.
    """
    site = where()
    leaves, struct = T.flatten(init)
    carry = T.to_vars(leaves)
    types = _types(carry)
    arg_struct = ("tuple", (struct,))
    ct = T.trace(cond_fn, types, arg_struct, hoist="safe", what="cond_fn")
    if len(ct.out_types) != 1 or ct.out_types[0][1] != ():
        raise TypeError(f"while_loop: cond_fn must return one scalar, got "
                        f"{T.struct_str(ct.out_struct)} of {ct.out_types} ({site})")
    cg = ct
    if ct.out_types[0][0] != D.bool_:
        cg = T.trace(lambda *a: cond_fn(*a) != 0, types, arg_struct, hoist="safe", what="cond_fn")
    bt = T.trace(body_fn, types, arg_struct, hoist="safe", what="body_fn")
    _check_same("while_loop", struct, types, bt.out_struct, bt.out_types, "init",
                "body_fn's result")
    op = While(cg.graph, bt.graph, len(carry), len(cg.extras), len(bt.extras), True)
    outs = apply(op, *carry, *cg.extras, *bt.extras)
    return T.unflatten(struct, [coerce.wrap(v) for v in outs[:len(carry)]])
