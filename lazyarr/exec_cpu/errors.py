"""Errors raised while running name the node and the user's line that built it."""

from __future__ import annotations

from ..graph.basic import Apply
from ..graph.userline import format_site


def annotate(exc: BaseException, node: Apply) -> None:
    """Add a note to ``exc`` naming ``node``'s op and the user code that built it."""
    note = f"while running {node.op!r}, built at {format_site(node.site)}"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
