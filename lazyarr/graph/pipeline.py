"""The hook that turns a cut-out `FunctionGraph` into a runnable program.

The front end (``array``) calls `compile_fgraph`; ``lazyarr/__init__.py`` installs the real
pipeline (rewrites, then an executor), so that neither side imports the other. A program is a
callable ``program(args: list[np.ndarray]) -> list[np.ndarray]``, args in ``fgraph.inputs`` order.

Inside ``with provisional():`` (an eager realization's miss), the pipeline may return a program
that runs before its kernels are built (`exec_cpu.tiering`); such a program has an ``owner``
attribute, and `bind_owner` gives it the holder (a trace-cache entry, with a ``promote(program)``
method) that it hands its final program to.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .fgraph import FunctionGraph

_compiler: Callable | None = None
#: data that several arrays may hold, by id (weak: dropped with its last holder): constants
#: that programs return as results (the same array on every call, so the value of every array
#: a run of the program made) and results that are another array's buffer (`note_shared`)
_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


_local = threading.local()


def set_compiler(fn: Callable[[FunctionGraph], Callable]) -> None:
    global _compiler
    _compiler = fn


@contextmanager
def provisional() -> Iterator[None]:
    """Within (this thread): `compile_fgraph` may return a program that runs before its
    kernels are built."""
    before = getattr(_local, "provisional", False)
    _local.provisional = True
    try:
        yield
    finally:
        _local.provisional = before


def provisional_allowed() -> bool:
    """Whether this thread is inside `provisional`."""
    return getattr(_local, "provisional", False)


def bind_owner(program: Callable, owner) -> None:
    """Give a provisional program the holder it hands its final program to (nothing for
    another program)."""
    if hasattr(program, "owner"):
        program.owner = owner


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
            note_shared(v.data)


def note_shared(data) -> None:
    """Remember that arrays besides the one it is written into may hold ``data``: a program's
    constant result, or a result the program handed back from its inputs (an identity
    rewrite's ``x + 0`` is ``x``'s buffer) or returned twice."""
    try:
        _shared[id(data)] = data
    except TypeError:  # a NumPy scalar: immutable, nothing to protect
        pass


def shared(data) -> bool:
    """Whether ``data`` was noted by `note_shared` (other arrays may hold it)."""
    return _shared.get(id(data)) is data
