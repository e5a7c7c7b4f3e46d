"""Ops of the fft extension: ``FFT(name, sizes, axes, norm)`` for the transforms,
``FFTFreq`` for the sample frequencies and ``FFTShift`` for the reordering.

Transforms keep the precision of their input: complex64 in, complex64 out; float32 in
(``rfft``, ``ihfft``) gives complex64; ``irfft``/``hfft`` of complex64 give float32.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .. import dtypes as D

#: name -> (result kind: "c" complex or "f" real, how the last transformed axis is sized)
_KIND = {
    "fft": ("c", "same"), "ifft": ("c", "same"), "fftn": ("c", "same"),
    "ifftn": ("c", "same"), "rfft": ("c", "half"), "rfftn": ("c", "half"),
    "ihfft": ("c", "half"), "irfft": ("f", "full"), "irfftn": ("f", "full"),
    "hfft": ("f", "full"),
}
_ONE_AXIS = frozenset({"fft", "ifft", "rfft", "irfft", "hfft", "ihfft"})


def _complex_of(dt: np.dtype) -> np.dtype:
    return D.complex64 if dt in (D.float32, D.complex64) else D.complex128


class FFT(Op):
    """``fft.<name>`` over ``axes`` (normalized, non-negative) with output ``sizes`` (None per
    axis: the input size, or the rule of ``irfft``/``hfft``) and ``norm``."""

    raises_on_values = False

    def __init__(self, name: str, sizes: tuple, axes: tuple, norm: str):
        self.name, self.sizes, self.axes, self.norm = name, sizes, axes, norm
        self.kind, self.last = _KIND[name]

    def infer(self, x: Var):
        shape = list(x.shape)
        for i, (ax, n) in enumerate(zip(self.axes, self.sizes)):
            last = i == len(self.axes) - 1
            d = shape[ax] if n is None else n
            if last and self.last == "half":
                d = None if d is None else d // 2 + 1
            elif last and self.last == "full":
                if n is None:
                    d = None if shape[ax] is None else 2 * (shape[ax] - 1)
            if d is not None and d < 1:
                raise ValueError(f"fft.{self.name}(): invalid number of points {d} along "
                                 f"axis {ax} ({where()})")
            shape[ax] = d
        dt = _complex_of(x.dtype) if self.kind == "c" else D.real_dtype(x.dtype)
        return [(dt, tuple(shape))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        fn = getattr(np.fft, self.name)
        if self.name in _ONE_AXIS:
            r = fn(x, n=self.sizes[0], axis=self.axes[0], norm=self.norm)
        else:
            s = None if all(n is None for n in self.sizes) else [
                (x.shape[a] if n is None and (i < len(self.axes) - 1 or self.last != "full")
                 else n) for i, (a, n) in enumerate(zip(self.axes, self.sizes))]
            if s is not None and None in s:  # irfftn's default last size
                s[-1] = 2 * (x.shape[self.axes[-1]] - 1)
            r = fn(x, s=s, axes=self.axes, norm=self.norm)
        dt = _complex_of(x.dtype) if self.kind == "c" else D.real_dtype(x.dtype)
        return r.astype(dt, copy=False)


class FFTFreq(Op):
    """Sample frequencies ``fftfreq(n, d)`` (``real``: ``rfftfreq``) of ``dtype``."""

    raises_on_values = False

    def __init__(self, n: int, d: float, real: bool, dtype: np.dtype):
        self.n, self.d, self.real, self.dtype = n, d, real, dtype

    def infer(self):
        return [(self.dtype, (self.n // 2 + 1 if self.real else self.n,))]

    def perform(self) -> np.ndarray:
        fn = np.fft.rfftfreq if self.real else np.fft.fftfreq
        return fn(self.n, self.d).astype(self.dtype)


class FFTShift(Op):
    """Zero frequency moved to the centre over ``axes`` (``inverse`` undoes it)."""

    raises_on_values = False
    view = False

    def __init__(self, axes: tuple, inverse: bool):
        self.axes, self.inverse = axes, inverse

    def infer(self, x: Var):
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        fn = np.fft.ifftshift if self.inverse else np.fft.fftshift
        return fn(x, axes=self.axes)
