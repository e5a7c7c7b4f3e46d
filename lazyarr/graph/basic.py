"""The IR: variables (`Var`), applications of operations (`Apply`) and the `Op` base class.

A `Var` is typed by a NumPy dtype and a shape (a tuple of ints, ``None`` for a size not known
before running). A leaf `Var` has no owner; it either holds data (a realized array or a constant)
or is a symbolic input (``data is None``) of a traced function. Ops are interned: building the
same op with the same parameters twice returns the same object, so structural keys can hash ops
by identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .userline import user_site

__all__ = ["Op", "Var", "Apply", "OpMeta", "apply", "intern_count"]

_interned: dict[tuple, Op] = {}


def intern_count() -> int:
    """Number of distinct ops built so far (interned by class and parameters)."""
    return len(_interned)


class OpMeta(type):
    """Metaclass that interns op instances by (class, positional parameters)."""

    def __call__(cls, *params):
        # Python scalars in params compare by value (0.0 == -0.0, 1 == 1.0 == True): ops whose
        # params hold numbers that must stay distinct add their repr to the key.
        key = (cls, params, repr(params)) if cls.exact_params else (cls, params)
        try:
            return _interned[key]
        except KeyError:
            pass
        except TypeError as exc:  # an unhashable parameter
            raise TypeError(f"{cls.__name__} parameters must be hashable: {params!r}") from exc
        op = super().__call__(*params)
        op.params = params
        _interned[key] = op
        return op


class Op(metaclass=OpMeta):
    """Base class of every operation.

    A subclass defines, in one place: its parameters (positional, hashable, given to
    ``__init__``), ``infer`` (the shape/dtype rule, run when a node is built; it raises the
    array API's exception types), and ``perform`` (the reference NumPy implementation). Derivative
    rules and native kernels are registered against the class by ``diff``/``exec_cpu``.

    ``lazy`` ops ask for their inputs on demand: the VM calls ``perform_lazy(get, n_in)`` where
    ``get(i)`` computes input ``i`` only when called. Ops that hold inner graphs list them in
    ``inner_graphs``.
    """

    params: tuple = ()
    nout: int = 1
    #: params hold Python numbers whose sign or type matters (see `OpMeta`)
    exact_params: bool = False
    lazy: bool = False
    inner_graphs: tuple = ()
    #: True when ``perform`` can return (a view of) an input: executors must not reuse that buffer.
    view: bool = False

    def infer(self, *inputs: Var) -> list[tuple[np.dtype, tuple]]:
        """Return ``[(dtype, shape), ...]``, one per output, or raise for invalid inputs."""
        raise NotImplementedError(f"{type(self).__name__}.infer")

    def perform(self, *inputs: np.ndarray) -> Any:
        """Reference implementation: NumPy arrays in, one array (or a tuple if nout > 1) out."""
        raise NotImplementedError(f"{type(self).__name__}.perform")

    def perform_lazy(self, get: Callable[[int], np.ndarray], n_in: int) -> Any:
        return self.perform(*[get(i) for i in range(n_in)])

    def __repr__(self) -> str:
        if not self.params:
            return type(self).__name__
        return f"{type(self).__name__}{{{', '.join(map(_short, self.params))}}}"

    def __reduce__(self):
        return (type(self), self.params)


def _short(p: Any) -> str:
    s = repr(p)
    return s if len(s) <= 40 else s[:37] + "..."


class Var:
    """A typed value in the graph: an op's output, a realized array, a constant or an input."""

    __slots__ = ("dtype", "shape", "owner", "index", "data", "const", "name", "depth",
                 "nref", "__weakref__")

    def __init__(self, dtype: np.dtype, shape: tuple, owner: Apply | None = None,
                 index: int = 0, data: np.ndarray | None = None, const: bool = False,
                 name: str | None = None, depth: int = 0):
        self.dtype = dtype
        self.shape = shape
        self.owner = owner
        self.index = index
        self.data = data
        self.const = const
        self.name = name
        self.depth = depth
        #: number of live user-facing arrays on this variable: materialization writes back
        #: every pending variable that a user still holds, not only the one asked for
        self.nref = 0

    @classmethod
    def leaf(cls, data: np.ndarray, const: bool = False, name: str | None = None) -> Var:
        """A realized leaf holding ``data`` (a NumPy array, not copied)."""
        return cls(data.dtype, data.shape, None, 0, data, const, name, 0)

    @classmethod
    def input(cls, dtype: np.dtype, shape: tuple, name: str | None = None) -> Var:
        """A symbolic input (no data) for traced functions and inner graphs."""
        return cls(np.dtype(dtype), tuple(shape), None, 0, None, False, name, 0)

    def realize_to(self, data: np.ndarray) -> None:
        """Turn this variable into a leaf holding ``data``, dropping the graph above it."""
        self.data = data
        self.owner = None
        self.depth = 0

    def __repr__(self) -> str:
        what = "const" if self.const else ("leaf" if self.data is not None else
                                            ("input" if self.owner is None else "node"))
        nm = f" {self.name}" if self.name else ""
        return f"<Var{nm} {what} {self.dtype}{list(self.shape)}>"


class Apply:
    """One application of an op to input variables, producing output variables.

    ``site`` is the ``(filename, lineno)`` of the user code that built it (or None), used to
    name the user's line in errors raised while running.
    """

    __slots__ = ("op", "inputs", "outputs", "site")

    def __init__(self, op: Op, inputs: Sequence[Var], outputs: list[Var] | None, site=None):
        self.op = op
        self.inputs = inputs if type(inputs) is tuple else tuple(inputs)
        self.outputs = outputs
        self.site = site

    def __repr__(self) -> str:
        return f"<Apply {self.op!r}>"


#: set to False to skip recording the user's file and line on every node (a little faster)
track_sites = True


def apply(op: Op, *inputs: Var) -> list[Var]:
    """Build one node: infer output types eagerly (raising on bad input) and return outputs."""
    types = op.infer(*inputs)
    depth = 0
    for v in inputs:
        if v.depth > depth:
            depth = v.depth
    depth += 1
    node = Apply(op, inputs, None, user_site(2) if track_sites else None)
    if len(types) == 1:
        dt, sh = types[0]
        node.outputs = outs = [Var(dt, sh, node, 0, None, False, None, depth)]
    else:
        node.outputs = outs = [Var(dt, sh, node, i, None, False, None, depth)
                               for i, (dt, sh) in enumerate(types)]
    return outs


def apply_typed(op: Op, inputs: tuple, dtype: np.dtype, shape: tuple, depth: int,
                site_skip: int) -> Var:
    """Build a single-output node whose type the caller computed with the op's own rule (the
    hot path of elementwise functions); ``site_skip`` frames above the caller is where the
    user's frame usually is."""
    node = Apply(op, inputs, None, user_site(site_skip + 1) if track_sites else None)
    out = Var(dtype, shape, node, 0, None, False, None, depth)
    node.outputs = [out]
    return out
