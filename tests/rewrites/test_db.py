"""The rewrite database: registration, phases and positions, fixed point, exclusion by name
or tag (config, context manager, environment), reports and ``debugprint(optimized=True)``."""

from __future__ import annotations

import io

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.elemwise import Elemwise
from lazyarr.graph.basic import Var, apply
from lazyarr.graph.fgraph import FunctionGraph
from lazyarr.rewrites import config, options, register_pass, register_rewrite, rewrite
from lazyarr.rewrites.config import RewriteConfig
from lazyarr.rewrites.db import GraphEditor, Report, build, unregister

from .rw_helpers import ops, optimized


def _chain(n: int, op: str = "negative") -> FunctionGraph:
    x = Var.input(np.float64, (3,))
    v = x
    for _ in range(n):
        v = apply(Elemwise(op), v)[0]
    return FunctionGraph([x], [v])


def test_fixed_point_on_long_chains():
    fg = _chain(2001)  # --...-x: 1000 pairs cancel, one negative stays
    report = rewrite(fg)
    assert [repr(n.op) for n in fg.toposort()] == ["negative"]
    assert report.counts["double_negation"] == 1000
    assert report.nodes_before == 2001 and report.nodes_after == 1


def test_registration_errors():
    with pytest.raises(ValueError, match="phase"):
        register_rewrite("test_x", "optimize")
    with pytest.raises(ValueError, match="already registered"):
        register_rewrite("merge", "canonicalize")


def test_passes_run_at_their_position_around_node_rewrites():
    seen = []

    @register_pass("test_before", "stabilize", -1.0, tags=("test_passes",))
    def before(fg, report):
        seen.append(("before", [repr(n.op) for n in fg.toposort()]))

    @register_pass("test_after", "canonicalize", 5.0, tags=("test_passes",))
    def after(fg, report):
        seen.append(("after", [repr(n.op) for n in fg.toposort()]))
        report.record("test_after")

    try:
        fg = _chain(2)
        report = rewrite(fg)
        # canonicalize's node rewrites (0) removed --x before its pass at 5, which runs
        # before stabilize's pass at -1
        assert seen == [("after", []), ("before", [])]
        assert "test_after" in report.names()
        seen.clear()
        with options(exclude=["test_passes"]):
            rewrite(_chain(2))
        assert seen == []
    finally:
        unregister("test_before")
        unregister("test_after")


def test_replacement_of_another_type_is_rejected():
    @register_rewrite("test_bad_type", "canonicalize", op_classes=[Elemwise("sin")])
    def bad(node, g):
        return build(Elemwise("isnan"), node.inputs[0])

    try:
        with pytest.raises(TypeError, match="test_bad_type"):
            rewrite(_chain(1, "sin"))
    finally:
        unregister("test_bad_type")


def test_exclude_by_name_tag_and_all():
    x = xp.asarray(np.array([1.0, -2.0]))
    y = xp.negative(-x) * 1
    assert ops(optimized(y)[0]) == []
    assert ops(optimized(y, exclude=["double_negation"])[0]) == ["negative", "negative"]
    assert ops(optimized(y, exclude=["algebraic"])[0]) == ["negative", "negative", "multiply"]
    assert ops(optimized(y, exclude=["canonicalize"])[0]) == ["negative", "negative",
                                                              "multiply"]
    fg, report, _ = optimized(y, exclude=["all"])
    assert len(ops(fg)) == 3 and report.fired == []
    assert ops(optimized(y, exclude=["algebraic"], include=["algebraic"])[0]) == []


def test_config_from_environment():
    cfg = RewriteConfig()
    cfg.load_env({"LAZYARR_REWRITES_EXCLUDE": "merge, stability", "LAZYARR_FAST_MATH": "1",
                  "LAZYARR_MODE": "debug"})
    assert cfg.exclude == {"merge", "stability"} and cfg.fast_math and cfg.mode == "debug"
    with pytest.raises(ValueError, match="LAZYARR_MODE"):
        cfg.load_env({"LAZYARR_MODE": "turbo"})
    with pytest.raises(ValueError, match="mode"):
        config.mode = "turbo"
    with pytest.raises(TypeError):
        config.exclude = "merge"


def test_options_restore_and_drop_cached_programs():
    before = (config.exclude, config.fast_math, config.mode)
    data = np.array([1e-20, 0.5])
    a = xp.asarray(data)
    np.asarray(xp.log(1 + a))
    with options(exclude=["log1p"]):  # a cached program made with log1p must not be reused
        assert np.asarray(xp.log(1 + a))[0] == 0.0
    assert np.asarray(xp.log(1 + a))[0] == 1e-20
    assert (config.exclude, config.fast_math, config.mode) == before


def test_report_and_debugprint_optimized():
    x = xp.asarray(np.array([0.5, 1.5]))
    y = xp.log(1 + x * 1)
    out = io.StringIO()
    text = xp.debugprint(y, optimized=True, file=out)
    assert text.splitlines()[0].startswith("log1p")
    assert "fired: mul_by_one x1, log1p x1" in text
    plain = xp.debugprint(y, file=io.StringIO())
    assert plain.splitlines()[0].startswith("log ")
    np.testing.assert_allclose(np.asarray(y), np.log1p([0.5, 1.5]))
    report = xp.rewrites.last_report()
    assert isinstance(report, Report) and "log1p" in report.names()


def test_editor_client_counts():
    x = Var.input(np.float64, (3,))
    e = apply(Elemwise("exp"), x)[0]
    y = apply(Elemwise("add"), e, e)[0]
    fg = FunctionGraph([x], [y, e])
    g = GraphEditor(fg, Report(), RewriteConfig())
    assert g.nclients(e) == 3 and g.nclients(y) == 1 and g.nclients(x) == 1


def test_a_rewrite_that_raises_is_skipped_with_a_warning():
    @register_rewrite("test_raises", "canonicalize", op_classes=[Elemwise("sin")])
    def broken(node, g):
        raise KeyError("oops")

    try:
        fg = _chain(1, "sin")
        with pytest.warns(RuntimeWarning, match="test_raises"):
            rewrite(fg)
        assert [repr(n.op) for n in fg.toposort()] == ["sin"]
    finally:
        unregister("test_raises")


# -- passes skipped where the graph lacks the ops they need ------------------------------------
def _structure(fg: FunctionGraph) -> list:
    """The graph as values: per node (topological order) its op and where each input comes
    from (an input's position, a constant's bytes, a node's output), then the outputs'."""
    ref: dict = {v: ("input", i) for i, v in enumerate(fg.inputs)}

    def where(v):
        if v in ref:
            return ref[v]
        d = np.asarray(v.data)
        return ("const", d.dtype.str, d.shape, d.tobytes())

    out = []
    for t, node in enumerate(fg.toposort()):
        out.append((type(node.op).__name__, repr(node.op), tuple(where(v) for v in node.inputs)))
        ref.update(((o, (t, k)) for k, o in enumerate(node.outputs)))
    return out + [tuple(where(v) for v in fg.outputs)]


def _corpus() -> list[list]:
    """Graphs (their output arrays) with and without the ops each pass needs: random
    elementwise/reduction/index/cast/product graphs, updates, an MLP step at minibatch 1 (a
    rank-1 update: `dot_update`) and 8 (row fusion), a cond and a scan."""
    from .test_fuzz import _Builder

    rng = np.random.default_rng(7)
    graphs = [_Builder(rng).build() for _ in range(40)]
    x = xp.asarray(np.zeros(50))
    x[3] = 1.0
    graphs.append([x[3], x])
    for batch in (1, 8):
        w1 = xp.asarray(rng.standard_normal((6, 5)).astype(np.float32))
        w2 = xp.asarray(rng.standard_normal((5, 3)).astype(np.float32))
        a = xp.asarray(rng.standard_normal((batch, 6)).astype(np.float32))
        t = xp.asarray(np.eye(3, dtype=np.float32)[rng.integers(0, 3, batch)])

        def loss(w1, w2, a=a, t=t):
            z = xp.tanh(a @ w1) @ w2
            return xp.mean(xp.sum(t * (xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True)) - z),
                                  axis=1))
        g1, g2 = xp.grad(loss, argnums=(0, 1))(w1, w2)
        graphs.append([w1 - 0.1 * g1, w2 - 0.1 * g2])
    v = xp.asarray(rng.standard_normal(4))
    graphs.append([xp.cond(xp.sum(v) > 0, lambda u: xp.exp(u) * 2.0, lambda u: -u, v) + 1.0])
    graphs.append(list(xp.scan(lambda c, e: (c * e + 1.0, c), xp.asarray(1.0), v)))
    return graphs


def _skipping_changes_nothing(monkeypatch, table: dict, names, switch: str) -> dict:
    """Rewrite each `_corpus` graph with ``db.<switch>`` on and off, the entries ``names`` of
    ``table`` (`db._passes` or `db._rewrites`) counting their calls under each setting: the
    same rewrites fire, in the same order, into the same graph. Returns the calls per
    setting."""
    import dataclasses

    from lazyarr.rewrites import db

    from .rw_helpers import graph_of

    calls = {True: 0, False: 0}

    def counted(fn):
        def run(*args):
            calls[getattr(db, switch)] += 1
            return fn(*args)
        return run

    for name in names:
        monkeypatch.setitem(table, name,
                            dataclasses.replace(table[name], fn=counted(table[name].fn)))
    db._plans.clear()
    try:
        with np.errstate(all="ignore"):
            for outs in _corpus():
                fg, _ = graph_of(*outs)
                report = rewrite(fg)
                monkeypatch.setattr(db, switch, False)
                every, _ = graph_of(*outs)
                want = rewrite(every)
                monkeypatch.setattr(db, switch, True)
                assert report.fired == want.fired
                assert _structure(fg) == _structure(every)
                assert report.nodes_before == want.nodes_before
                assert report.nodes_after == want.nodes_after == len(fg.toposort())
    finally:
        monkeypatch.undo()
        db._plans.clear()
    return calls


def test_passes_skipped_for_missing_ops_change_nothing(monkeypatch):
    """Skipping a pass whose ``needs`` the graph lacks gives the program running every pass
    would."""
    from lazyarr.rewrites import db

    needs = {p.name for p in db._passes.values() if p.needs is not None}
    assert {"loop_rewrites", "sink_into_branches", "dot_update", "elemwise_fusion",
            "reduce_fusion", "row_fusion"} <= needs
    calls = _skipping_changes_nothing(monkeypatch, db._passes, needs, "skip_by_op_classes")
    skipped, ran = calls[False] - calls[True], calls[True]
    assert skipped > 40 and ran > 40, calls  # both cases are covered


def test_a_pass_runs_only_where_its_ops_are():
    calls = []

    @register_pass("test_needs_log", "stabilize", 5.0, needs=(Elemwise,))
    def needs_log(fg, report):
        calls.append([repr(n.op) for n in fg.toposort()])

    try:
        rewrite(_chain(2))  # --x: canonicalize leaves no node
        assert calls == []
        rewrite(_chain(1, "log"))
        assert calls == [["log"]]
    finally:
        unregister("test_needs_log")


def test_a_rewrite_is_called_only_once_a_node_it_needs_has_been_in_the_graph():
    """``needs``: the rewrite is not called while no node has one of those ops, and is once
    a rewrite of the same phase brought one in."""
    seen = []

    @register_rewrite("test_sin_to_exp", "stabilize", op_classes=[Elemwise("sin")])
    def sin_to_exp(node, g):
        return build(Elemwise("exp"), node.inputs[0])

    @register_rewrite("test_needs_exp", "stabilize", op_classes=[Elemwise("cos")],
                      needs=[Elemwise("exp")])
    def needs_exp(node, g):
        seen.append(repr(node.inputs[0].owner.op) if node.inputs[0].owner else None)

    try:
        rewrite(_chain(1, "cos"))
        assert seen == []
        fg = _chain(1, "sin")
        fg.outputs = [apply(Elemwise("cos"), fg.outputs[0])[0]]
        rewrite(fg)  # sin is visited first and becomes exp; its reader cos is visited again
        assert seen == ["exp"]
    finally:
        unregister("test_sin_to_exp")
        unregister("test_needs_exp")


def test_rewrites_skipped_for_missing_ops_change_nothing(monkeypatch):
    """Not calling a node rewrite whose ``needs`` the graph lacks gives the program calling
    every rewrite would."""
    from lazyarr.rewrites import db

    gated = {r.name for r in db._rewrites.values() if r.needs is not None}
    assert {"cancel_exp_factors", "distribute_exp_factor", "softmax_shift",
            "distribute_softmax_terms", "expm1", "gemm_scale", "gemm_accumulate"} <= gated
    calls = _skipping_changes_nothing(monkeypatch, db._rewrites, gated, "skip_by_needs")
    skipped, ran = calls[False] - calls[True], calls[True]
    assert skipped > 40 and ran > 40, calls  # both cases are covered
