"""The user-facing `Array`: looks eager, is a lazy graph node.

Operators and attributes follow the array API standard's array object. Building an Array never
computes; reading a value (``np.asarray``, ``float``, ``bool``, ``repr``, iteration, ``__dlpack__``)
materializes it. ``__setitem__`` and in-place operators are functional updates: the Array points
to a new node, and arrays built from its old value keep that value. Views (basic indexing,
``reshape(copy=False)``, ``.T``, ``.mT``, ``permute_dims``) share their base's value as NumPy
views share memory: a write to either is seen by the other and by the base's other views
(`functions.indexing.view_of`).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ..graph import pipeline
from ..graph.userline import where
from . import _front, coerce
from .device import CPU, as_device
from .materialize import live_pending, realize


def _manipulation():
    """The shape functions' module (it imports this one; found without an import statement:
    ``x.T`` is on the hot path of eager code)."""
    return sys.modules["lazyarr.array.functions.manipulation"]


class Array(_front.ArrayBase):
    """A lazy n-dimensional array (array API standard 2024.12 array object)."""

    #: ``_v`` (the variable), ``_base`` and ``_views`` live in the C base: a view's base and
    #: region, and an array's live views (see `functions.indexing.view_of`)
    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]
    __array_priority__ = 1000.0

    def __init__(self, *args, **kwargs):
        raise TypeError("create arrays with lazyarr.asarray(), lazyarr.zeros(), ...")

    # ---- attributes ----------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The array's dtype (a NumPy dtype instance)."""
        return self._v.dtype

    @property
    def device(self):
        return CPU

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints. A size known only from data is computed on demand."""
        s = self._v.shape
        if None in s:
            return self._value().shape
        return s

    @property
    def ndim(self) -> int:
        return len(self._v.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def T(self) -> Array:
        """The transpose: axes reversed, for any number of them as NumPy's ``ndarray.T``
        (the standard asks for a 2-d array and says other ranks should raise; code written
        for NumPy reverses the axes of 1-d and 3-d arrays with ``.T``: lazyarr keeps that).
        A view, as NumPy's: ``t = a.T; t += 1`` changes ``a``."""
        return _manipulation().reverse_axes(self)

    @property
    def mT(self) -> Array:
        """Transpose of the last two axes (a stack of matrices); a view, as ``T`` is."""
        return _manipulation().swap_last_axes(self)

    def __array_namespace__(self, *, api_version: str | None = None):
        if api_version not in (None, "2021.12", "2022.12", "2023.12", "2024.12"):
            raise ValueError(f"unsupported array API version {api_version!r} ({where()})")
        return sys.modules["lazyarr"]

    def to_device(self, device, /, *, stream=None) -> Array:
        as_device(device)
        return self

    # ---- materialization ------------------------------------------------------------------
    # ``_value()`` (the data, realized first if needed), ``__array__`` and ``__bool__``,
    # ``__int__``, ``__float__``, ``__complex__`` are C methods of `_front.ArrayBase`:
    # ``np.asarray(a)`` and ``float(a)`` of a 0-d array run no Python frame of lazyarr

    def __index__(self) -> int:
        if self._v.dtype.kind not in "iu":
            raise TypeError(f"only integer arrays can be used as an index, not "
                            f"{self._v.dtype} ({where()})")
        return int(self._scalar("index"))

    def _scalar(self, what: str):
        """The value of a 0-d array (a NumPy scalar; for ``bool`` any array of size 1, as
        NumPy allows); TypeError for other shapes, and for ``int``/``float`` of a complex
        array (the standard's rule: no silent loss of the imaginary part)."""
        if what in ("int", "float") and self._v.dtype.kind == "c":
            raise TypeError(f"{what}() of a complex array; take its real part first "
                            f"({where()})")
        if len(self._v.shape) != 0 and (what != "bool" or self.size != 1):
            raise TypeError(f"{what}() needs a 0-d array, got shape {self.shape} ({where()})")
        return self._value().reshape(())[()]

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError(f"len() of a 0-d array ({where()})")
        return self.shape[0]

    def __iter__(self):
        """``x[0], x[1], ...``: views of ``x``, as NumPy's rows are (a write to one reaches
        ``x``), and nodes reading ``x`` (gradients flow through them; a traced ``x`` iterates
        as JAX's do). Only a length the run decides is read first, as ``len(x)`` reads it."""
        # not a generator itself: iter() of a 0-d array raises at once, as NumPy's does
        # (np.iterable and code that tries iter() to tell a scalar from a sequence rely on it)
        if self.ndim == 0:
            raise TypeError(f"iteration over a 0-d array ({where()})")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        text = np.array_repr(self._value())
        return "Array" + text[5:] if text.startswith("array") else text

    def __str__(self) -> str:
        return str(self._value())

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return format(self._value()[()], spec)
        return format(str(self), spec)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The value as a DLPack capsule (NumPy's export), marked read-only. Data lazyarr
        shares between arrays (a program's constant result: every ``zeros((2, 2))`` holds
        one buffer; a shared scalar constant; a view of another array's buffer) is exported
        as a private copy unless ``copy=False``; an array's own computed buffer is exported
        without a copy, and a consumer that ignores the read-only flag (torch) and writes
        into it changes this array, as with NumPy. A consumer of the DLPack 0.x protocol
        (no ``max_version``) cannot be told that a value is read-only: it gets a copy unless
        ``copy=False`` (then NumPy's BufferError)."""
        d = self._value()
        legacy = max_version is None or tuple(max_version) < (1, 0)
        if copy is not False and ((legacy and not d.flags.writeable) or self._shared(d)):
            d = d.copy()
        kw = {}
        if max_version is not None:
            kw["max_version"] = max_version
        if dl_device is not None:
            kw["dl_device"] = dl_device
        if copy is not None:
            kw["copy"] = copy
        return d.__dlpack__(stream=stream, **kw)

    def _shared(self, d: np.ndarray) -> bool:
        """Whether other arrays may read the buffer of ``d`` (this array's value)."""
        return self._v.const or d.base is not None or pipeline.shared(d)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU

    def __reduce__(self):
        from .functions.creation import _from_pickle

        return (_from_pickle, (self._value(),))

    def __copy__(self) -> Array:
        """A new array of this value: later writes to either (setitem, in-place operators)
        leave the other as it is; a copy is taken where it aliases a user's NumPy data."""
        return coerce.wrap(coerce.snapshot(self._v))

    def __deepcopy__(self, memo) -> Array:
        return self.__copy__()


coerce.Array = Array
_front.bind(Array, live_pending, vars(coerce), realize)
