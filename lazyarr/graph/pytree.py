"""Pytrees: nested tuples, namedtuples, lists and dicts of leaves, flattened to a list and rebuilt.

A structure is a nested tuple: ``("leaf",)``, ``("none",)``, ``("tuple", children)``,
``("list", children)``, ``("ntuple", namedtuple class, children)`` or
``("dict", sorted keys, children)``.
`flatten` and `unflatten` are C (`_pytree.pyx`: eager ``value_and_grad`` calls them every
step). Shared by the transforms of ``diff``, the tracing of ``control`` and ``compile`` (graph
imports nothing of lazyarr, so all may use it).
"""

from __future__ import annotations

from typing import Any

from ._pytree import flatten, unflatten

__all__ = ["flatten", "unflatten", "struct_str"]


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
    if kind == "ntuple":
        return f"{struct[1].__name__}(" + ", ".join(struct_str(s) for s in struct[2]) + ")"
    return "{" + ", ".join(f"{k!r}: {struct_str(s)}" for k, s in zip(struct[1], struct[2])) + "}"
