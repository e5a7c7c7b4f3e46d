"""Lazy nodes in the Cython VM: a program holding a ``cond`` runs on `LazyProgram` with native
kernels around it, computes only the branch the predicate picks (and only what that branch's
inputs need, once), keeps values a deferred node reads, and agrees with the reference VM."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import ElemThunk, LazyProgram, LazyThunk

import lazyarr as xp
from lazyarr.array import coerce
from lazyarr.array.materialize import _is_baked
from lazyarr.control import ops as control_ops
from lazyarr.exec_cpu import ReferenceProgram, link
from lazyarr.graph import FunctionGraph, Op, cut

runs: list[str] = []


class Count(Op):
    """Doubles its input and records its name when it runs."""

    def __init__(self, name: str):
        self.name = name

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        runs.append(self.name)
        return x * 2.0


def count(a, name):
    return coerce.build(Count(name), a._v)


def _program(*arrays):
    """The linked program computing ``arrays`` and its arguments (realized leaves)."""
    leaves, steps, refs, _ = cut([a._v for a in arrays], [])
    fg = FunctionGraph.from_cut(leaves, steps, refs[:len(arrays)])  # not the live extras
    return fg, [leaf.data for leaf in leaves if not _is_baked(leaf)]


@pytest.mark.parametrize("flag", [True, False])
def test_cond_runs_natively_and_only_the_taken_branch(flag):
    xv = np.linspace(-1, 1, 5)
    x = xp.asarray(xv)
    t_in = count(xp.exp(x), "true-extra")     # only the true branch reads it
    f_in = count(xp.sin(x), "false-extra")    # only the false branch reads it
    r = xp.cond(xp.sum(x) > (-1 if flag else 1), lambda v: v + t_in, lambda v: v * f_in, x)
    out = xp.sqrt(xp.abs(r))
    fg, args = _program(out)
    prog = link(fg)
    assert isinstance(prog, LazyProgram)
    assert any(isinstance(t, LazyThunk) for t in prog.thunks)
    assert any(isinstance(t, ElemThunk) for t in prog.thunks)  # native kernels around the cond
    runs.clear()
    c0 = dict(control_ops.counters)
    got = prog(args)[0]
    if flag:
        expected = np.sqrt(np.abs(xv + 2 * np.exp(xv)))
        assert runs == ["true-extra"]
        assert control_ops.counters["cond_true"] == c0["cond_true"] + 1
        assert control_ops.counters["cond_false"] == c0["cond_false"]
    else:
        expected = np.sqrt(np.abs(xv * 2 * np.sin(xv)))
        assert runs == ["false-extra"]
        assert control_ops.counters["cond_false"] == c0["cond_false"] + 1
        assert control_ops.counters["cond_true"] == c0["cond_true"]
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(ReferenceProgram(fg)(args)[0], expected)


def test_shared_deferred_value_runs_once_and_front_end_agrees():
    xv = np.array([0.5, 2.0, 3.0])
    x = xp.asarray(xv)
    shared = count(xp.log(x), "shared")   # both branches' extras need it, the rest does not
    r = xp.cond(xp.max(x) > 1, lambda v: v + shared * 3.0, lambda v: v - shared, x)
    runs.clear()
    np.testing.assert_allclose(np.asarray(r), xv + 6 * np.log(xv))
    assert runs == ["shared"]


def test_values_read_by_deferred_nodes_are_not_overwritten_in_place():
    """exp(x) dies in the always-run chain but a branch reads it later: no in-place write."""
    xv = np.linspace(0.1, 1.0, 6)

    def build():  # e is no live array afterwards: only the graph holds it
        x = xp.asarray(xv)
        e = xp.exp(x)
        always = xp.negative(e + 1.0)               # could reuse e's buffer if e died here
        return xp.cond(xp.sum(x) > 0, lambda v: v + e * 2.0, lambda v: v, always), always

    fg, args = _program(*build())
    prog = link(fg)
    for _ in range(2):  # second call: buffers reused across calls
        got_r, got_always = prog(args)
        np.testing.assert_allclose(got_always, -(np.exp(xv) + 1.0))
        np.testing.assert_allclose(got_r, -(np.exp(xv) + 1.0) + 2 * np.exp(xv))


def test_identity_branch_output_is_not_a_reused_buffer():
    """A branch that hands back its operand: the result escapes, so the operand's buffer must
    not be overwritten by the next call."""
    xv = np.linspace(0.0, 1.0, 4)
    x = xp.asarray(xv)
    t = xp.exp(x) * 2.0
    r = xp.cond(xp.sum(x) > 0, lambda v: v, lambda v: v + 1.0, t)
    fg, args = _program(r)
    prog = link(fg)
    r1 = prog(args)[0]
    keep = r1.copy()
    r2 = prog([a * 3 if a.shape == xv.shape else a for a in args])[0]
    np.testing.assert_array_equal(r1, keep)
    np.testing.assert_allclose(keep, np.exp(xv) * 2.0)
    assert not np.shares_memory(r1, r2)


class Fail(Op):
    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        raise ZeroDivisionError("the taken branch's input failed")


def test_error_in_a_deferred_node_names_it():
    x = xp.asarray(np.ones(3))
    bad = coerce.build(Fail(), xp.exp(x)._v)
    for flag, fails in ((True, True), (False, False)):
        r = xp.cond(xp.asarray(flag), lambda v: v + bad, lambda v: v * 2.0, x)
        fg, args = _program(r)
        prog = link(fg)
        assert isinstance(prog, LazyProgram)
        if fails:
            with pytest.raises(ZeroDivisionError) as info:
                prog(args)
            assert any("Fail" in n for n in info.value.__notes__)
        else:
            np.testing.assert_array_equal(prog(args)[0], 2.0)
