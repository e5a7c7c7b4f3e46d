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

    def go(t):
        if isinstance(t, tuple) and not hasattr(t, "_fields"):
            return ("tuple", tuple(go(x) for x in t))
        if isinstance(t, list):
            return ("list", tuple(go(x) for x in t))
        if isinstance(t, dict):
            keys = tuple(sorted(t))
            return ("dict", keys, tuple(go(t[k]) for k in keys))
        if t is None:
            return ("none",)
        leaves.append(t)
        return ("leaf",)

    return leaves, go(tree)


def unflatten(struct: Any, leaves: Sequence) -> Any:
    """Inverse of `flatten`."""
    it = iter(leaves)

    def go(s):
        kind = s[0]
        if kind == "leaf":
            return next(it)
        if kind == "none":
            return None
        if kind == "tuple":
            return tuple(go(x) for x in s[1])
        if kind == "list":
            return [go(x) for x in s[1]]
        return {k: go(x) for k, x in zip(s[1], s[2])}

    return go(struct)


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
