"""The hook that turns a cut-out `FunctionGraph` into a runnable program.

The front end (``array``) calls `compile_fgraph`; ``lazyarr/__init__.py`` installs the real
pipeline (rewrites, then an executor), so that neither side imports the other. A program is a
callable ``program(args: list[np.ndarray]) -> list[np.ndarray]``, args in ``fgraph.inputs`` order.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from .fgraph import FunctionGraph

_compiler: Callable | None = None
#: the data of constants that programs return as results, by id: the same array on every
#: call, so the value of every array a run of the program made (weak: dropped with the program)
_handed_out: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def set_compiler(fn: Callable[[FunctionGraph], Callable]) -> None:
    global _compiler
    _compiler = fn


def compile_fgraph(fg: FunctionGraph) -> Callable:
    if _compiler is None:
        raise RuntimeError("no executor installed (import lazyarr, not lazyarr.array alone)")
    program = _compiler(fg)
    _note_constant_outputs(fg)
    return program


def _note_constant_outputs(fg: FunctionGraph) -> None:
    """Remember the data of ``fg``'s (rewritten) outputs that are constants."""
    inputs = set(fg.inputs)
    for v in fg.outputs:
        if v.owner is None and v not in inputs and v.data is not None:
            try:
                _handed_out[id(v.data)] = v.data
            except TypeError:  # a NumPy scalar: immutable, nothing to protect
                pass


def hands_out(data) -> bool:
    """Whether ``data`` is a constant some program returns as a result (shared by the
    arrays of all its runs)."""
    return _handed_out.get(id(data)) is data
