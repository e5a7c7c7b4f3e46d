"""Derivative rules of `Elemwise` and `Cast`, derived from the partials of the elementwise
table (``array/ops/scalar_table.py``): vjp ``g * conj(partial)`` (PyTorch's convention for
complex values: the gradient of a real loss is ``dL/dx + i dL/dy``), jvp ``sum(partial * t)``.

The table cannot express functions that are not holomorphic on complex inputs (``conj``,
``real``, ``imag``, ``abs``, ``sign``) nor ``where``'s selection; their rules are written out
here.
"""

from __future__ import annotations

from ..array.ops.elemwise import Cast, Elemwise
from .registry import register_jvp, register_vjp
from .util import add_all, broadcast_like, conj, is_differentiable, scale, sum_to_like
from .xp import xp


def _is_complex(a) -> bool:
    return a.dtype.kind == "c"


def _sign_map(x, s, t):
    """The derivative of complex ``sign`` at ``x`` (``s = sign(x)``) applied to ``t``:
    ``(t - s * Re(conj(s) t)) / |x|``, 0 at 0. The real-linear map is its own adjoint, so it is
    both the jvp and the vjp."""
    r = xp.abs(x)
    zero = r == 0
    d = (t - s * xp.real(conj(s) * t)) / xp.where(zero, 1.0, r)
    return xp.where(zero, 0, d)


def _partials(op, inputs, out):
    fn = op.fn
    if fn.partials is None:
        return [None] * len(inputs)
    ps = fn.partials(xp, *inputs, out)
    return [None if (isinstance(p, (int, float)) and p == 0) else p for p in ps]


@register_vjp(Elemwise)
def _elemwise_vjp(op, inputs, outputs, cts):
    (g,) = cts
    name = op.fn.name
    if name == "where":
        c = inputs[0]
        return [None, xp.where(c, g, 0), xp.where(c, 0, g)]
    x = inputs[0]
    if name == "conj":
        return [conj(g)]
    if name == "real":
        return [g]
    if name == "imag":
        return [g * 1j] if _is_complex(x) else [None]
    if name == "abs" and _is_complex(x):
        return [g * xp.sign(x)]
    if name == "sign" and _is_complex(x):  # z / |z|: not piecewise constant
        return [_sign_map(x, outputs[0], g)]
    cts = [None if p is None else scale(g, conj(p))
           for p in _partials(op, inputs, outputs[0])]
    if name == "divide" and _stretched(inputs[1], outputs[0]):
        cts[1] = _stretched_denominator_ct(inputs[1], outputs[0], g)
    return cts


def _stretched(y, out) -> bool:
    """Whether broadcasting stretched ``y`` to ``out``'s shape (all sizes known)."""
    ys, shape = y.shape, out.shape
    return ys != shape and None not in ys and None not in shape


def _stretched_denominator_ct(y, out, g):
    """The cotangent of the denominator ``y`` of ``out = x / y`` where broadcasting stretched
    ``y``: ``-sum(g * conj(out)) / conj(y)`` summed to ``y``'s shape before dividing (``y`` is
    constant along the summed axes). Dividing inside the sum would hide the ``1 / sum(exp(z))``
    of a softmax's gradient from the stabilize rewrites (``softmax_shift``), and costs a
    division per element."""
    return -sum_to_like(g * conj(out), y) / conj(y)


@register_jvp(Elemwise)
def _elemwise_jvp(op, inputs, outputs, tangents):
    name = op.fn.name
    if name == "where":
        c, a, b = inputs
        _, ta, tb = tangents
        return [xp.where(c, 0 if ta is None else ta, 0 if tb is None else tb)]
    x, t = inputs[0], tangents[0]
    if name == "conj":
        return [conj(t)]
    if name == "real":
        return [xp.real(t) if _is_complex(t) else t]
    if name == "imag":
        return [xp.imag(t) if _is_complex(x) else None]
    if name == "abs" and _is_complex(x):
        return [xp.real(conj(xp.sign(x)) * t)]
    if name == "sign" and _is_complex(x):
        return [None if t is None else _sign_map(x, outputs[0], t)]
    ps = _partials(op, inputs, outputs[0])
    t = add_all([None if p is None or t is None else scale(t, p)
                 for p, t in zip(ps, tangents)])
    # the tangent of an operand the others broadcast
    return [None if t is None else broadcast_like(t, outputs[0])]


@register_vjp(Cast)
def _cast_vjp(op, inputs, outputs, cts):
    # the engine converts g to the input's dtype (the real part for a real input)
    return [cts[0] if is_differentiable(inputs[0].dtype) else None]


@register_jvp(Cast)
def _cast_jvp(op, inputs, outputs, tangents):
    return [tangents[0] if is_differentiable(op.dtype) else None]
