"""Topological order of the applies that compute some variables."""

from __future__ import annotations

from collections.abc import Iterable

from ._walk import toposort  # noqa: F401 - in C: every compile pass asks for an order
from .basic import Var


def ancestors(outputs: Iterable[Var]) -> list[Var]:
    """Every variable that ``outputs`` depend on, themselves included (no order promised)."""
    seen: dict[Var, None] = {}
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen[v] = None
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return list(seen)
