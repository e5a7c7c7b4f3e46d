"""The fft extension of the standard (``lazyarr.fft``): discrete Fourier transforms, their
inverses, real and Hermitian variants, sample frequencies and shifts."""

from __future__ import annotations

import operator

import numpy as np

from ...graph.userline import where as _site
from .. import dtypes as D
from ..coerce import Array, as_var, build
from ..device import as_device
from ..ops.axes import normalize_axes, normalize_axis
from ..ops.fft import FFT, FFTFreq, FFTShift

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft",
           "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = ("backward", "ortho", "forward")


def _input(x, name: str, want: str):
    v = as_var(x)
    k = v.dtype.kind
    if want == "c" and k != "c":
        raise TypeError(f"fft.{name}() needs a complex floating array, not {v.dtype} "
                        f"({_site()})")
    if want == "f" and k != "f":
        raise TypeError(f"fft.{name}() needs a real floating array, not {v.dtype} ({_site()})")
    if len(v.shape) == 0:
        raise ValueError(f"fft.{name}() needs at least one dimension ({_site()})")
    return v


def _norm(norm, name):
    if norm not in _NORMS:
        raise ValueError(f"fft.{name}(): norm must be one of {_NORMS}, not {norm!r} ({_site()})")
    return norm


def _positive_int(n, name, what: str = "n"):
    """``n`` as a Python int: any integer (a NumPy one too) that is positive; TypeError for
    a non-integer (a float, a bool), ValueError for zero or less."""
    try:
        if isinstance(n, (bool, np.bool_)):
            raise TypeError
        n = operator.index(n)  # an int, a NumPy integer or 0-d integer array
    except TypeError:
        raise TypeError(f"fft.{name}(): {what} must be an int, not {type(n).__name__} "
                        f"({_site()})") from None
    if n < 1:
        raise ValueError(f"fft.{name}(): {what} must be a positive int, not {n!r} "
                         f"({_site()})")
    return n


def _index(n):
    """``n`` as an int if it is an integer of any type, else None."""
    try:
        return operator.index(n)
    except TypeError:
        return None


def _size(n, name, in_s: bool = False):
    """A transform length: None for the input's own, also -1 for an entry of ``s`` (the
    standard's "as the input" there)."""
    if n is None or in_s and not isinstance(n, (bool, np.bool_)) and _index(n) == -1:
        return None
    return _positive_int(n, name, "an entry of s" if in_s else "n")


def _one(name: str, want: str, x, n, axis, norm) -> Array:
    v = _input(x, name, want)
    ax = normalize_axis(axis, len(v.shape), f"fft.{name}")
    return build(FFT(name, (_size(n, name),), (ax,), _norm(norm, name)), v)


def _many(name: str, want: str, x, s, axes, norm) -> Array:
    v = _input(x, name, want)
    nd = len(v.shape)
    if axes is None and s is not None and len(s) > nd:
        raise ValueError(f"fft.{name}(): s has {len(s)} sizes but the array has {nd} axes "
                         f"({_site()})")
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    ax = tuple(normalize_axis(a, nd, f"fft.{name}") for a in axes)
    if len(set(ax)) != len(ax):
        raise ValueError(f"fft.{name}(): repeated axes {tuple(axes)} ({_site()})")
    if s is None:
        sizes = (None,) * len(ax)
    else:
        if len(s) != len(ax):
            raise ValueError(f"fft.{name}(): s and axes differ in length ({_site()})")
        sizes = tuple(_size(n, name, in_s=True) for n in s)
    return build(FFT(name, sizes, ax, _norm(norm, name)), v)


def fft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """One-dimensional DFT of complex ``x`` along ``axis`` (``n`` points: cropped or
    zero-padded); same complex dtype."""
    return _one("fft", "c", x, n, axis, norm)


def ifft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """Inverse of ``fft``."""
    return _one("ifft", "c", x, n, axis, norm)


def fftn(x, /, *, s=None, axes=None, norm="backward") -> Array:
    """N-dimensional DFT over ``axes`` (all by default) with sizes ``s``."""
    return _many("fftn", "c", x, s, axes, norm)


def ifftn(x, /, *, s=None, axes=None, norm="backward") -> Array:
    """Inverse of ``fftn``."""
    return _many("ifftn", "c", x, s, axes, norm)


def rfft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """DFT of real ``x``: the ``n//2 + 1`` non-negative frequencies (complex dtype of the
    same precision)."""
    return _one("rfft", "f", x, n, axis, norm)


def irfft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """Inverse of ``rfft``: ``n`` real points (default ``2 * (m - 1)``)."""
    return _one("irfft", "c", x, n, axis, norm)


def rfftn(x, /, *, s=None, axes=None, norm="backward") -> Array:
    """N-dimensional DFT of real ``x`` (the last axis halved as in ``rfft``)."""
    return _many("rfftn", "f", x, s, axes, norm)


def irfftn(x, /, *, s=None, axes=None, norm="backward") -> Array:
    """Inverse of ``rfftn``."""
    return _many("irfftn", "c", x, s, axes, norm)


def hfft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """DFT of a Hermitian-symmetric signal given by its first half: ``n`` real points."""
    return _one("hfft", "c", x, n, axis, norm)


def ihfft(x, /, *, n=None, axis=-1, norm="backward") -> Array:
    """Inverse of ``hfft``: real ``x`` to its ``n//2 + 1`` Hermitian half (complex)."""
    return _one("ihfft", "f", x, n, axis, norm)


def _freq(n, d, dtype, device, real) -> Array:
    as_device(device)
    name = "rfftfreq" if real else "fftfreq"
    n = _positive_int(n, name)
    dt = D.default_float if dtype is None else D.as_dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"fft.{name}(): dtype must be a real floating dtype ({_site()})")
    d = float(d)
    if d == 0:  # NumPy's error: a division by the spacing
        raise ZeroDivisionError(f"fft.{name}(): d must not be zero ({_site()})")
    return build(FFTFreq(n, d, real, dt))


def fftfreq(n: int, /, *, d: float = 1.0, dtype=None, device=None) -> Array:
    """The ``n`` sample frequencies of a DFT with sample spacing ``d``."""
    return _freq(n, d, dtype, device, False)


def rfftfreq(n: int, /, *, d: float = 1.0, dtype=None, device=None) -> Array:
    """The ``n//2 + 1`` non-negative sample frequencies of ``rfft``."""
    return _freq(n, d, dtype, device, True)


def _shift(x, axes, inverse) -> Array:
    v = as_var(x)
    ax = normalize_axes(axes, len(v.shape), "ifftshift" if inverse else "fftshift")
    if isinstance(axes, (tuple, list)):  # keep the user's order (it does not matter here)
        ax = tuple(ax)
    return build(FFTShift(ax, inverse), v)


def fftshift(x, /, *, axes=None) -> Array:
    """``x`` with the zero-frequency term moved to the centre of ``axes`` (all by default)."""
    return _shift(x, axes, False)


def ifftshift(x, /, *, axes=None) -> Array:
    """Inverse of ``fftshift``."""
    return _shift(x, axes, True)
