"""Sorting functions of the standard: ``sort`` and ``argsort``."""

from __future__ import annotations

from ...graph.userline import where as _site
from ..coerce import Array, as_var, build
from ..ops.axes import normalize_axis
from ..ops.sort import ArgSort, Sort

__all__ = ["argsort", "sort"]


def _args(x, axis, fname):
    v = as_var(x)
    if v.dtype.kind == "c":
        raise TypeError(f"{fname}(): complex arrays have no order ({_site()})")
    if len(v.shape) == 0:
        raise ValueError(f"{fname}() needs at least one dimension ({_site()})")
    return v, normalize_axis(axis, len(v.shape), fname)


def sort(x, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Array:
    """``x`` sorted along ``axis`` (same shape and dtype); NaNs sort last (first when
    descending)."""
    v, ax = _args(x, axis, "sort")
    return build(Sort(ax, bool(descending), bool(stable)), v)


def argsort(x, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Array:
    """Indices (int64, shape of ``x``) that sort ``x`` along ``axis``; with ``stable`` equal
    elements keep their relative order, descending included."""
    v, ax = _args(x, axis, "argsort")
    return build(ArgSort(ax, bool(descending), bool(stable)), v)
