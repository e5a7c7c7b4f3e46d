"""Carried weights across the steps of a loop (`Runner.loop`): products computed ahead, and
updates deferred.

A minibatch SGD step reads its first weight matrix ``W`` twice: the forward product
``x_i @ W`` (``x_i`` the step's rows of a stacked argument) at the start, and the update
``W += alpha * x_i.T @ d_i`` in place at the end. Two ways to read it less, per loop:

- ahead (exact): at one row per step, the update of step ``i`` also computes step ``i + 1``'s
  product ``x_{i+1} @ W`` in the same pass over ``W`` (`GemmThunk.feed`): one read and write
  of ``W`` per step instead of two reads and a write, and the same values bit for bit.
- deferred (`Deferred`, the default where it applies): the updates of a block of steps are
  applied together and the block's products come from one gemm at its start, each step's
  product corrected for the updates still pending: the same values up to rounding.
"""

from __future__ import annotations

import numpy as np

from . import native
from ._vm import (
    Deferred,
    DotUpdateThunk,
    GemmThunk,
    LinearProgram,
    MatMulThunk,
    ViewThunk,
    few_kernels_in_use,
    get_threads,
    row_min,
    row_par,
)

__all__ = ["Deferred", "deferrable_rows", "exclusive", "feeds", "large", "row_window",
           "worth_deferring"]


def feeds(vm, donated: list, rows: dict[int, int]) -> list[tuple[GemmThunk, GemmThunk, int]]:
    """``(update, product, s)`` triples of a linked program ``vm``: ``update`` a `Gemm` in
    place on a donated input ``W`` (``donated``: ``(output index, input position)`` pairs)
    whose result is the output matched with it; ``product`` an earlier `Gemm` times that same
    input ``W`` whose row operand is the input at a position of ``rows`` (position -> ``s``,
    the stacked argument whose slices it reads)."""
    if type(vm) is not LinearProgram or not rows:
        return []
    out_idx = vm.out_idx
    carried = {out_idx[j]: p for j, p in donated}  # output slot -> the input it replaces
    found = []
    thunks = vm.thunks
    for iu, u in enumerate(thunks):
        if type(u) is not GemmThunk or not u.inplace or u.vec:
            continue
        w = u.ins[0]
        if w >= vm.n_in or carried.get(u.outs[0]) != w:
            continue
        for f in thunks[:iu]:
            if type(f) is GemmThunk and not f.vec and f.ins[3] == w and f.ins[2] in rows:
                found.append((u, f, rows[f.ins[2]]))
                break
    return found


def exclusive(vm, update: GemmThunk, product: GemmThunk) -> bool:
    """Whether ``product`` and ``update`` are the only thunks reading the carried ``W`` and
    no thunk reads the update's result (then ``W`` may lag behind within a loop), and the
    update's row operand is a view of the product's (its transpose)."""
    w, res = update.ins[0], update.outs[0]
    for t in vm.thunks:
        if t is update or t is product:
            continue
        if w in t.ins or res in t.ins:
            return False
    a, x = update.ins[2], product.ins[2]
    if a == x:
        return False
    src = {t.outs[0]: t.ins[0] for t in vm.thunks if type(t) is ViewThunk}
    while a in src and a != x:  # a chain of transposes and reshapes of the row operand
        a = src[a]
    return a == x


def large(product: GemmThunk) -> bool:
    """Whether ``product``'s ``W`` has at least the row kernels' 2^17 elements (`row_min`):
    below, reading it twice costs less than doing anything about it."""
    w = product.node.inputs[3].shape
    return None not in w and w[0] * w[1] >= row_min()


def worth_deferring(vm, update: GemmThunk, product: GemmThunk) -> bool:
    """Whether deferring pays: ``W`` large enough that reading it dominates the gemm calls
    (logreg's 784 x 10 at minibatch 1: 6.9 -> 15.9 us per step deferred), and no other
    large product of the step runs on the OpenMP row kernels, whose threads and OpenBLAS's
    (the deferred gemms) take the cores from each other (784-1000-1000-1000-10 at
    minibatch 1: 0.77-1.23 ms per step exact, 1.24-1.59 ms deferred), nor on the threads of
    the `few_rows` kernels (fig1's mlp500 at minibatch 10: 140k examples/s a step at a time,
    14k deferred)."""
    if not large(product):
        return False
    least = row_min()
    for t in vm.thunks:
        if (type(t) in (GemmThunk, MatMulThunk) and t.few_par and few_kernels_in_use()
                and get_threads() > 1):
            dims = native.product_dims(t.node)
            if (dims is not None and (None in dims or (
                    native.few_product(t.node, dims) and dims[0] * dims[1] * dims[2]
                    >= row_par()))):
                return False
        if t is update or t is product:
            continue
        if type(t) is DotUpdateThunk or (type(t) is GemmThunk and not t.vec):
            shapes = [v.shape for v in t.node.inputs]
            if any(None in s for s in shapes):
                return False
            big = (shapes[0][0] * shapes[0][1] if type(t) is DotUpdateThunk
                   else shapes[3][0] * shapes[3][1] if shapes[2][0] == 1
                   else shapes[2][0] * shapes[3][1] if shapes[2][1] == 1 else 0)
            if big >= least:
                return False
    return True


def row_window(win) -> bool:
    """Whether a loop's window onto a stacked argument is one float32 row a product can
    read with a positive whole-element increment."""
    return (win is not None and win.ndim == 2 and win.shape[0] == 1
            and win.dtype == np.float32 and win.strides[1] > 0 and win.strides[1] % 4 == 0)


def deferrable_rows(stack) -> np.ndarray | None:
    """A stacked argument (steps, m, K) as the C-contiguous float32 (steps * m, K) matrix
    `Deferred` reads its rows from, where it is one and blocks of its steps are worth
    deferring; else None."""
    if (type(stack) is not np.ndarray or stack.dtype != np.float32 or stack.ndim != 3
            or not stack.flags.c_contiguous or 0 in stack.shape
            or Deferred.block_steps(stack.shape[1]) < 2):
        return None
    return stack.reshape(stack.shape[0] * stack.shape[1], stack.shape[2])
