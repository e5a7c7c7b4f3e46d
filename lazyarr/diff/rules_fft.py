"""vjp and jvp rules of the fft extension.

Every transform is linear, so its jvp is the same transform of the tangent. Its vjp is the
adjoint under ``Re(sum(conj(a) * b))``: the inverse transform with the opposite normalization
(``backward`` <-> ``forward``, ``ortho`` stays), then the crop or zero-padding of ``n``/``s``
undone. The real transforms carry the halving/doubling of bins: the adjoint of ``rfft`` is
``irfft`` of the cotangent with the bins that ``irfft`` counts twice halved, and the adjoint of
``irfft`` is ``rfft`` with those bins doubled. ``hfft``/``ihfft`` are ``irfft``/``rfft``
conjugated (NumPy's definitions), and ``fftshift``'s adjoint is ``ifftshift``.
"""

from __future__ import annotations

import numpy as np

from ..array.coerce import Array, as_var, build
from ..array.functions import creation as C
from ..array.functions import manipulation as M
from ..array.ops.fft import FFT, FFTFreq, FFTShift
from .registry import register_jvp, register_vjp
from .rules_ext import as_dtype_of, conj

_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}
_INVERSE = {"fft": "ifft", "ifft": "fft", "fftn": "ifftn", "ifftn": "fftn"}


def _transform(name: str, x: Array, axes: tuple, norm: str, sizes: tuple | None = None):
    sizes = (None,) * len(axes) if sizes is None else sizes
    return build(FFT(name, sizes, axes, norm), as_var(x))


def _resize(x: Array, axis: int, size: int) -> Array:
    """``x`` cropped or zero-padded (at the end) to ``size`` along ``axis``."""
    n = x.shape[axis]
    if n == size:
        return x
    if n > size:
        return x[(slice(None),) * axis + (slice(0, size),)]
    pad = tuple(size - n if i == axis else d for i, d in enumerate(x.shape))
    return M.concat([x, C.zeros(pad, dtype=x.dtype)], axis=axis)


def _resize_all(x: Array, axes, shape: tuple) -> Array:
    for ax in axes:
        x = _resize(x, ax, shape[ax])
    return x


def _points(op: FFT, x: Array, i: int) -> int:
    """Transform length along ``op.axes[i]`` (after the crop or padding of ``n``/``s``)."""
    ax, n = op.axes[i], op.sizes[i]
    if n is not None:
        return n
    if i == len(op.axes) - 1 and op.last == "full":
        return 2 * (x.shape[ax] - 1)
    return x.shape[ax]


def _twice(n: int, ndim: int, axis: int, dtype) -> Array:
    """Per-bin weights (``(..., n//2 + 1, ...)`` along ``axis``): 2 where ``irfft`` of ``n``
    points counts a bin twice (its conjugate mirror), 1 for the zero and Nyquist bins."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * ndim
    shape[axis] = w.size
    return C.asarray(w.reshape(shape), dtype=dtype)


def _real_dtype(z: Array):
    return np.dtype(np.float32) if z.dtype == np.complex64 else np.dtype(np.float64)


def _rfft_adjoint(g: Array, axis: int, n: int, norm: str) -> Array:
    """Adjoint of ``rfft(., n, axis, norm)`` applied to the complex cotangent ``g``."""
    w = _twice(n, g.ndim, axis, _real_dtype(g))
    return _transform("irfft", g / w, (axis,), _SWAP[norm], (n,))


def _irfft_adjoint(g: Array, axis: int, n: int, norm: str) -> Array:
    """Adjoint of ``irfft(., n, axis, norm)`` applied to the real cotangent ``g``: complex
    ``(..., n//2 + 1, ...)``."""
    w = _twice(n, g.ndim, axis, g.dtype)
    return _transform("rfft", g, (axis,), _SWAP[norm], (n,)) * w


@register_vjp(FFT)
def fft_vjp(op, inputs, outputs, cotangents) -> list:
    """Adjoint transform of the output cotangent, cropped/padded back to the input's shape."""
    x, g = inputs[0], cotangents[0]
    if g is None:
        return [None]
    g = as_dtype_of(g, outputs[0])
    axes, norm, name = op.axes, op.norm, op.name
    last = axes[-1]
    if name in _INVERSE:
        h = _transform(_INVERSE[name], g, axes, _SWAP[norm])
    elif name in ("rfft", "rfftn"):
        h = g  # rfftn is rfft along the last axis, then fft along the others
        if len(axes) > 1:
            h = _resize_all(_transform("ifftn", h, axes[:-1], _SWAP[norm]), axes[:-1], x.shape)
        h = _rfft_adjoint(h, last, _points(op, x, len(axes) - 1), norm)
    elif name == "ihfft":
        h = _rfft_adjoint(conj(g), last, _points(op, x, 0), _SWAP[norm])
    elif name in ("irfft", "irfftn"):
        # irfftn is ifft along the other axes, then irfft along the last
        h = _irfft_adjoint(g, last, _points(op, x, len(axes) - 1), norm)
        if len(axes) > 1:
            h = _resize(h, last, x.shape[last])
            h = _transform("fftn", h, axes[:-1], _SWAP[norm])
    else:  # hfft
        h = conj(_irfft_adjoint(g, last, _points(op, x, 0), _SWAP[norm]))
    return [as_dtype_of(_resize_all(h, axes, x.shape), x)]


@register_jvp(FFT)
def fft_jvp(op, inputs, outputs, tangents) -> list:
    """The same transform of the tangent."""
    t = tangents[0]
    return [None if t is None else build(op, as_var(t))]


@register_vjp(FFTShift)
def fftshift_vjp(op, inputs, outputs, cotangents) -> list:
    """The inverse shift of the cotangent."""
    g = cotangents[0]
    return [None if g is None else build(FFTShift(op.axes, not op.inverse), as_var(g))]


@register_jvp(FFTShift)
def fftshift_jvp(op, inputs, outputs, tangents) -> list:
    """The same shift of the tangent."""
    t = tangents[0]
    return [None if t is None else build(op, as_var(t))]


@register_vjp(FFTFreq)
def fftfreq_vjp(op, inputs, outputs, cotangents) -> list:
    """No inputs: nothing to return."""
    return []


@register_jvp(FFTFreq)
def fftfreq_jvp(op, inputs, outputs, tangents) -> list:
    """A constant: zero tangent."""
    return [None]
