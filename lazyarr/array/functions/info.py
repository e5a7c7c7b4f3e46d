"""Inspection utilities of the standard: ``__array_namespace_info__()`` and
``broadcast_shapes``."""

from __future__ import annotations

import operator

from .. import dtypes as D
from ..device import CPU, as_device
from ..ops.elemwise import broadcast_shapes as _broadcast_shapes

__all__ = ["__array_namespace_info__", "broadcast_shapes"]

_KIND_NAMES = ("bool", "signed integer", "unsigned integer", "integral", "real floating",
               "complex floating", "numeric")


class Info:
    """What the namespace supports: capabilities, devices and dtypes."""

    __module__ = "lazyarr"

    def capabilities(self) -> dict:
        """Optional features: boolean indexing and data-dependent shapes are supported."""
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": 64}

    def default_device(self):
        """The device arrays are created on when none is given (the CPU)."""
        return CPU

    def devices(self) -> list:
        """The devices arrays can live on."""
        return [CPU]

    def default_dtypes(self, *, device=None) -> dict:
        """Default dtypes for floats, complex numbers, integers and indices."""
        as_device(device)
        return {"real floating": D.default_float, "complex floating": D.default_complex,
                "integral": D.default_int, "indexing": D.default_index}

    def dtypes(self, *, device=None, kind=None) -> dict:
        """The supported dtypes by name, optionally only those of ``kind`` (a kind name,
        a dtype, or a tuple of them): a new dict each call."""
        as_device(device)
        try:
            found = _dtypes_of_kind.get(kind)
            hashable = True
        except TypeError:  # an unhashable kind: `isdtype` says what is wrong with it
            found, hashable = None, False
        if found is None:
            found = {n: dt for n, dt in _DTYPE_NAMES.items()
                     if kind is None or D.isdtype(dt, kind)}
            if hashable and len(_dtypes_of_kind) < 64:
                _dtypes_of_kind[kind] = found
        return dict(found)


#: the supported dtypes by name, and the answers of `Info.dtypes` per kind asked (array-API
#: consumers ask on every call: scikit-learn twice per namespace lookup)
_DTYPE_NAMES = {str(dt) if dt.kind != "b" else "bool": dt for dt in D.ALL_DTYPES}
_dtypes_of_kind: dict = {}

_INFO = Info()


def __array_namespace_info__() -> Info:
    """The namespace's inspection object (capabilities, devices, default dtypes, dtypes)."""
    return _INFO


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """The shape that arrays of ``shapes`` broadcast to (ValueError if they do not)."""
    norm = [tuple(operator.index(d) for d in s) for s in shapes]
    if not norm:
        return ()
    return _broadcast_shapes(*norm) if len(norm) > 1 else norm[0]
