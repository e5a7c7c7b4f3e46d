"""`compile`: explicit tracing, optimization and linking of a function for reuse."""

from .compiled import Compiled, compile  # noqa: A004

__all__ = ["Compiled", "compile"]
