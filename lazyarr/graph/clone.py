"""Cloning graphs onto new inputs: the one copy of an apply and of a graph above some outputs."""

from __future__ import annotations

from collections.abc import Sequence

from .basic import Apply, Var


def copy_apply(node: Apply, inputs: Sequence[Var], memo: dict) -> Apply:
    """A new `Apply` of ``node``'s op and site on ``inputs``; its outputs keep the dtype,
    shape, index, name and depth of ``node``'s and are recorded in ``memo`` (old -> new)."""
    new = Apply(node.op, list(inputs), [], node.site)
    new.outputs = [Var(o.dtype, o.shape, new, o.index, None, False, o.name, o.depth)
                   for o in node.outputs]
    for o, n in zip(node.outputs, new.outputs):
        memo[o] = n
    return new


def clone(outputs: Sequence[Var], replace: dict[Var, Var]) -> list[Var]:
    """Copies of the graph above ``outputs`` with the variables in ``replace`` substituted
    (an iterative post-order walk; leaves not in ``replace`` are shared, not copied)."""
    memo = dict(replace)
    stack = list(outputs)
    while stack:
        v = stack[-1]
        if v in memo:
            stack.pop()
            continue
        node = v.owner
        if node is None:
            memo[v] = v
            stack.pop()
            continue
        todo = [i for i in node.inputs if i not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        copy_apply(node, [memo[i] for i in node.inputs], memo)
    return [memo[v] for v in outputs]
