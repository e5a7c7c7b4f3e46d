"""A value per variable computed bottom-up over a graph (dependency sets, flags)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .basic import Var

T = TypeVar("T")


def fold(outputs: Sequence[Var], leaf: Callable[[Var], T],
         combine: Callable[..., T], with_node: bool = False) -> dict[Var, T]:
    """For every variable reachable from ``outputs``: ``leaf(v)`` for a leaf, and for the
    outputs of an apply (all the same) ``combine`` of its inputs' values, in input order
    (``combine(values, apply)`` with ``with_node``). An iterative post-order walk: deep
    graphs do not recurse."""
    memo: dict[Var, T] = {}
    stack = list(outputs)
    while stack:
        v = stack[-1]
        if v in memo:
            stack.pop()
            continue
        node = v.owner
        if node is None:
            memo[v] = leaf(v)
            stack.pop()
            continue
        todo = [i for i in node.inputs if i not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        values = [memo[i] for i in node.inputs]
        r = combine(values, node) if with_node else combine(values)
        for o in node.outputs:
            memo[o] = r
    return memo
