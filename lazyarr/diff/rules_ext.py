"""Helpers shared by the derivative rules of the extension ops (``rules_linalg_ext``,
``rules_fft``, ``rules_sort``).

Convention (the engine's, see ``array/ops/scalar_table.py``): a vjp is the adjoint of the jvp
under the real inner product ``Re(sum(conj(a) * b))``, so the vjp of a holomorphic ``f`` is
``g * conj(f')``, and the cotangent of a real input is real.
"""

from __future__ import annotations

from ..array.coerce import Array
from ..array.functions import elementwise as E
from ..array.functions import manipulation as M
from ..array.functions.linalg_basic import matrix_transpose
from .util import conj, match
from .util import unbroadcast as sum_to

__all__ = ["add", "as_dtype_of", "conj", "expand_axes", "mH", "mT", "real_part", "sum_to"]


def mH(x: Array) -> Array:
    """Conjugate transpose of the last two axes of ``(..., M, N)`` -> ``(..., N, M)``."""
    return conj(matrix_transpose(x))


def mT(x: Array) -> Array:
    """Transpose of the last two axes."""
    return matrix_transpose(x)


def real_part(x: Array) -> Array:
    """``real(x)`` for complex ``x``, ``x`` itself otherwise."""
    return E.real(x) if x.dtype.kind == "c" else x


def as_dtype_of(g: Array, x: Array) -> Array:
    """Cotangent ``g`` in the dtype of primal ``x`` (the real part if ``x`` is real)."""
    return match(g, x.dtype)


def add(a: Array | None, b: Array | None) -> Array | None:
    """``a + b`` where ``None`` stands for zero."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def expand_axes(g: Array, axes: tuple) -> Array:
    """``g`` with size-one axes inserted at the sorted positions ``axes`` (undoes a reduction
    without ``keepdims``)."""
    for a in sorted(axes):
        g = M.expand_dims(g, axis=a)
    return g
