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
xp.float32, xp.float64 = _D.float32, _D.float64
xp.complex64, xp.complex128 = _D.complex64, _D.complex128

__all__ = ["xp"]
