"""Finding the user's file and line: the first stack frame outside the lazyarr package.

Nodes record their site cheaply as ``(code object, f_lasti)`` (`_ir.user_site`, in C: one
``sys._getframe`` at the depth where the user's frame usually is, a walk only from inside
lazyarr itself); the line number is worked out from the code's line table only when a message
or a printer asks (`site_location`).
"""

from __future__ import annotations

from types import CodeType

from ._ir import user_site

__all__ = ["user_site", "site_location", "format_site", "where"]


def site_location(site) -> tuple[str, int] | None:
    """``(filename, lineno)`` of a site recorded by `user_site` (None stays None)."""
    if site is None:
        return None
    code, where_ = site
    if not isinstance(code, CodeType):  # already (filename, lineno)
        return site
    line = code.co_firstlineno
    for start, end, lineno in code.co_lines():
        if start <= where_ < end:
            if lineno is not None:
                line = lineno
            break
    return code.co_filename, line


def format_site(site) -> str:
    """``'file, line N'`` for a recorded site, or ``'<unknown location>'``."""
    loc = site_location(site)
    return f"{loc[0]}, line {loc[1]}" if loc else "<unknown location>"


def where() -> str:
    """``'file, line N'`` of the user code calling into lazyarr (for error messages)."""
    return format_site(user_site(1))
