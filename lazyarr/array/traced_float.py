"""A Python float that stands for a program input while `lazyarr.compile` traces a function.

`TracedFloat` is a ``float`` (so every rule for Python scalars applies to it unchanged: it is
weak in promotion, ``W32 - lr * g32`` stays float32), but the constant that `coerce.const` would
make of it is instead its symbolic input, cast to the dtype asked. A compiled function whose
Python float argument changes on every call (a learning-rate schedule) then runs one program
for every value instead of tracing each.

Python arithmetic whose result IEEE float64 fixes exactly (``+``, ``-``, ``*`` with another
float or a small int, ``/`` by a nonzero constant, ``-x``, ``abs(x)``) gives another
`TracedFloat`, over the same computation in the graph: ``lr * 0.5`` stays an input. Any other
read of the value in Python (comparing it, converting it, hashing it, ``**``) is recorded in
the trace's `ReadLog`: the function may then depend on the value in ways the graph does not
show, and the caller treats that argument as a constant keyed by value. Code that reads the
float's bits directly in C (NumPy or ``math`` functions) is not seen here; `compiled` traces
twice with different values and compares the graphs to catch what such a read puts into the
graph.
"""

from __future__ import annotations

import operator

from ..graph.basic import Var

#: the ints Python arithmetic converts to float64 exactly
_EXACT_INT = 2 ** 53


class ReadLog:
    """The argument positions whose `TracedFloat` (or one computed from it) was read in
    Python during one trace; ``closed`` once the trace is over (an escaped float is then a
    plain constant)."""

    __slots__ = ("read", "closed")

    def __init__(self) -> None:
        self.read: set[int] = set()
        self.closed = False


class TracedFloat(float):
    """A Python float standing for the 0-d float64 variable ``var``, computed from the
    program inputs of argument leaves ``positions``, while ``log`` is open."""

    __slots__ = ("var", "positions", "log", "_cast")

    def __new__(cls, value: float, var: Var, positions: frozenset, log: ReadLog) -> TracedFloat:
        self = super().__new__(cls, value)
        self.var, self.positions, self.log, self._cast = var, positions, log, {}
        return self

    def var_for(self, dtype, cast) -> Var | None:
        """The input as a variable of ``dtype`` (``cast(var, dtype)``, made once per dtype);
        None once the trace is over."""
        if self.log.closed:
            return None
        v = self._cast.get(dtype)
        if v is None:
            v = self._cast[dtype] = cast(self.var, dtype)
        return v

    def _mark(self) -> None:
        if not self.log.closed:
            self.log.read.update(self.positions)

    def _derived(self, value: float, arr) -> TracedFloat:
        """The float ``value`` that Python computed, standing for the graph's ``arr``."""
        return TracedFloat(value, arr._v, self.positions, self.log)

    def __neg__(self) -> float:
        if self.log.closed:
            return float.__neg__(self)
        return self._derived(float.__neg__(self), -_array(self))

    def __pos__(self) -> float:
        return self if not self.log.closed else float.__pos__(self)

    def __abs__(self) -> float:
        if self.log.closed:
            return float.__abs__(self)
        return self._derived(float.__abs__(self), abs(_array(self)))

    @property
    def real(self) -> float:
        self._mark()
        return float.__float__(self)

    @property
    def imag(self) -> float:
        self._mark()
        return 0.0

    def __repr__(self) -> str:  # printing the value (a log line) shapes no result
        return float.__repr__(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return float.__format__(self, spec)


def _array(x: TracedFloat):
    """``x``'s variable as a (0-d float64) Array."""
    from .coerce import wrap

    return wrap(x.var)


def _exact_operand(x) -> bool:
    """Whether Python arithmetic reads ``x`` as a float64 exactly (a float, a small int)."""
    t = type(x)
    return t is float or t is TracedFloat or (t is int and -_EXACT_INT <= x <= _EXACT_INT)


def _arithmetic(name: str, fn, reflected: bool):
    method = getattr(float, name)

    def arith(self, other):
        if isinstance(getattr(other, "_v", None), Var):
            return NotImplemented  # the array's own (reflected) operator makes the graph
        traced = type(other) is TracedFloat
        if (self.log.closed or not _exact_operand(other)
                or (name == "__truediv__" and (traced or other == 0))):
            # Python's own answer: ZeroDivisionError, a big int's rounding; a traced divisor
            # could be 0 on a later call
            self._mark()
            if traced:
                other._mark()
            return method(self, other)
        value = method(self, other)
        y = _array(other) if traced else other
        arr = fn(y, _array(self)) if reflected else fn(_array(self), y)
        out = self._derived(value, arr)
        if traced:
            out.positions = self.positions | other.positions
        return out

    arith.__name__ = arith.__qualname__ = name
    arith.__doc__ = f"float.{name}, traced as the same float64 operation in the graph."
    return arith


def _reading(name: str, binary: bool):
    method = getattr(float, name)
    if binary:
        def read(self, other, *rest):
            # an lazyarr array operand: its own (reflected) operator makes the graph
            if isinstance(getattr(other, "_v", None), Var):
                return NotImplemented
            self._mark()
            return method(self, other, *rest)
    else:
        def read(self, *args):
            self._mark()
            return method(self, *args)
    read.__name__ = read.__qualname__ = name
    read.__doc__ = f"float.{name}, recorded as a read of the value."
    return read


_EXACT = (("__add__", operator.add, False), ("__radd__", operator.add, True),
          ("__sub__", operator.sub, False), ("__rsub__", operator.sub, True),
          ("__mul__", operator.mul, False), ("__rmul__", operator.mul, True),
          ("__truediv__", operator.truediv, False))
_BINARY = ("__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
           "__divmod__", "__rdivmod__", "__pow__", "__rpow__", "__eq__", "__ne__", "__lt__",
           "__le__", "__gt__", "__ge__")
_UNARY = ("__bool__", "__float__", "__int__", "__trunc__", "__floor__", "__ceil__",
          "__round__", "__hash__", "__getnewargs__", "__reduce__", "__reduce_ex__",
          "as_integer_ratio", "conjugate", "hex", "is_integer")
for _name, _fn, _reflected in _EXACT:
    setattr(TracedFloat, _name, _arithmetic(_name, _fn, _reflected))
for _name in _BINARY:
    setattr(TracedFloat, _name, _reading(_name, True))
for _name in _UNARY:
    setattr(TracedFloat, _name, _reading(_name, False))
del _name, _fn, _reflected
