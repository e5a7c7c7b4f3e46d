"""The array namespace that derivative rules are written with.

``diff`` may import ``array`` but not the top-level package, so the rules use this object: the
standard's functions of ``lazyarr.array.functions`` under their usual names (``xp.sin``,
``xp.sum``, ``xp.reshape``...).
"""

from __future__ import annotations

from types import SimpleNamespace

from ..array import dtypes as _D
from ..array.functions import (
    creation,
    dtype_funcs,
    elementwise,
    linalg_basic,
    manipulation,
    statistics,
)

xp = SimpleNamespace()
for _mod in (creation, dtype_funcs, elementwise, linalg_basic, manipulation, statistics):
    for _name in _mod.__all__:
        setattr(xp, _name, getattr(_mod, _name))
for _name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float32", "float64", "complex64", "complex128"):
    setattr(xp, _name.rstrip("_"), getattr(_D, _name))

__all__ = ["xp"]
