"""Which thunk runs each node of a compiled function's program and of its loop bodies."""

from __future__ import annotations


def thunk_kinds(f, *args) -> tuple[list[str], list[str]]:
    """``(program, bodies)``: ``"Op:Thunk"`` per node of ``f``'s program on ``args`` (a
    `lazyarr.compile` function, run once first: a loop body's program is linked by its first
    run), and the same for the programs of its loop bodies."""
    f(*args)
    program, bodies = [], []
    for t in f.program(*args).vm.thunks:
        program.append(f"{type(t.node.op).__name__}:{type(t).__name__}")
        for p in getattr(t.node.op, "_programs", {}).values():
            bodies += [f"{type(u.node.op).__name__}:{type(u).__name__}" for u in p.thunks]
    return program, bodies
