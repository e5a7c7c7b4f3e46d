"""Finding the user's file and line: the first stack frame outside the lazyarr package."""

from __future__ import annotations

import os
import sys

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_getframe = sys._getframe


def user_site(skip: int = 1) -> tuple[str, int] | None:
    """Return ``(filename, lineno)`` of the innermost caller outside lazyarr, or None."""
    f = _getframe(skip)
    root = _PKG_ROOT
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(root) and not fn.startswith("<frozen"):
            return fn, f.f_lineno
        f = f.f_back
    return None


def format_site(site: tuple[str, int] | None) -> str:
    return f"{site[0]}, line {site[1]}" if site else "<unknown location>"


def where() -> str:
    """``'file, line N'`` of the user code calling into lazyarr (for error messages)."""
    return format_site(user_site(2))
