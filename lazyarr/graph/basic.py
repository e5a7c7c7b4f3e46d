"""The IR: variables (`Var`), applications of operations (`Apply`) and the `Op` base class.

A `Var` is typed by a NumPy dtype and a shape (a tuple of ints, ``None`` for a size not known
before running). A leaf `Var` has no owner; it either holds data (a realized array or a constant)
or is a symbolic input (``data is None``) of a traced function. Ops are interned: building the
same op with the same parameters twice returns the same object while it is held, so structural
keys can hash ops by identity (whatever keeps a key keeps its ops; an op only the table holds
leaves it at the next sweep, and one marked ``interned = False`` is never in it).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ._ir import (
    Apply,
    Var,
    apply_typed,
    apply_types,
    bind_flags,
    drop_unheld_values,
    set_track_sites,
)
from ._ir import leaf_reprs as _leaf_reprs  # in C: every new graph's fusion interns ops

__all__ = ["Op", "Var", "Apply", "OpMeta", "apply", "apply_typed", "intern_count",
           "key_ops"]

_interned: dict[tuple, Op] = {}
#: when the intern table grows past ``_sweep_at``, the ops only it holds are dropped (no
#: graph, program or template refers to them: every holder of a key with an op's address
#: holds the op, see `Op.interned`), and the next sweep waits until it has doubled
SWEEP_MIN = 4096
_sweep_at = SWEEP_MIN


def intern_count() -> int:
    """Number of ops in the intern table (by class and parameters) now."""
    return len(_interned)


class OpMeta(type):
    """Metaclass that interns op instances by (class, positional parameters)."""

    def __call__(cls, *params):
        if not cls.interned:
            op = super().__call__(*params)
            op.params = params
            return op
        # Python scalars in params compare by value (0.0 == -0.0, 1 == 1.0 == True): ops whose
        # params hold numbers that must stay distinct add their reprs to the key.
        key = (cls, params, _leaf_reprs(params)) if cls.exact_params else (cls, params)
        try:
            return _interned[key]
        except KeyError:
            pass
        except TypeError as exc:  # an unhashable parameter
            raise TypeError(f"{cls.__name__} parameters must be hashable: {params!r}") from exc
        op = super().__call__(*params)
        op.params = params
        _interned[key] = op
        if len(_interned) > _sweep_at:
            _sweep()
        return op


def key_ops(applies) -> tuple:
    """The distinct ops of ``applies``, for a holder of a structural key over them to keep
    (see `Op.interned`)."""
    return tuple({id(ap.op): ap.op for ap in applies}.values())


def _sweep() -> None:
    """Drop the interned ops nothing else holds (repeatedly: a dropped op's parameters may
    hold the last references to others); the next sweep waits for twice what is left."""
    global _sweep_at
    while drop_unheld_values(_interned):
        pass
    _sweep_at = max(SWEEP_MIN, 2 * len(_interned))


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
    #: False for ops made once per recording (`diff.gradcall.GradientCall`): not interned, so
    #: freed with the last holder. A structural key holds an op's address, so whatever keeps
    #: such a key keeps its ops too (trace-cache entries' ``keep``, `GradTemplate.keep`):
    #: no other op can take the address while the key lives; interned ops nothing else holds
    #: leave the table at its next sweep (`_sweep`) for the same reason
    interned: bool = True
    nout: int = 1
    #: params hold Python numbers whose sign or type matters (see `OpMeta`)
    exact_params: bool = False
    lazy: bool = False
    inner_graphs: tuple = ()
    #: True when ``perform`` can return (a view of) an input: executors must not reuse that buffer.
    view: bool = False
    #: False for ops whose ``perform`` and kernels raise for no values of inputs of the
    #: node's dtypes and (known) shapes: an eager run may then write results into dead input
    #: buffers (`array._donate`), as a run that failed after such a write would leave pending
    #: arrays reading an overwritten leaf
    raises_on_values: bool = True
    #: the sign of a zero output is not specified (a sum's: the order of its additions and
    #: the BLAS decide it; a max's: which of equal zeros it keeps); debug mode does not
    #: compare it downstream of such an op
    zero_sign_unspecified: bool = False
    #: a macro op stands for a graph of ordinary nodes: ``expand(inputs) -> outputs`` (Vars)
    #: builds it, and `FunctionGraph.from_cut` does so before anything compiles the cut
    macro: bool = False

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


def may_raise_at(node) -> bool:
    """Whether running apply ``node`` may raise for some input values: its op's
    `Op.raises_on_values`, or a size known only at run time among its outputs or inputs
    (kernels check it: ``max`` of an empty selection, a broadcast of a mask's result against
    a static shape, a reshape of one, each with a static output)."""
    return (node.op.raises_on_values or any(None in o.shape for o in node.outputs)
            or any(None in v.shape for v in node.inputs))


def _short(p: Any) -> str:
    s = repr(p)
    return s if len(s) <= 40 else s[:37] + "..."


#: set to False to skip recording the user's site on every node (a little faster)
track_sites = True
bind_flags(globals())


class _BasicModule(types.ModuleType):
    """This module's type: assigning ``track_sites`` (``basic.track_sites = False``, a test's
    monkeypatch) also sets the flag the C node builders read (`_ir.set_track_sites`), so they
    read no dictionary per node."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "track_sites":
            set_track_sites(bool(value))


sys.modules[__name__].__class__ = _BasicModule


def apply(op: Op, *inputs: Var) -> list[Var]:
    """Build one node: infer output types eagerly (raising on bad input) and return outputs."""
    return apply_types(op, inputs, op.infer(*inputs), 2)
