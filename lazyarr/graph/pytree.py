"""Pytrees: nested tuples, lists and dicts of leaves, flattened to a list and rebuilt.

Shared by the transforms of ``diff`` and the tracing of ``control`` (graph imports nothing of
lazyarr, so both may use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["flatten", "unflatten", "struct_str"]


def flatten(tree: Any) -> tuple[list, Any]:
    """Leaves (left to right) and a structure description of a pytree of tuples, lists, dicts
    (sorted keys) and ``None``; anything else is a leaf."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


# Module-level recursion: a nested recursive function is a reference cycle that would keep the
# leaves (live arrays, which materialization writes back) alive until the garbage collector runs.
def _flatten(t: Any, leaves: list) -> Any:
    if isinstance(t, tuple) and not hasattr(t, "_fields"):
        return ("tuple", tuple(_flatten(x, leaves) for x in t))
    if isinstance(t, list):
        return ("list", tuple(_flatten(x, leaves) for x in t))
    if isinstance(t, dict):
        keys = tuple(sorted(t))
        return ("dict", keys, tuple(_flatten(t[k], leaves) for k in keys))
    if t is None:
        return ("none",)
    leaves.append(t)
    return ("leaf",)


def unflatten(struct: Any, leaves: Sequence) -> Any:
    """Inverse of `flatten`."""
    return _unflatten(struct, iter(leaves))


def _unflatten(s: Any, it) -> Any:
    kind = s[0]
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    if kind == "tuple":
        return tuple(_unflatten(x, it) for x in s[1])
    if kind == "list":
        return [_unflatten(x, it) for x in s[1]]
    return {k: _unflatten(x, it) for k, x in zip(s[1], s[2])}


def struct_str(struct: Any) -> str:
    """A readable form of a pytree structure, for error messages."""
    kind = struct[0]
    if kind == "leaf":
        return "*"
    if kind == "none":
        return "None"
    if kind == "tuple":
        inner = ", ".join(struct_str(s) for s in struct[1])
        return f"({inner}{',' if len(struct[1]) == 1 else ''})"
    if kind == "list":
        return "[" + ", ".join(struct_str(s) for s in struct[1]) + "]"
    return "{" + ", ".join(f"{k!r}: {struct_str(s)}" for k, s in zip(struct[1], struct[2])) + "}"
