"""Data type functions of the standard."""

from __future__ import annotations

from ...graph.userline import where
from .. import dtypes as D
from ..coerce import Array, as_var, cast, snapshot, wrap
from ..device import as_device
from ..dtypes import can_cast, finfo, iinfo, isdtype, result_type

__all__ = ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"]


def astype(x, dtype, /, *, copy: bool = True, device=None) -> Array:
    """``x`` converted to ``dtype``. Complex to real is a TypeError (take ``real`` first)."""
    as_device(device)
    v = as_var(x)
    dt = D.as_dtype(dtype)
    if v.dtype.kind == "c" and dt.kind != "c":
        raise TypeError(f"astype(): casting complex {v.dtype} to {dt} would drop the imaginary "
                        f"part; use real() first ({where()})")
    if dt == v.dtype:
        if not copy:
            return x if isinstance(x, Array) else wrap(v)
        return wrap(snapshot(v))
    return wrap(cast(v, dt))
