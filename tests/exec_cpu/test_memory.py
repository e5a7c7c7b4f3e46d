"""Memory in the native VM, measured with tracemalloc (NumPy reports its data buffers to it):
a fused chain allocates only its outputs; an in-place candidate writes into its dead input;
intermediate buffers are reused across calls; no kept buffer reaches the caller."""

from __future__ import annotations

import tracemalloc

import numpy as np
from lazyarr.exec_cpu._vm import ElemThunk

from lazyarr.array.ops.composite import Composite
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.array.ops.shape import Reshape
from lazyarr.exec_cpu import link
from lazyarr.graph import FunctionGraph, Var, apply

N = 1 << 17          # 1 MiB of float64 per array: far above Python object noise
NBYTES = N * 8
F64 = np.dtype(np.float64)


def _allocated(fn) -> int:
    """Peak bytes allocated while ``fn()`` runs (beyond what was allocated before)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def _arrays(n_bytes: int) -> float:
    return n_bytes / NBYTES


def test_fused_chain_allocates_only_its_output():
    """(a*b + c)*0.5 - a/(b*b + 1) as one Composite: six intermediates, one allocation."""
    steps = (("multiply", (0, 1), F64, None),        # 3
             ("add", (3, 2), F64, None),             # 4
             ("const", (), F64, 0.5),                # 5
             ("multiply", (4, 5), F64, None),        # 6
             ("multiply", (1, 1), F64, None),        # 7
             ("const", (), F64, 1.0),                # 8
             ("add", (7, 8), F64, None),             # 9
             ("divide", (0, 9), F64, None),          # 10
             ("subtract", (6, 10), F64, None))       # 11
    ins = [Var.input(F64, (N,)) for _ in range(3)]
    y, = apply(Composite((F64,) * 3, steps, (11,)), *ins)
    prog = link(FunctionGraph(ins, [y]))
    assert len(prog.thunks) == 1 and isinstance(prog.thunks[0], ElemThunk)
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(N) for _ in range(3))
    out = []
    assert _arrays(_allocated(lambda: out.append(prog([a, b, c])[0]))) < 1.1
    np.testing.assert_allclose(out[0], (a * b + c) * 0.5 - a / (b * b + 1))


def _unfused_chain():
    """x*x -> +y (in place into x*x) -> exp and negative (outputs)."""
    x, y = Var.input(F64, (N,)), Var.input(F64, (N,))
    t1, = apply(Elemwise("multiply"), x, x)
    t2, = apply(Elemwise("add"), t1, y)
    t3, = apply(Elemwise("exp"), t2)
    t4, = apply(Elemwise("negative"), t2)
    return link(FunctionGraph([x, y], [t3, t4]))


def test_in_place_candidate_writes_into_its_dead_input():
    prog = _unfused_chain()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(N) * 0.1, rng.standard_normal(N) * 0.1
    res = []
    # first call: t1's kept buffer (t2 written into it) and the two outputs: 3 arrays, not 4
    # (t1 and t2 both kept, if t2 had a buffer of its own)
    assert 2.9 < _arrays(_allocated(lambda: res.append(prog([x, y])))) < 3.1
    # later calls: t1's buffer is reused, only the outputs are new
    assert 1.9 < _arrays(_allocated(lambda: res.append(prog([x, y])))) < 2.1
    for t3, t4 in res:
        np.testing.assert_allclose(t3, np.exp(x * x + y))
        np.testing.assert_allclose(t4, -(x * x + y))
    assert not np.shares_memory(res[0][0], res[1][0])


def test_view_of_an_in_place_result_never_aliases_a_kept_buffer():
    """exp -> negative (could write into exp's kept buffer) -> reshape (a view) returned:
    the returned view must not be overwritten by the next call."""
    x = Var.input(F64, (4,))
    e, = apply(Elemwise("exp"), x)
    m, = apply(Elemwise("negative"), e)
    r, = apply(Reshape((2, 2)), m)
    prog = link(FunctionGraph([x], [r]))
    r1 = prog([np.zeros(4)])[0]
    keep = r1.copy()
    r2 = prog([np.ones(4)])[0]
    np.testing.assert_array_equal(r1, keep)
    np.testing.assert_allclose(r2, -np.e * np.ones((2, 2)))


def test_dropped_outputs_are_recycled_held_ones_never():
    x = Var.input(F64, (N,))
    y, = apply(Elemwise("exp"), x)
    prog = link(FunctionGraph([x], [y]))
    xs = np.linspace(-1, 1, N)
    prog([xs])  # warm: the thunk remembers the array it handed out
    # the caller dropped it: the next call writes into it instead of allocating
    assert _arrays(_allocated(lambda: prog([xs]))) < 0.1
    held = prog([xs])[0]
    held.flags.writeable = False  # as materialization hands results to arrays
    second = prog([xs * 2])[0]
    assert not np.shares_memory(held, second)  # a held result is never written
    np.testing.assert_allclose(held, np.exp(xs))
    np.testing.assert_allclose(second, np.exp(xs * 2))
    del held, second
    again = prog([xs * 3])[0]  # recycled (it was read-only) and writable to the kernel
    np.testing.assert_allclose(again, np.exp(xs * 3))
