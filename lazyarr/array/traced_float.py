"""A Python float that stands for a program input while `lazyarr.compile` traces a function.

`TracedFloat` is a ``float`` (so every rule for Python scalars applies to it unchanged: it is
weak in promotion, ``W32 - lr * g32`` stays float32), but the constant that `coerce.const` would
make of it is instead its symbolic input, cast to the dtype asked. A compiled function whose
Python float argument changes on every call (a learning-rate schedule) then runs one program
for every value instead of tracing each.

Reading the value in Python (comparing it, converting it, Python arithmetic on it, hashing it)
is recorded in the trace's `ReadLog`: the function may then depend on the value in ways the
graph does not show, and the caller treats that argument as a constant keyed by value. Code
that reads the float's bits directly in C (NumPy or ``math`` functions) is not seen here;
`compiled` traces twice with different values and compares the graphs to catch what such a
read puts into the graph.
"""

from __future__ import annotations

from ..graph.basic import Var


class ReadLog:
    """The argument positions whose `TracedFloat` was read in Python during one trace;
    ``closed`` once the trace is over (an escaped float is then a plain constant)."""

    __slots__ = ("read", "closed")

    def __init__(self) -> None:
        self.read: set[int] = set()
        self.closed = False


class TracedFloat(float):
    """A Python float standing for the 0-d float64 program input ``var`` (argument leaf
    ``pos`` of the traced call), while ``log`` is open."""

    __slots__ = ("var", "pos", "log", "_cast")

    def __new__(cls, value: float, var: Var, pos: int, log: ReadLog) -> TracedFloat:
        self = super().__new__(cls, value)
        self.var, self.pos, self.log, self._cast = var, pos, log, {}
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
            self.log.read.add(self.pos)

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


_BINARY = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
           "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__divmod__",
           "__rdivmod__", "__pow__", "__rpow__", "__eq__", "__ne__", "__lt__", "__le__",
           "__gt__", "__ge__")
_UNARY = ("__abs__", "__neg__", "__pos__", "__bool__", "__float__", "__int__", "__trunc__",
          "__floor__", "__ceil__", "__round__", "__hash__", "__getnewargs__",
          "__reduce__", "__reduce_ex__", "as_integer_ratio", "conjugate", "hex", "is_integer")
for _name in _BINARY:
    setattr(TracedFloat, _name, _reading(_name, True))
for _name in _UNARY:
    setattr(TracedFloat, _name, _reading(_name, False))
del _name
