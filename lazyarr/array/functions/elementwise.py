"""The standard's elementwise functions, generated from the scalar table.

Each function promotes its operands (Python scalars are weak), converts them to the function's
compute dtype and builds one `Elemwise` node; ``clip`` is built from ``maximum``/``minimum``.
"""

from __future__ import annotations

import numpy as np

from ...graph.basic import apply_typed
from ...graph.userline import where as _where_site
from .. import _front
from .. import dtypes as D
from ..coerce import as_var, cast, coerce_pair, const, is_scalar, snapshot, wrap
from ..ops.elemwise import Elemwise, broadcast_shapes, elementwise_types
from ..ops.scalar_table import TABLE

__all__ = sorted(TABLE) + ["clip"]


#: the array object's operator names of the two-operand functions that have one
_DUNDER = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "truediv",
    "floor_divide": "floordiv", "remainder": "mod", "pow": "pow", "bitwise_and": "and",
    "bitwise_or": "or", "bitwise_xor": "xor", "bitwise_left_shift": "lshift",
    "bitwise_right_shift": "rshift",
}
#: name -> the operators ``(__add__, __radd__)`` of a two-operand function that has them
OPERATORS: dict = {}


def _unary(fn):
    return _front.unary(Elemwise(fn.name), fn, elementwise_types, as_var, cast)


def _binary(fn):
    dunder = _DUNDER.get(fn.name)
    f, operator, reflected = _front.binary(Elemwise(fn.name), fn, elementwise_types,
                                           coerce_pair, cast, broadcast_shapes, dunder)
    if dunder is not None:
        OPERATORS[fn.name] = operator, reflected
    return f


_where_op = Elemwise("where")


def where(condition, x1, x2, /):
    """Elements of ``x1`` where ``condition`` is true, else of ``x2`` (broadcast together).
    ``x1`` and ``x2`` may be Python scalars; the condition must be boolean."""
    c = as_var(condition)
    if c.dtype != D.bool_:
        raise TypeError(f"where(): condition must be a boolean array, not {c.dtype} "
                        f"({_where_site()})")
    if is_scalar(x1) and is_scalar(x2):
        dt = D.result_type(x1, x2)
        v1, v2 = const(x1, dt), const(x2, dt)
    else:
        v1, v2, dt = coerce_pair(x1, x2)
    v1, v2 = cast(v1, dt), cast(v2, dt)
    shape = broadcast_shapes(c.shape, v1.shape, v2.shape)
    depth = max(c.depth, v1.depth, v2.depth) + 1
    return wrap(apply_typed(_where_op, (c, v1, v2), dt, shape, depth, 1))  # `where`'s rule


def _make(fn):
    f = _unary(fn) if fn.nin == 1 else _binary(fn)
    f.__name__ = f.__qualname__ = fn.name
    args = "x" if fn.nin == 1 else "x1, x2"
    f.__doc__ = (f"The standard's elementwise ``{fn.name}({args})``, broadcasting; "
                 f"dtype rule: {fn.kind}.")
    return f


for _name, _fn in TABLE.items():
    if _name != "where":
        globals()[_name] = _make(_fn)

_maximum = globals()["maximum"]
_minimum = globals()["minimum"]
_trunc = globals()["trunc"]
_greater_equal = globals()["greater_equal"]
_less_equal = globals()["less_equal"]


def clip(x, /, min=None, max=None):  # noqa: A002 - the standard's argument names
    """``x`` limited to ``[min, max]``: either bound may be None, a scalar or an array that
    broadcasts with ``x``. Result: ``x``'s dtype, the broadcast shape of ``x`` and the bounds.
    A bound beyond the range of an integer ``x``'s dtype acts as that range's end; a float
    bound of an integer ``x`` is compared in float64 and, where it clips, truncated (NumPy's
    float clip cast back); the elements it keeps are returned exactly."""
    v = as_var(x)
    if v.dtype.kind in "cb":
        raise TypeError(f"clip() needs a real numeric array, not {v.dtype} ({_where_site()})")
    out = wrap(snapshot(v))  # no bounds: the value itself (NumPy's copy of a user's array)
    for bound, f in ((min, _maximum), (max, _minimum)):
        if bound is not None:
            out = _bounded(out, bound, f, v.dtype)
    return out


def _bounded(out, bound, f, dt: np.dtype):
    """``f(out, bound)`` (``maximum`` or ``minimum``) of dtype ``dt``, ``out``'s: for an
    integer ``dt`` the bound is first clamped into ``dt``'s range, so converting it cannot
    wrap around (an int16 -300 was int8 -44)."""
    if dt.kind not in "iu":
        b = const(bound, D.scalar_dtype(bound, dt)) if is_scalar(bound) else as_var(bound)
        b = wrap(cast(b, dt))
        # the same values as f(out, b), but `out` takes the whole derivative at the bound
        # (torch.clamp's), where maximum/minimum alone would split it with the bound
        kept = _greater_equal(out, b) if f is _maximum else _less_equal(out, b)
        return where(kept, out, f(out, b))
    info = np.iinfo(dt)
    if isinstance(bound, int) and not isinstance(bound, bool):
        return f(out, wrap(const(min(max(bound, info.min), info.max), dt)))
    b = const(bound, D.scalar_dtype(bound, dt)) if is_scalar(bound) else as_var(bound)
    if b.dtype.kind == "f":
        return _float_bound(out, b, f is _maximum, dt)
    if b.dtype.kind in "iu":
        bi = np.iinfo(b.dtype)
        b = _clamped(b, max(info.min, bi.min), min(info.max, bi.max))
    return f(out, wrap(cast(b, dt)))


def _float_bound(out, b, lower: bool, dt: np.dtype):
    """Integer ``out`` (dtype ``dt``) limited by float bound ``b`` (a lower one if ``lower``),
    as NumPy's clip in float64 cast back to ``dt`` gives it (the bound truncated; a bound past
    ``dt``'s range acts as its end), without converting the elements kept: compared in
    float64 (rounding is monotonic, so an element below the bound compares below it), the
    kept ones are ``out`` itself (an int64 near 2**63 does not round to 2**63 and wrap)."""
    info = np.iinfo(dt)
    top = float(info.max)  # the range's end rounded: 2**63 for int64, above every int64
    bf = wrap(cast(b, D.default_float))
    xf = wrap(cast(as_var(out), D.default_float))
    past = xf < bf if lower else xf > bf
    below_top = float(np.nextafter(top, 0.0))  # converts to dt exactly
    bi = wrap(cast(_clamped(as_var(_trunc(bf)), float(info.min), below_top), dt))
    return where(past, where(bf >= top, info.max, bi), out)


def _clamped(b, lo, hi):
    """Variable ``b`` limited to ``[lo, hi]`` (numbers representable in its dtype); no node
    for a limit its dtype cannot pass."""
    lim = np.iinfo(b.dtype) if b.dtype.kind in "iu" else np.finfo(b.dtype)
    if lo > lim.min:
        b = as_var(_maximum(wrap(b), wrap(const(lo, b.dtype))))
    if hi < lim.max:
        b = as_var(_minimum(wrap(b), wrap(const(hi, b.dtype))))
    return b
