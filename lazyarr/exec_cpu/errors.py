"""Errors raised while running name the node and the user's line that built it."""

from __future__ import annotations

from ..graph.basic import Apply
from ..graph.userline import format_site


def note_for(node: Apply, site) -> str:
    """The note naming ``node``'s op and the user code at ``site``."""
    return f"while running {node.op!r}, built at {format_site(site)}"


def annotate(exc: BaseException, node: Apply) -> None:
    """Add a note to ``exc`` naming ``node``'s op and the user code that built it; the first
    node is kept on ``exc`` (``_lazyarr_node``), so that a cached program run for another
    graph of the same structure can name that graph's line (`resite`)."""
    note = note_for(node, node.site)
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    if getattr(exc, "_lazyarr_node", None) is None:
        try:
            exc._lazyarr_node = node
        except AttributeError:  # an exception type without a __dict__
            pass


def resite(exc: BaseException, recorded: tuple, current: list) -> None:
    """``exc`` came from a cached program built for a graph whose nodes' sites were
    ``recorded`` (cut order); ``current`` are the applies of the graph it ran for, in the same
    order. Name the current graph's line in the note instead of the recorded one."""
    node = getattr(exc, "_lazyarr_node", None)
    notes = getattr(exc, "__notes__", None)
    if node is None or not notes or len(recorded) != len(current):
        return
    old = node.site
    for k, site in enumerate(recorded):
        if site == old:
            new = current[k].site
            if new != old:
                was = note_for(node, old)
                exc.__notes__ = [note_for(node, new) if n == was else n for n in notes]
            return
