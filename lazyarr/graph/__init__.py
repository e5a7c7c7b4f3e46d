"""The graph IR: variables, applies, ops, ordering, structural keys and printing."""

from ._walk import cut
from .basic import Apply, Op, Var, apply
from .fgraph import FunctionGraph
from .printing import debugprint
from .toposort import toposort

__all__ = ["Apply", "Op", "Var", "apply", "cut", "FunctionGraph", "debugprint", "toposort"]
