"""The front end: the lazy `Array`, dtypes, the op definitions and the namespace functions."""

from . import array_object  # noqa: F401  (defines Array before the functions bind to it)
from .array_object import Array
from .functions import methods, operators  # noqa: F401  (bind operators and methods)
from .materialize import ConcretizationError, realize, trace_cache

__all__ = ["Array", "ConcretizationError", "realize", "trace_cache"]
