"""The buffers compiled programs keep between runs, and their bound.

A linked program keeps some arrays for its next run: intermediate buffers, and each
elementwise output it handed out, taken back once the caller has dropped it (no allocation and
no page faults in a loop). Programs of at least 64 KiB of such buffers count against one budget
(256 MiB unless set); past it, the programs run least recently let theirs go, and allocate anew
when they run again. A program alone over the budget keeps its buffers.
"""

from __future__ import annotations

import operator
import sys

from . import _vm


def set_buffer_limit(nbytes: int) -> int:
    """Let compiled programs keep at most ``nbytes`` (an integer >= 0; larger than memory
    means no limit) of buffers between runs; returns the previous limit. Programs over it
    let theirs go now, least recently run first."""
    if isinstance(nbytes, bool):
        raise TypeError("set_buffer_limit: nbytes must be an integer, got bool")
    try:
        n = operator.index(nbytes)
    except TypeError:
        raise TypeError(f"set_buffer_limit: nbytes must be an integer, got "
                        f"{type(nbytes).__name__}") from None
    if n < 0:
        raise ValueError(f"set_buffer_limit: nbytes must be >= 0, got {n}")
    return _vm.set_keep_budget(min(n, sys.maxsize))


def buffer_info() -> dict:
    """``{'kept': bytes, 'programs': count, 'limit': bytes}``: what the programs counted
    against the limit keep now."""
    info = _vm.keep_info()
    return {"kept": info["kept"], "programs": info["programs"], "limit": info["budget"]}


def release_buffers() -> None:
    """Make every counted program let its kept buffers go now (they allocate anew)."""
    _vm.release_kept()
