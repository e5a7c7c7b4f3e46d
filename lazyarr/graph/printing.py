"""Text printing of graphs (Theano's ``debugprint``)."""

from __future__ import annotations

from collections.abc import Iterable

from .basic import Var


def _leaf_label(v: Var) -> str:
    if v.const and v.data is not None and v.data.size <= 4:
        return f"Constant{{{v.data.tolist()!r}}} {v.dtype}"
    kind = "Leaf" if v.data is not None else "Input"
    nm = f" '{v.name}'" if v.name else ""
    return f"{kind}{nm} {v.dtype}{list(v.shape)}"


def debugprint(outputs: Var | Iterable[Var], file=None) -> str:
    """Print (and return) the graph above ``outputs``, one node per line, indented by depth.
    A node printed before is shown again only as ``*ID`` (shared sub-expression)."""
    outs = [outputs] if isinstance(outputs, Var) else list(outputs)
    ids: dict[int, int] = {}
    lines: list[str] = []

    def visit(v: Var, depth: int) -> None:
        pad = " |" * depth + ("" if depth == 0 else " ")
        if v.owner is None:
            lines.append(f"{pad}{_leaf_label(v)}")
            return
        node = v.owner
        tag = ids.get(id(node))
        suffix = f".{v.index}" if len(node.outputs) > 1 else ""
        if tag is not None:
            lines.append(f"{pad}{node.op!r}{suffix} *{tag}")
            return
        ids[id(node)] = tag = len(ids)
        lines.append(f"{pad}{node.op!r}{suffix} [id {tag}] {v.dtype}{list(v.shape)}")
        for inp in node.inputs:
            visit(inp, depth + 1)
        for g in node.op.inner_graphs:
            lines.append(f"{pad} Inner graph of [id {tag}]:")
            for o in g.outputs:
                visit(o, depth + 2)

    for o in outs:
        visit(o, 0)
    text = "\n".join(lines)
    if file is not None:
        print(text, file=file)
    return text
