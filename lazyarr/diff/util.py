"""Small helpers shared by the rules and the engine: reducing a cotangent to an input's
shape, matching dtypes, zeros."""

from __future__ import annotations

import numpy as np

from ..array.coerce import Array, as_var, build, wrap
from ..array.materialize import ConcretizationError
from ..array.ops.shape import Reshape, SumLike
from ..graph.basic import Var
from .xp import xp


def is_differentiable(dtype: np.dtype) -> bool:
    """Whether values of ``dtype`` carry derivatives (real floating or complex)."""
    return dtype.kind in "fc"


def unbroadcast(g: Array, shape: tuple, like=None) -> Array:
    """``g`` summed over the axes that broadcasting added or stretched, giving ``shape``
    (the adjoint of broadcasting an array of ``shape`` to ``g.shape``). ``like`` (a Var or
    Array of that shape, optional) is read for the sizes of ``shape`` known only at run time:
    where such a size meets a size of ``g`` other than 1, `SumLike` sums that axis if the size
    turns out to be 1. Without ``like`` such an axis is taken to be ``g``'s size."""
    gs, shape = as_var(g).shape, tuple(shape)
    if _same_sizes(gs, shape, like is not None):
        return g
    lead = len(gs) - len(shape)
    run = () if like is None else tuple(
        i for i, d in enumerate(shape) if d is None and gs[lead + i] != 1)
    if lead and (None in gs or None in shape):  # no reshape names a run-time size:
        # the added axes go first
        g = xp.sum(g, axis=tuple(range(lead)))
        gs, lead = as_var(g).shape, 0
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gs[lead + i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    if run:
        g = build(SumLike(run), as_var(g), like if isinstance(like, Var) else as_var(like))
    if not _same_sizes(as_var(g).shape, shape, False):
        g = xp.reshape(g, shape)
    return g


def _same_sizes(gs: tuple, shape: tuple, runtime: bool) -> bool:
    """Whether cotangent shape ``gs`` needs no summing to become ``shape`` (None: a size known
    only at run time). A run-time size of ``gs`` against a known one is that size (kernels
    check it), except against 1, which broadcasting may have stretched: that axis is summed
    (a sum of one element changes nothing). A run-time size of ``shape`` may be 1 where ``gs``
    has another size, known or not: with ``runtime`` that axis needs summing at run time,
    else it is taken to be ``gs``'s size."""
    if gs == shape and not (runtime and None in gs):
        return True
    return len(gs) == len(shape) and all(
        (a == 1 or not runtime) if b is None else (a == b or (a is None and b != 1))
        for a, b in zip(gs, shape))


def sum_to_like(g: Array, x) -> Array:
    """``g`` summed to the shape of Array ``x`` (`unbroadcast` with ``x`` as its reference:
    sizes known only at run time are not read)."""
    return unbroadcast(g, as_var(x).shape, x)


def broadcast_like(t: Array, out) -> Array:
    """Tangent ``t`` broadcast to the shape of Array ``out``; where ``out`` has a size known
    only at run time, by adding zeros like ``out`` (no size is read)."""
    shape = as_var(out).shape
    if as_var(t).shape == shape:
        return t
    return xp.broadcast_to(t, shape) if None not in shape else t + xp.zeros_like(out)


def match(g: Array, like_dtype: np.dtype, shape: tuple | None = None, like=None) -> Array:
    """``g`` converted to ``like_dtype`` (the real part when a complex cotangent reaches a real
    value) and, when ``shape`` is given, reduced to it (``like``: see `unbroadcast`)."""
    if shape is not None:
        g = unbroadcast(g, shape, like)
    dt = as_var(g).dtype
    if dt != like_dtype:
        if dt.kind == "c" and like_dtype.kind != "c":
            g = xp.real(g)
        if as_var(g).dtype != like_dtype:
            g = xp.astype(g, like_dtype)
    return g


def scale(g: Array, c) -> Array:
    """``g * c`` where ``c`` is an Array or a Python number (1 and -1 build no product)."""
    if isinstance(c, (int, float)) and not isinstance(c, bool):
        if c == 1:
            return g
        if c == -1:
            return -g
    return g * c


def add_all(terms: list) -> Array | None:
    """The sum of the non-None entries of ``terms`` (None if there are none)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out


def shape_of(v) -> tuple:
    """The shape of Var or Array ``v`` as ints (a size known only from data is computed)."""
    var = v if isinstance(v, Var) else as_var(v)
    return tuple(wrap(var).shape) if None in var.shape else var.shape


def input_shape(v: Var) -> tuple:
    """The shape of a transform's symbolic input standing for Var ``v``: a size known only at
    run time is read where ``v`` can be computed, and stays None where that needs a traced
    value (``v`` depends on an enclosing transform's or `compile`'s input)."""
    try:
        return shape_of(v)
    except ConcretizationError:
        return v.shape


def reshape_shape(v) -> tuple:
    """The shape of Var or Array ``v`` to name in a `Reshape`: one size known only at run time
    stays None (`Reshape.perform` fills it in, so no value is read); several are read (eagerly
    only: inside a trace that needs the value)."""
    shape = (v if isinstance(v, Var) else as_var(v)).shape
    return shape if shape.count(None) <= 1 else shape_of(v)


def reshape_to(g: Array, shape: tuple) -> Array:
    """``g`` reshaped to ``shape``, which may name one size known only at run time (None)."""
    if as_var(g).shape == shape:
        return g
    return build(Reshape(shape), as_var(g)) if None in shape else xp.reshape(g, shape)


def zeros_of(v) -> Array:
    """Zeros with the dtype and shape of Var or Array ``v`` (a size known only at run time
    stays so: inside a trace, reading it would need the value)."""
    return xp.zeros_like(wrap(v) if isinstance(v, Var) else v)


def arange_along(x, axis: int) -> Array:
    """``arange(n)`` (int64, shape ``(n,)``) for the size ``n`` of Array ``x`` along ``axis``;
    where that size is known only at run time, counted from ``x`` when it runs (a cumulative
    sum of ones), reading no value."""
    shape = as_var(x).shape
    if shape[axis] is not None:
        return xp.arange(shape[axis], dtype=xp.int64)
    others = tuple(d for d in range(len(shape)) if d != axis % len(shape))
    line = xp.sum(x, axis=others) if others else x
    return xp.cumulative_sum(xp.ones_like(line, dtype=xp.int64)) - 1


def conj(x):
    """Complex conjugate of an Array or Python number (real values unchanged)."""
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, complex):
        return x.conjugate()
    return xp.conj(x) if as_var(x).dtype.kind == "c" else x


def apply_op(op, *args) -> Array:
    """A node of ``op`` (single output) on Arrays ``args``: rules use it to apply the op they
    differentiate to tangents or cotangents."""
    from ..array.coerce import build

    return build(op, *[as_var(a) for a in args])
