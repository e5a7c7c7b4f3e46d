"""lazyarr.rewrites: the rewrite database and its phases (see docs/design.md).

``rewrite(fgraph)`` runs canonicalize -> stabilize -> specialize on a cut-out graph in place;
``config``/``options`` exclude rewrites or tags and switch fast-math or the debug modes.
"""

from . import (  # noqa: F401
    blas,
    canonicalize,
    dot_update,
    fusion,
    lower,
    rowfusion,
    sparse_update,
    stabilize,
    stabilize_products,
)
from .config import config, options  # noqa: F401
from .db import (  # noqa: F401
    PHASES,
    Report,
    build,
    last_report,
    register_pass,
    register_rewrite,
    registered,
    rewrite,
)
