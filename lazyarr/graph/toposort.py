"""Topological order of the applies that compute some variables."""

from __future__ import annotations

from collections.abc import Iterable

from .basic import Apply, Var


def toposort(outputs: Iterable[Var]) -> list[Apply]:
    """Applies needed for ``outputs``, each after the applies that compute its inputs."""
    # applies and variables hash by identity: sets of them, not of their id()s (each id()
    # call raises an audit event on Python 3.11)
    order: list[Apply] = []
    done: set[Apply] = set()
    stack: list[tuple[Apply, int]] = []
    for out in outputs:
        if out.owner is None or out.owner in done:
            continue
        stack.append((out.owner, 0))
        while stack:
            node, i = stack.pop()
            if node in done:
                continue
            ins = node.inputs
            while i < len(ins) and (ins[i].owner is None or ins[i].owner in done):
                i += 1
            if i == len(ins):
                done.add(node)
                order.append(node)
            else:
                stack.append((node, i + 1))
                stack.append((ins[i].owner, 0))
    return order


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
