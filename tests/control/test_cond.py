"""cond: only the taken branch runs, in every VM; structure errors; nesting."""

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import coerce
from lazyarr.control import ops as control_ops
from lazyarr.diff.registry import register_jvp, register_vjp
from lazyarr.graph.basic import Op

runs = {"boom": 0, "costly": 0}


class Boom(Op):
    """Raises when it runs: a branch holding it must never be computed."""

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        runs["boom"] += 1
        raise RuntimeError("the untaken branch ran")


class Costly(Op):
    """Stands for a very expensive computation; counts its runs."""

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        runs["costly"] += 1
        return x * 2.0


def boom(a):
    return coerce.build(Boom(), a._v)


def costly(a):
    return coerce.build(Costly(), a._v)


@pytest.mark.parametrize("flag", [True, False])
def test_only_the_taken_branch_runs(flag):
    x = xp.asarray(np.arange(4.0))
    before = dict(runs)
    if flag:
        r = xp.cond(xp.sum(x) > 1, lambda v: v + 1.0, boom, x)
        np.testing.assert_allclose(np.asarray(r), np.arange(4.0) + 1)
    else:
        r = xp.cond(xp.sum(x) > 100, boom, lambda v: v * 3.0, x)
        np.testing.assert_allclose(np.asarray(r), np.arange(4.0) * 3)
    assert runs["boom"] == before["boom"]


def test_costly_branch_skipped_and_taken_counts():
    x = xp.asarray(np.ones(3))
    c0 = runs["costly"]
    r = xp.cond(False, costly, lambda v: v - 1.0, x)
    np.testing.assert_allclose(np.asarray(r), 0.0)
    assert runs["costly"] == c0
    r = xp.cond(True, costly, lambda v: v - 1.0, x)
    np.testing.assert_allclose(np.asarray(r), 2.0)
    assert runs["costly"] == c0 + 1


def test_untaken_branch_closing_over_an_outer_array():
    x = xp.asarray(np.ones(3))
    pending = x * 7.0  # the false branch closes over it and would fail on it
    f0 = control_ops.counters["cond_false"]
    r = xp.cond(xp.asarray(1) == 1, lambda v: v + 2.0, lambda v: boom(pending) + v, x)
    np.testing.assert_allclose(np.asarray(r), 3.0)
    assert control_ops.counters["cond_false"] == f0
    np.testing.assert_allclose(np.asarray(pending), 7.0)


def test_cond_pytrees_and_nesting():
    a, b = xp.asarray(2.0), xp.asarray(np.array([1.0, -1.0]))

    def tf(a, b):
        inner = xp.cond(a > 1, lambda u: u * 10.0, boom, b)
        return {"s": a + 1.0, "v": inner}

    def ff(a, b):
        return {"s": a - 1.0, "v": boom(b)}

    r = xp.cond(a > 0, tf, ff, a, b)
    assert float(r["s"]) == 3.0
    np.testing.assert_allclose(np.asarray(r["v"]), [10.0, -10.0])


def test_nested_cond_skips_an_outer_value_only_the_untaken_inner_branch_reads():
    """A value computed outside both conds that only the inner untaken branch reads is not
    computed: the inner branch's program takes all its inputs at once, so the value's node
    moves into the branch that reads it (`cond_rewrites`), eager and compiled."""
    def f(x, p, q):
        only_inner_true = boom(x * 2.0)
        out = xp.cond(p, lambda: xp.cond(q, lambda: only_inner_true, lambda: x + 1.0),
                      lambda: x)
        return out

    x = np.array([1.0, -2.0])
    before = runs["boom"]
    for run in (f, xp.compile(f)):
        got = run(xp.asarray(x), xp.asarray(True), xp.asarray(False))
        np.testing.assert_allclose(np.asarray(got), x + 1.0)
        got = run(xp.asarray(x), xp.asarray(False), xp.asarray(True))
        np.testing.assert_allclose(np.asarray(got), x)
    assert runs["boom"] == before


def test_a_value_only_one_branch_reads_moves_into_that_branch():
    from lazyarr.graph._walk import cut

    from lazyarr.control.cond_rewrites import sink_into_branches
    from lazyarr.graph.fgraph import FunctionGraph

    x = xp.asarray(np.array([0.5, 2.0]))
    shared = xp.exp(x)
    only_true = xp.log(shared) * 3.0
    r = xp.cond(xp.sum(x) > 0, lambda: only_true + shared, lambda: shared - 1.0)
    leaves, steps, refs, _ = cut([r._v])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    assert sink_into_branches(fg) == 2  # the product, then the log; exp stays: both read it
    (node,) = [n for n in fg.toposort() if isinstance(n.op, control_ops.Cond)]
    assert node.op.n_te == 1 and node.op.n_fe == 1  # each branch reads exp(x) alone
    outside = [str(getattr(n.op, "fn", "")) for n in fg.toposort()]
    assert "exp" in outside and "log" not in outside and "multiply" not in outside
    xn = np.array([0.5, 2.0])
    np.testing.assert_allclose(np.asarray(r), np.log(np.exp(xn)) * 3.0 + np.exp(xn))


def test_a_branch_reading_one_moved_value_at_two_inputs():
    """Two equal expressions a branch closes over merge into one value read at two inputs:
    both take the moved node (one of them was left dangling: ValueError)."""
    def f(x, p):
        a, b = xp.exp(x), xp.exp(x)
        return xp.cond(p, lambda: a + b * 2.0, lambda: x)

    x = np.array([0.5, 2.0])
    for run in (f, xp.compile(f)):
        np.testing.assert_allclose(np.asarray(run(xp.asarray(x), xp.asarray(True))),
                                   3 * np.exp(x), rtol=1e-15)
        np.testing.assert_allclose(np.asarray(run(xp.asarray(x), xp.asarray(False))), x)


def test_a_long_chain_only_a_branch_reads_moves_whole(monkeypatch):
    from lazyarr.graph._walk import cut

    from lazyarr.control.cond_rewrites import sink_into_branches
    from lazyarr.graph.fgraph import FunctionGraph

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 1 << 20)  # the chain stays pending
    x = xp.asarray(np.array([0.1, 0.2]))
    y = x
    for _ in range(200):
        y = xp.tanh(y * 1.5)
    r = xp.cond(xp.sum(x) > 0, lambda: y, lambda: x)
    leaves, steps, refs, _ = cut([r._v])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    assert sink_into_branches(fg) == 400
    assert [type(n.op).__name__ for n in fg.toposort()].count("Elemwise") == 1  # the > test
    expect = np.array([0.1, 0.2])
    for _ in range(200):
        expect = np.tanh(expect * 1.5)
    np.testing.assert_allclose(np.asarray(r), expect, rtol=1e-12)


def test_cond_inside_scan_picks_per_step():
    x = np.array([1.0, -2.0, 3.0, -4.0])

    def step(c, v):
        y = xp.cond(v > 0, lambda u: u * u, lambda u: -u, v)
        return c + y, y

    c, ys = xp.scan(step, xp.asarray(0.0), xp.asarray(x))
    np.testing.assert_allclose(np.asarray(ys), np.where(x > 0, x * x, -x))
    assert float(c) == pytest.approx(np.where(x > 0, x * x, -x).sum())


def test_numeric_predicate():
    r = xp.cond(xp.asarray(0), lambda: xp.asarray(1.0), lambda: xp.asarray(2.0))
    assert float(r) == 2.0


def test_branch_mismatch_errors_name_the_user_line():
    x = xp.asarray(np.ones(3))
    with pytest.raises(TypeError, match=r"dtype.*test_cond\.py"):
        xp.cond(True, lambda v: v, lambda v: xp.astype(v, xp.float32), x)
    with pytest.raises(ValueError, match=r"shape.*test_cond\.py"):
        xp.cond(True, lambda v: v, lambda v: v[:2], x)
    with pytest.raises(TypeError, match=r"returns.*test_cond\.py"):
        xp.cond(True, lambda v: (v, v), lambda v: v, x)
    with pytest.raises(ValueError, match=r"scalar"):
        xp.cond(x > 0, lambda v: v, lambda v: v, x)



def test_derivatives_of_cond_do_not_compute_the_untaken_branchs_captures():
    """A value only the untaken branch reads (a singular inverse, not differentiated) is not
    computed by the forward, and neither by grad, jvp or hvp through the cond (for one that
    depends on the differentiated input, see the tests below)."""
    a = xp.asarray(np.zeros((2, 2)))

    def f(w):
        inv_a = xp.linalg.inv(a)  # singular; only true_fn reads it
        return xp.sum(xp.cond(xp.asarray(False), lambda u: u * inv_a[0] * w, lambda u: u * w,
                              xp.ones(2)))

    w = np.array([0.0, 1.0])
    assert float(f(xp.asarray(w))) == 1.0
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(xp.grad(f)(xp.asarray(w))), [1.0, 1.0])
    _, t = xp.jvp(f, (w,), (np.array([1.0, 2.0]),))
    assert float(t) == 3.0
    np.testing.assert_array_equal(np.asarray(xp.hvp(f, (w,), (np.ones(2),))), [0.0, 0.0])


def test_grad_through_a_cond_in_a_scan_body_skips_the_untaken_capture():
    m = xp.asarray(np.ones((2, 2)))

    def body(c, x):
        bad = xp.linalg.inv(m * x)  # singular; only false_fn reads it
        return xp.cond(c > 0, lambda: c + x, lambda: c + xp.sum(bad)), c

    f = lambda c0: xp.scan(body, c0, xp.asarray([1.0, 2.0]))[0]  # noqa: E731
    assert float(f(xp.asarray(1.0))) == 4.0
    assert float(xp.grad(f)(xp.asarray(1.0))) == 1.0


def _inv_under_untaken_branch(m, x):
    b = xp.linalg.inv(m)  # read only inside the untaken branch
    return xp.cond(x > 100, lambda c: c * b[0, 0], lambda c: c * 2, x)


def test_reverse_derivatives_skip_a_differentiated_capture_only_the_untaken_branch_reads():
    """The cotangent of a capture only the untaken branch reads is zero; its producer's vjp
    (which reads the singular inverse) must not run either, as the forward does not."""
    m, x = xp.asarray(np.zeros((2, 2))), xp.asarray(1.0)
    assert float(_inv_under_untaken_branch(m, x)) == 2.0
    for _ in range(2):  # the second call clones the first one's derivative graph
        gm, gx = xp.grad(_inv_under_untaken_branch, argnums=(0, 1))(m, x)
        np.testing.assert_array_equal(np.asarray(gm), np.zeros((2, 2)))
        assert float(gx) == 2.0
    _, pull = xp.vjp(lambda m_: _inv_under_untaken_branch(m_, x), m)
    np.testing.assert_array_equal(np.asarray(pull(xp.asarray(1.0))[0]), np.zeros((2, 2)))
    jac = xp.jacobian(lambda m_: _inv_under_untaken_branch(m_, x))(m)
    np.testing.assert_array_equal(np.asarray(jac), np.zeros((2, 2)))


def test_grad_skips_a_gather_with_a_bad_index_only_the_untaken_branch_reads():
    a = xp.asarray(np.array([1.0, 2.0, 3.0]))
    idx = xp.asarray(np.array([1])) + 7  # pending, out of range

    def f(a_, p):
        b = xp.take(a_, idx)
        return xp.cond(p, lambda: xp.sum(b * b), lambda: xp.sum(a_ * a_))

    assert float(f(a, xp.asarray(False))) == 14.0
    np.testing.assert_array_equal(np.asarray(xp.grad(f)(a, xp.asarray(False))), [2, 4, 6])
    with pytest.raises(IndexError):
        np.asarray(xp.grad(f)(a, xp.asarray(True)))


def test_grad_in_a_scan_body_skips_a_differentiated_capture_of_the_untaken_branch():
    def f(m, c0):
        def body(c, x):
            b = xp.linalg.inv(m * x)  # singular; only the untaken true_fn reads it
            return xp.cond(c > 100, lambda: c + xp.sum(b), lambda: c * x), c
        return xp.scan(body, c0, xp.asarray([1.0, 2.0]))[0]

    m, c0 = xp.asarray(np.ones((2, 2))), xp.asarray(1.5)
    assert float(f(m, c0)) == 3.0
    _, t = xp.jvp(lambda m_: f(m_, c0), (m,), (xp.asarray(np.ones((2, 2))),))
    assert float(t) == 0.0
    for g in (xp.grad(f, argnums=(0, 1)), xp.compile(xp.grad(f, argnums=(0, 1)))):
        gm, gc = g(m, c0)
        np.testing.assert_array_equal(np.asarray(gm), np.zeros((2, 2)))
        assert float(gc) == 2.0


class CountedExp(Op):
    """``exp`` that counts its runs; its vjp reads its output, so running the vjp runs it."""

    def infer(self, x):
        return [(x.dtype, x.shape)]

    def perform(self, x):
        runs["exp"] += 1
        return np.exp(x)


@register_vjp(CountedExp)
def _counted_exp_vjp(op, inputs, outputs, cts):
    return [cts[0] * outputs[0]]


@register_jvp(CountedExp)
def _counted_exp_jvp(op, inputs, outputs, tangents):
    return [tangents[0] * outputs[0]]


def counted_exp(a):
    return coerce.build(CountedExp(), a._v)


runs["exp"] = 0
SINGULAR = np.ones((2, 2))


def _nested(x, p, q, m, how):
    """``sum(cond(p, cond(q', a @ e, 3x), x * x))`` where ``a = inv(m * x[0])`` (raises for a
    singular ``m``) and ``e = exp(x)`` (counted) are read only by the inner true branch. The
    inner predicate ``q'`` is ``q`` closed over, passed as an operand, or computed inside the
    outer branch."""
    a = xp.linalg.inv(m * x[0])
    e = counted_exp(x)

    def outer_true(w=None):
        inner = {"closed over": q, "operand": w,
                 "computed": xp.logical_and(q, xp.sum(x) < 100.0)}[how]
        return xp.cond(inner, lambda: a @ e, lambda: x * 3.0)

    if how == "operand":
        return xp.sum(xp.cond(p, outer_true, lambda w: x * x, q))
    return xp.sum(xp.cond(p, outer_true, lambda: x * x))


def _hvp(f, x, *rest):
    """Forward over reverse: ``H v`` of ``f`` in its first argument."""
    return xp.hvp(lambda y: f(y, *rest), (x,), (xp.asarray([1.0, -1.0]),))


@pytest.mark.parametrize("how", ["closed over", "operand", "computed"])
def test_reverse_mode_of_nested_conds_skips_what_only_the_untaken_inner_branch_reads(how):
    """A vjp that reads a value only the untaken inner branch of nested conds reads (the vjp
    of ``inv`` reads the inverse; that of a costly op its output) does not run, as the
    forward does not compute the value: the cotangent's gate is both branches, eager and
    compiled, and in forward-over-reverse second derivatives. Where both branches are
    taken it runs."""
    x = xp.asarray(np.array([1.0, 3.0]))
    yes, no = xp.asarray(True), xp.asarray(False)
    m = xp.asarray(SINGULAR)
    f = lambda x_, p, q: _nested(x_, p, q, m, how)  # noqa: E731
    before = runs["exp"]
    assert float(f(x, yes, no)) == 12.0
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        np.testing.assert_array_equal(np.asarray(g(x, yes, no)), [3.0, 3.0])
        np.testing.assert_array_equal(np.asarray(g(x, no, yes)), [2.0, 6.0])
    np.testing.assert_array_equal(np.asarray(_hvp(f, x, yes, no)), [0.0, 0.0])
    assert runs["exp"] == before
    with pytest.raises(np.linalg.LinAlgError):
        np.asarray(xp.grad(f)(x, yes, yes))
    m_ok = np.array([[2.0, 0.5], [0.3, 1.5]])
    h = lambda x_: _nested(x_, yes, yes, xp.asarray(m_ok), how)  # noqa: E731
    x0 = np.array([1.0, 3.0])
    want = [(float(h(xp.asarray(x0 + d))) - float(h(xp.asarray(x0 - d)))) / 2e-6
            for d in np.eye(2) * 1e-6]
    np.testing.assert_allclose(np.asarray(xp.grad(h)(xp.asarray(x0))), want, rtol=1e-6)


def test_reverse_mode_of_a_cond_read_only_under_another_skips_its_untaken_captures():
    """``y = cond(q, a @ e, 3x)`` read only by the taken branch of ``cond(p, ...)``: with p
    False the forward computes neither ``y`` nor ``a``, and the vjps reading them do not run
    when q is True (the gate of their cotangents is p's branch, then q's)."""
    x = xp.asarray(np.array([1.0, 3.0]))
    m = xp.asarray(SINGULAR)

    def f(x_, p, q):
        a = xp.linalg.inv(m * x_[0])
        y = xp.cond(q, lambda: a @ counted_exp(x_), lambda: x_ * 3.0)
        return xp.sum(xp.cond(p, lambda: y, lambda: x_ * x_))

    before = runs["exp"]
    args = (x, xp.asarray(False), xp.asarray(True))
    assert float(f(*args)) == 10.0
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        np.testing.assert_array_equal(np.asarray(g(*args)), [2.0, 6.0])
    assert runs["exp"] == before


@pytest.mark.parametrize("loop", ["scan", "fori_loop"])
def test_reverse_mode_of_nested_conds_in_a_loop_body_skips_the_untaken_inner_captures(loop):
    """The same inside a loop body: the body's vjp runs neither the singular inverse nor the
    counted exp that only the untaken inner branch reads."""
    m = xp.asarray(SINGULAR)

    def body(c, p, q):
        a = xp.linalg.inv(m * c[0])
        e = counted_exp(c)
        return xp.cond(p, lambda: xp.cond(q, lambda: a @ e, lambda: c * 3.0), lambda: c * c)

    def f(x_, p, q):
        if loop == "scan":
            return xp.sum(xp.scan(lambda c, t: (body(c, p, q) * t, t), x_,
                                  xp.asarray([1.0, 2.0]))[0])
        return xp.sum(xp.fori_loop(0, 2, lambda i, c: body(c, p, q), x_))

    x = xp.asarray(np.array([1.0, 3.0]))
    yes, no = xp.asarray(True), xp.asarray(False)
    factor = 18.0 if loop == "scan" else 9.0
    before = runs["exp"]
    assert float(f(x, yes, no)) == factor * 4.0
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        np.testing.assert_array_equal(np.asarray(g(x, yes, no)), [factor, factor])
    np.testing.assert_array_equal(np.asarray(_hvp(f, x, yes, no)), [0.0, 0.0])
    assert runs["exp"] == before


def test_branches_deeper_than_the_pending_depth_bound(monkeypatch):
    """A branch whose chain is deeper than ``MAX_PENDING_DEPTH`` is traced whole (realizing
    it under the bound would need the value of the branch's traced input)."""
    def chain(x):
        for _ in range(40):
            x = xp.sin(x) * 1.01
        return x

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    x0 = np.array([0.3, -1.2, 2.0])
    want = x0
    for _ in range(40):
        want = np.sin(want) * 1.01
    for flag, expect in ((True, want), (False, x0)):
        r = xp.cond(xp.asarray(flag), chain, lambda w: w, xp.asarray(x0))
        np.testing.assert_allclose(np.asarray(r), expect, rtol=1e-13)


def test_a_zero_cotangent_through_an_infinite_partial_is_nan_as_without_cond():
    """0 * inf is NaN: the gradient of sqrt(x) * 0 at x = 0 under a taken branch is NaN, as
    without the cond and as JAX's cond gives, eagerly and compiled (skipping gated vjps of
    all-zero cotangents once gave 0 here, and a different answer compiled)."""
    def f(x, p):
        s = xp.sqrt(x)
        return xp.sum(xp.cond(p, lambda: s * 0.0, lambda: x))

    x, yes = xp.asarray(np.array([0.0, 1.0])), xp.asarray(True)
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        got = np.asarray(g(x, yes))
        assert np.isnan(got[0]) and got[1] == 0.0, got


def test_reverse_mode_of_conds_on_one_predicate_beside_another_skips_their_capture():
    """Two conds on ``p`` read ``inv(M)`` in their true branches, and a cond on ``r`` reads
    the first one's value too: with ``p`` False the gradient runs no inverse (a singular
    ``M`` would raise), eager and compiled; the value is the hand-derived one. (A merge of
    conds through the nodes between them once copied the capture into both branches.)"""
    m = xp.asarray(np.ones((2, 2)))  # singular

    def f(x, p, r):
        a = xp.linalg.inv(m * x[0])
        s = xp.cond(p, lambda: a @ x, lambda: x * 2.0) * 2.0
        t = xp.sum(s)
        y2 = xp.cond(p, lambda: a @ s, lambda: s - 1.0)
        y3 = xp.cond(r, lambda: s * t, lambda: -s)
        return xp.sum(y2 * y3)

    x0 = np.array([0.7, -1.2])
    # p False, r True: f = sum((4x - 1) * 4x) * sum(4x)
    s, t = 4 * x0, np.sum(4 * x0)
    want = (32 * x0 - 4) * t + 4 * np.sum((4 * x0 - 1) * s)
    for g in (xp.grad(f), xp.compile(xp.grad(f))):
        got = g(xp.asarray(x0), xp.asarray(False), xp.asarray(True))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13)
