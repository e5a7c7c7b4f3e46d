"""Products and transposes of the main namespace (also part of the linalg extension)."""

from __future__ import annotations

import math
import operator

from ...graph.basic import Var, apply_types
from ...graph.userline import where
from ..coerce import Array, as_var, build, cast, coerce_pair, snapshot, wrap
from ..ops import _calls
from ..ops.axes import normalize_axis
from ..ops.elemwise import broadcast_shapes
from ..ops.linalg import MatMul
from ..ops.linalg_ext import Linalg
from .manipulation import swap_last_axes

__all__ = ["matmul", "tensordot", "vecdot", "matrix_transpose"]

_matmul_op = MatMul()
_calls.bind(Array, wrap, as_var, snapshot)


def _matmul(x1, x2, /) -> Array:
    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"matmul() needs numeric arrays, not {dt} ({where()})")
    if v1.dtype != dt:
        v1 = cast(v1, dt)
    if v2.dtype != dt:
        v2 = cast(v2, dt)
    return wrap(apply_types(_matmul_op, (v1, v2), _matmul_op.infer(v1, v2), 1)[0])


# C (`ops/_calls.pyx`): two Arrays of one dtype build the node without a Python frame (the
# last pair of shapes is remembered); other operands go through `_matmul`
_calls.set_matmul(_matmul_op, _matmul)
matmul = _calls.matmul
matmul.__module__ = __name__
matmul.__doc__ = ("Matrix product with NumPy's ``matmul`` semantics (batched, 1-d operands "
                  "promoted).")


def matrix_transpose(x, /) -> Array:
    """Transpose of the last two axes of ``x`` (at least 2-d)."""
    return swap_last_axes(x)


def tensordot(x1, x2, /, *, axes=2) -> Array:
    """Sum of products over ``axes`` (an int N: the last N of ``x1`` with the first N of
    ``x2``; or two sequences of axes), computed as one matrix product."""
    from .manipulation import permute_dims, reshape

    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"tensordot() needs numeric arrays, not {dt} ({where()})")
    v1, v2 = cast(v1, dt), cast(v2, dt)
    n1, n2 = len(v1.shape), len(v2.shape)
    if isinstance(axes, int) or hasattr(axes, "__index__"):
        k = operator.index(axes)
        if k < 0 or k > min(n1, n2):
            raise ValueError(f"tensordot(): axes={k} is out of range for shapes {v1.shape} and "
                             f"{v2.shape} ({where()})")
        a1, a2 = list(range(n1 - k, n1)), list(range(k))
    else:
        a1, a2 = ([normalize_axis(a, n, "tensordot") for a in ax]
                  for ax, n in zip(axes, (n1, n2)))
        if len(a1) != len(a2):
            raise ValueError(f"tensordot(): axes lists differ in length ({where()})")
        for a, which in ((a1, "x1"), (a2, "x2")):
            if len(set(a)) != len(a):
                raise ValueError(f"tensordot(): an axis of {which} is repeated in axes "
                                 f"{tuple(axes)} ({where()})")
    s1, s2 = v1.shape, v2.shape  # a size None is known only at run time (after a mask)
    for i, j in zip(a1, a2):
        if s1[i] is not None and s2[j] is not None and s1[i] != s2[j]:
            raise ValueError(f"tensordot(): axis {i} of x1 (size {s1[i]}) does not match axis "
                             f"{j} of x2 (size {s2[j]}) ({where()})")
    free1 = [i for i in range(n1) if i not in a1]
    free2 = [j for j in range(n2) if j not in a2]
    if None in s1 or None in s2:
        return _tensordot_run_time(v1, v2, a1, a2, free1, free2)
    k = math.prod(s1[i] for i in a1)
    m = math.prod(s1[i] for i in free1)
    n = math.prod(s2[j] for j in free2)
    left = reshape(permute_dims(wrap(v1), tuple(free1 + a1)), (m, k))
    right = reshape(permute_dims(wrap(v2), tuple(a2 + free2)), (k, n))
    out = matmul(left, right)
    return reshape(out, tuple(s1[i] for i in free1) + tuple(s2[j] for j in free2))


def _tensordot_run_time(v1: Var, v2: Var, a1: list, a2: list, free1: list,
                        free2: list) -> Array:
    """`tensordot` of operands with sizes known only at run time, which a reshape to one
    matrix product cannot name (a reshape would read them). One contracted axis and at most
    one free axis of ``x2``: one (batched) `matmul`, which compares the contracted sizes when
    it runs. Otherwise the ``Linalg("tensordot")`` op (NumPy's ``tensordot``, which compares
    them too: a product with broadcasting would stretch a size of 1 where NumPy raises)."""
    from .manipulation import permute_dims

    if len(a1) == 1 and len(free2) <= 1:
        left = permute_dims(wrap(v1), tuple(free1 + a1))
        right = permute_dims(wrap(v2), tuple(a2 + free2))
        return matmul(left, right)
    return build(Linalg("tensordot", (("axes", (tuple(a1), tuple(a2))),)), v1, v2)


def vecdot(x1, x2, /, *, axis: int = -1) -> Array:
    """Dot products of vectors along ``axis`` (``sum(conj(x1) * x2)``), broadcasting the rest."""
    from .elementwise import conj, multiply
    from .statistics import sum as _sum

    v1, v2, dt = coerce_pair(x1, x2)
    if dt.kind == "b":
        raise TypeError(f"vecdot() needs numeric arrays, not {dt} ({where()})")
    shape = broadcast_shapes(v1.shape, v2.shape)
    if not shape:
        raise ValueError(f"vecdot() needs at least one dimension ({where()})")
    ax = normalize_axis(axis, len(shape), "vecdot")
    nax = ax - len(shape)
    if (-nax > len(v1.shape) or -nax > len(v2.shape)
            or None not in (v1.shape[nax], v2.shape[nax]) and v1.shape[nax] != v2.shape[nax]):
        raise ValueError(f"vecdot(): the contracted axis differs between shapes {v1.shape} and "
                         f"{v2.shape} ({where()})")
    a = wrap(cast(v1, dt))
    if dt.kind == "c":
        a = conj(a)
    b = wrap(cast(v2, dt))
    if None in (v1.shape[nax], v2.shape[nax]):
        # a run-time size: a batched (1, K) @ (K, 1) product compares the contracted sizes
        # when it runs (a product with broadcasting would stretch a size of 1)
        from .manipulation import expand_dims, moveaxis

        a = expand_dims(moveaxis(a, nax, -1), axis=-2)
        b = expand_dims(moveaxis(b, nax, -1), axis=-1)
        return matmul(a, b)[..., 0, 0]
    return _sum(multiply(a, b), axis=ax, dtype=dt)  # keeps int8 int8


