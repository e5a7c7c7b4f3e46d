"""The array object's operators, bound to the namespace functions."""

from __future__ import annotations

import numpy as np

from .. import _front
from .. import dtypes as D
from ..array_object import Array
from ..coerce import rebind
from ..ops import _calls
from . import elementwise as E
from .indexing import getitem, setitem
from .linalg_basic import matmul

_BINARY = {
    "add": E.add, "sub": E.subtract, "mul": E.multiply, "truediv": E.divide,
    "floordiv": E.floor_divide, "mod": E.remainder, "pow": E.pow, "matmul": matmul,
    "and": E.bitwise_and, "or": E.bitwise_or, "xor": E.bitwise_xor,
    "lshift": E.bitwise_left_shift, "rshift": E.bitwise_right_shift,
}
#: the operators, which leave an operand lazyarr cannot take (a SciPy sparse matrix) to
#: answer them itself: ``x * m`` is ``m.__rmul__(x)``, as beside a NumPy array
_OPERATORS = {name: E.OPERATORS[fn.__name__] for name, fn in _BINARY.items() if fn is not matmul}
_OPERATORS["matmul"] = _calls.matmul_operator, _calls.rmatmul_operator
_COMPARE = {"lt": E.less, "le": E.less_equal, "gt": E.greater, "ge": E.greater_equal,
            "eq": E.equal, "ne": E.not_equal}
_UNARY = {"neg": E.negative, "pos": E.positive, "abs": E.abs, "invert": E.bitwise_invert}

_OK_TYPES = (Array, bool, int, float, complex)


def _same_shape(r: Array, x: Array) -> bool:
    """``r`` (an in-place result) has ``x``'s shape; sizes known only at run time (after a
    mask) are computed to compare (a size-1 ``x`` would broadcast against a longer operand,
    which NumPy refuses as a non-broadcastable output)."""
    a, b = r._v.shape, x._v.shape
    if a == b:
        return True
    if len(a) != len(b) or not all(p == q or p is None or q is None for p, q in zip(a, b)):
        return False
    return r.shape == x.shape


#: ``x OP v`` for a Python int ``v`` above (True) or below (False) every value of x's dtype
_OUT_OF_RANGE = {"lt": (True, False), "le": (True, False), "gt": (False, True),
                 "ge": (False, True), "eq": (False, False), "ne": (True, True)}


def _compare(fn, name):
    above, below = _OUT_OF_RANGE[name]

    def op(self, other):
        if not isinstance(other, _OK_TYPES) and not hasattr(other, "__array__"):
            return NotImplemented
        dt = self._v.dtype
        if type(other) is int and dt.kind in "iu":
            info = np.iinfo(dt)
            if not info.min <= other <= info.max:
                # NumPy 2 compares exactly: u8 == 300 is False everywhere, u8 > -1 True
                from .creation import full_like

                return full_like(self, above if other > info.max else below, dtype=D.bool_)
        return fn(self, other)
    return op


for _name, _fn in _BINARY.items():
    setattr(Array, f"__{_name}__", _OPERATORS[_name][0])
    setattr(Array, f"__r{_name}__", _OPERATORS[_name][1])
    setattr(Array, f"__i{_name}__", _front.inplace(_fn, _name, _same_shape, rebind))
for _name, _fn in _COMPARE.items():
    setattr(Array, f"__{_name}__", _compare(_fn, _name))
for _name, _fn in _UNARY.items():
    setattr(Array, f"__{_name}__", _fn)
Array.__getitem__ = getitem
Array.__setitem__ = setitem


def _divmod(self, other):
    """``divmod(x, y)``: ``(x // y, x % y)``, as NumPy's ``np.divmod``."""
    return E.floor_divide(self, other), E.remainder(self, other)


def _rdivmod(self, other):
    return E.floor_divide(other, self), E.remainder(other, self)


Array.__divmod__ = _divmod
Array.__rdivmod__ = _rdivmod
