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
