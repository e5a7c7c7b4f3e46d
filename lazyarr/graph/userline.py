"""Finding the user's file and line: the first stack frame outside the lazyarr package.

Python >= 3.11 creates frame objects lazily; walking ``f_back`` from the innermost frame would
create one per lazyarr frame on every call. ``sys._getframe(depth)`` skips to one frame, so hot
paths pass the depth at which the user's frame usually is, and only a call from inside lazyarr
itself walks further.
"""

from __future__ import annotations

import os
import sys

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_getframe = sys._getframe


def user_site(skip: int = 1) -> tuple[str, int] | None:
    """``(filename, lineno)`` of the innermost frame outside lazyarr, starting ``skip`` frames
    above the caller of this function; None if there is none."""
    try:
        f = _getframe(skip + 1)
    except ValueError:
        return None
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
    return format_site(user_site(1))
