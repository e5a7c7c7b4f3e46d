"""lazyarr.control: ``cond``, ``scan``, ``fori_loop`` and ``while_loop`` on deferred graphs
(see docs/design.md). Importing it registers the ops' derivative rules (``rules``), the
loop rewrites pass (``loop_rewrites``) and the cond pass (``cond_rewrites``)."""

from . import (
    cond_rewrites,  # noqa: F401  (registers the cond pass)
    loop_rewrites,  # noqa: F401  (registers the loop pass)
    rules,  # noqa: F401  (registers the derivative rules)
)
from .api import cond, fori_loop, scan, while_loop

__all__ = ["cond", "scan", "fori_loop", "while_loop"]
