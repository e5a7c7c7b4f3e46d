"""The hook that turns a cut-out `FunctionGraph` into a runnable program.

The front end (``array``) calls `compile_fgraph`; ``lazyarr/__init__.py`` installs the real
pipeline (rewrites, then an executor), so that neither side imports the other. A program is a
callable ``program(args: list[np.ndarray]) -> list[np.ndarray]``, args in ``fgraph.inputs`` order.
"""

from __future__ import annotations

from collections.abc import Callable

from .fgraph import FunctionGraph

_compiler: Callable | None = None


def set_compiler(fn: Callable[[FunctionGraph], Callable]) -> None:
    global _compiler
    _compiler = fn


def compile_fgraph(fg: FunctionGraph) -> Callable:
    if _compiler is None:
        raise RuntimeError("no executor installed (import lazyarr, not lazyarr.array alone)")
    return _compiler(fg)
