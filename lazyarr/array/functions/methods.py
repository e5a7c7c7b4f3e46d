"""NumPy-style convenience methods on `Array` (``a.sum()``, ``a.reshape(...)``, ``a.real``...).

The array API standard has no such methods, but NumPy code uses them everywhere; each one is the
namespace function of the same meaning, with NumPy's argument names where they differ.
"""

from __future__ import annotations

import numpy as np

from ..array_object import Array
from . import elementwise as E
from . import manipulation as M
from . import statistics as S
from .dtype_funcs import astype
from .linalg_basic import matmul


def _reduction(fn):
    def method(self, axis=None, dtype=None, keepdims=False):
        if dtype is not None:
            return fn(self, axis=axis, dtype=dtype, keepdims=keepdims)
        return fn(self, axis=axis, keepdims=keepdims)
    method.__name__ = fn.__name__
    method.__doc__ = f"``{fn.__name__}(a, axis=..., keepdims=...)`` as a method."
    return method


def _plain_reduction(fn):
    def method(self, axis=None, keepdims=False):
        return fn(self, axis=axis, keepdims=keepdims)
    method.__name__ = fn.__name__
    method.__doc__ = f"``{fn.__name__}(a, axis=..., keepdims=...)`` as a method."
    return method


def _stat(fn):
    def method(self, axis=None, ddof=0, keepdims=False, correction=None):
        c = ddof if correction is None else correction
        return fn(self, axis=axis, correction=c, keepdims=keepdims)
    method.__name__ = fn.__name__
    method.__doc__ = f"``{fn.__name__}`` as a method (NumPy's ``ddof`` is ``correction``)."
    return method


def reshape(self, *shape, copy=None):
    """``a.reshape(2, 3)`` or ``a.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return M.reshape(self, shape, copy=copy)


def transpose(self, *axes):
    """``a.transpose()`` reverses the axes; ``a.transpose(1, 0, 2)`` permutes them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(range(self.ndim - 1, -1, -1))
    return M.permute_dims(self, axes)


def flatten(self):
    """A 1-d array of the elements in C order."""
    return M.reshape(self, (-1,))


def cumsum(self, axis=None, dtype=None):
    """NumPy's ``cumsum`` (axis None flattens first)."""
    a = M.reshape(self, (-1,)) if axis is None else self
    return S.cumulative_sum(a, axis=0 if axis is None else axis, dtype=dtype)


def cumprod(self, axis=None, dtype=None):
    """NumPy's ``cumprod`` (axis None flattens first)."""
    a = M.reshape(self, (-1,)) if axis is None else self
    return S.cumulative_prod(a, axis=0 if axis is None else axis, dtype=dtype)


def item(self, *args):
    """The element as a Python scalar (materializes)."""
    return np.asarray(self).item(*args)


def tolist(self):
    """Nested Python lists of the values (materializes)."""
    return np.asarray(self).tolist()


def copy(self):
    """A copy (lazy arrays are values, so this is the same value as a new array)."""
    return astype(self, self.dtype, copy=True)


def squeeze(self, axis=None):
    """Remove axes of size one (all of them when ``axis`` is None)."""
    if axis is None:
        axis = tuple(i for i, d in enumerate(self.shape) if d == 1)
    return M.squeeze(self, axis)


def clip(self, min=None, max=None):  # noqa: A002
    return E.clip(self, min, max)


Array.sum = _reduction(S.sum)
Array.prod = _reduction(S.prod)
Array.mean = _plain_reduction(S.mean)
Array.max = _plain_reduction(S.max)
Array.min = _plain_reduction(S.min)
Array.all = _plain_reduction(S.all)
Array.any = _plain_reduction(S.any)
Array.var = _stat(S.var)
Array.std = _stat(S.std)
Array.reshape = reshape
Array.transpose = transpose
Array.flatten = flatten
Array.ravel = flatten
Array.cumsum = cumsum
Array.cumprod = cumprod
Array.item = item
Array.tolist = tolist
Array.copy = copy
Array.squeeze = squeeze
Array.clip = clip
Array.astype = lambda self, dtype, copy=True: astype(self, dtype, copy=copy)
Array.dot = lambda self, other: matmul(self, other)
Array.conj = E.conj
Array.conjugate = E.conj
Array.real = property(E.real, doc="The real part (NumPy's attribute).")
Array.imag = property(E.imag, doc="The imaginary part (NumPy's attribute).")
