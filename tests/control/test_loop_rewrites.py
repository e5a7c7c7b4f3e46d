"""Each loop rewrite fires (loops and nodes counted before/after) and preserves results (the
rewritten graph, run natively, agrees with the original on the reference VM)."""

import numpy as np
from lazyarr.graph._walk import cut

import lazyarr as xp
from lazyarr.array import coerce
from lazyarr.array.ops.linalg import MatMul
from lazyarr.array.ops.shape import Transpose
from lazyarr.control import loop_rewrites as R
from lazyarr.control.ops import Scan
from lazyarr.exec_cpu import link
from lazyarr.graph import fgraph as fgraph_module
from lazyarr.graph.basic import Var, apply
from lazyarr.graph.fgraph import FunctionGraph
from lazyarr.graph.inner import InnerGraph
from lazyarr.graph.toposort import toposort

RNG = np.random.default_rng(7)


def _fgraph(*arrays):
    """A FunctionGraph of the pending graph of ``arrays`` and the data of its inputs."""
    leaves, steps, refs, _ = cut([a._v for a in arrays])
    fg = FunctionGraph.from_cut(leaves, steps, refs)
    args = [v.data for v in leaves if not (v.const and v.data.size <= 16)]
    assert len(args) == len(fg.inputs)
    return fg, args


def _scans(fg):
    return [n for n in fg.toposort() if isinstance(n.op, Scan)]


def _body_nodes(node, cls=None):
    nodes = FunctionGraph(node.op.body.inputs, node.op.body.outputs).toposort()
    return [n for n in nodes if cls is None or isinstance(n.op, cls)]


def _check(rewrite, *arrays, fires=1):
    fg, args = _fgraph(*arrays)
    expected = link(fg, reference=True)(args)
    before = (len(_scans(fg)), len(fg.toposort()))
    assert rewrite(fg) == fires
    got = link(fg)(args)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    return fg, before


def test_prune_drops_unread_outputs_dead_carries_and_unread_inputs():
    x = xp.asarray(RNG.standard_normal((6, 3)))
    z = xp.asarray(RNG.standard_normal((6, 2)))

    def f(c, s):
        a, cnt = c
        xt, zt = s
        return (a + xt, cnt + 1.0), (a * 2.0, xp.sum(zt) * cnt)

    (a, cnt), (ys, unused) = xp.scan(f, (xp.zeros(3), xp.asarray(0.0)), (x, z))
    fg, _ = _check(R.prune, a, ys)
    (node,) = _scans(fg)
    assert (node.op.n_carry, node.op.n_xs, len(node.op.body.outputs)) == (1, 1, 2)
    before_step = np.vstack([np.zeros(3), np.cumsum(np.asarray(x), 0)[:-1]])
    np.testing.assert_allclose(np.asarray(ys), 2.0 * before_step)


def test_keep_last_stores_only_the_last_step():
    x = xp.asarray(RNG.standard_normal((5, 4)))
    _, ys = xp.scan(lambda c, xt: (c + xt, c * xt), xp.ones(4), x)
    fg, _ = _check(R.keep_last, ys[-1] + 1.0)
    (node,) = _scans(fg)
    assert node.op.ys_last == (True,)
    assert node.outputs[1].shape == (4,)
    assert not any(type(n.op).__name__ == "GetItem" for n in fg.toposort())


def test_the_last_row_of_a_reverse_scan_is_its_first_step():
    """ys[-1] of a reverse scan is the row of the last x, computed first: keep_last, which
    keeps the step run last, must not take it (eager, compiled and under grad)."""
    def f(w):
        _, ys = xp.scan(lambda c, x: (c * w + x, c * x * w), xp.asarray(1.0),
                        xp.asarray([1.0, 2.0, 3.0]), reverse=True)
        return ys[-1] * 2.0  # row 2, the first step: 2 * (1 * 3 * w)

    w = 0.5
    assert float(f(xp.asarray(w))) == 6.0 * w
    assert float(xp.compile(f)(np.float64(w))) == 6.0 * w
    v, g = xp.value_and_grad(f)(xp.asarray(w))
    assert (float(v), float(g)) == (6.0 * w, 6.0)


def test_unroll_length_one():
    x = xp.asarray(RNG.standard_normal((1, 3)))
    c, ys = xp.scan(lambda c, xt: (c * xt + 1.0, xp.exp(c)), xp.asarray(RNG.standard_normal(3)),
                    x)
    fg, (n_scans, _) = _check(R.unroll_length_one, c, ys)
    assert n_scans == 1 and not _scans(fg)
    assert fg.outputs[1].shape == (1, 3)


def _body_with_invariant(x, w):
    """A scan whose body (built directly, as differentiation does) computes ``exp(w) * 2``
    every step."""
    c = Var.input(np.float64, (3,), "c")
    xt = Var.input(np.float64, (3,), "xt")
    wi = Var.input(np.float64, (3,), "w")
    inv = coerce.wrap(wi)
    new_c = coerce.wrap(c) + coerce.wrap(xt) * (xp.exp(inv) * 2.0)
    body = InnerGraph([c, xt, wi], [new_c._v, new_c._v])
    op = Scan(body, 1, 1, 1, False, x.shape[0], (False,))
    outs = apply(op, coerce.const(x.shape[0], np.dtype(np.int64)), xp.zeros(3)._v, x._v, w._v)
    return [coerce.wrap(o) for o in outs]


def test_hoist_invariants_out_of_a_built_body():
    x = xp.asarray(RNG.standard_normal((4, 3)))
    w = xp.asarray(RNG.standard_normal(3))
    c, ys = _body_with_invariant(x, w)
    fg, (_, nodes_before) = _check(R.hoist_invariants, c, ys)
    (node,) = _scans(fg)
    assert len(_body_nodes(node)) == 2  # mul, add: exp and the scaling left the body
    assert len(fg.toposort()) > nodes_before
    np.testing.assert_allclose(np.asarray(c), np.asarray(x).sum(0) * np.exp(np.asarray(w)) * 2)


def test_sequence_matmul_becomes_one_matrix_product():
    x = xp.asarray(RNG.standard_normal((7, 4)))
    W = xp.asarray(RNG.standard_normal((4, 3)))
    Wh = xp.asarray(RNG.standard_normal((3, 3)) * 0.3)

    def step(h, xt):
        h = xp.tanh(xt @ W + h @ Wh)
        return h, h

    h, hs = xp.scan(step, xp.zeros(3), x)
    fg, _ = _check(lambda g: R.sequence_matmul(g) + R.prune(g), h, hs, fires=2)
    (node,) = _scans(fg)
    assert len(_body_nodes(node, MatMul)) == 1  # only h @ Wh is left per step
    outer = [n for n in fg.toposort() if isinstance(n.op, MatMul)]
    assert [n.outputs[0].shape for n in outer] == [(7, 3)]
    assert node.op.n_xs == 1 and node.inputs[1 + node.op.n_carry].shape == (7, 3)


def test_merge_two_scans_and_their_shared_carry():
    x = xp.asarray(RNG.standard_normal((6, 2)))
    h0 = xp.asarray(RNG.standard_normal(2))

    def step(h, xt):
        return xp.sin(h) + xt, h * 2.0

    h1, ys1 = xp.scan(step, h0, x)
    # the same recurrence again (as a gradient's forward pass is), with another output
    h2, ys2 = xp.scan(lambda h, xt: (xp.sin(h) + xt, xp.cos(h)), h0, x)
    fg, (n_scans, _) = _check(R.merge_scans, h1, ys1, h2, ys2)
    assert n_scans == 2
    (node,) = _scans(fg)
    assert node.op.n_carry == 1  # the identical carries merged: the recurrence runs once
    assert len(node.op.body.outputs) == 3


def test_merge_keeps_carries_that_only_start_equal():
    x = xp.asarray(RNG.standard_normal((5, 2)))
    h0 = xp.asarray(RNG.standard_normal(2))
    a, _ = xp.scan(lambda h, xt: (h + xt, h), h0, x)
    b, _ = xp.scan(lambda h, xt: (h * xt, h), h0, x)
    fg, _ = _check(R.merge_scans, a, b)
    (node,) = _scans(fg)
    assert node.op.n_carry == 2


def _tanh_rnn_states(w, x):
    return xp.scan(lambda h, xt: (xp.tanh(h @ w + xt),) * 2, xp.zeros(3), x)[1]


def _np_tanh_rnn_states(w, x):
    h, hs = np.zeros(3), []
    for xt in x:
        h = np.tanh(h @ w + xt)
        hs.append(h)
    return np.array(hs)


def test_many_scans_merge_in_one_walk(monkeypatch):
    # chains of two scans, the second reading the first's states: the first scans of all
    # chains merge into one, the second ones into another
    chains = 6
    x = RNG.standard_normal((6, 3))
    ws = [[RNG.standard_normal((3, 3)) * 0.3 for _ in range(2)] for _ in range(chains)]
    outs = []
    for w1, w2 in ws:
        hs = _tanh_rnn_states(xp.asarray(w1), xp.asarray(x))
        outs.append(xp.sum(_tanh_rnn_states(xp.asarray(w2), hs)))
    fg, args = _fgraph(xp.stack(outs))
    walks = []

    def counted_toposort(outputs):
        walks.append(1)
        return toposort(outputs)

    monkeypatch.setattr(fgraph_module, "toposort", counted_toposort)
    merges = R.merge_scans(fg)
    # one walk for the reader lists, one to choose every merge (not a walk per merge, per
    # pair of scans, nor per replaced output)
    assert len(walks) == 2
    assert merges == 2 * chains - 2 and len(_scans(fg)) == 2
    expected = [_np_tanh_rnn_states(w2, _np_tanh_rnn_states(w1, x)).sum() for w1, w2 in ws]
    np.testing.assert_allclose(link(fg)(args)[0], expected, rtol=1e-12)


def test_three_scans_merge_and_share_the_carries_they_all_repeat():
    x = xp.asarray(RNG.standard_normal((6, 2)))
    h0 = xp.asarray(RNG.standard_normal(2))
    h1, ys1 = xp.scan(lambda h, xt: (xp.sin(h) + xt, h * 2.0), h0, x)
    h2, ys2 = xp.scan(lambda h, xt: (h * xt, xp.cos(h)), h0, x)  # starts equal only
    h3, ys3 = xp.scan(lambda h, xt: (xp.sin(h) + xt, h - 1.0), h0, x)  # repeats the first
    fg, _ = _check(R.merge_scans, h1, ys1, h2, ys2, h3, ys3, fires=2)
    (node,) = _scans(fg)
    assert node.op.n_carry == 2 and len(node.op.body.outputs) == 5


def _stacked_rnn_loss(x):
    """``loss(*ws)``: the summed squared states of tanh RNN layers stacked over ``x``."""
    def loss(*ws):
        hs = xp.asarray(x)
        for w in ws:
            hs = _tanh_rnn_states(w, hs)
        return xp.sum(hs * hs)
    return loss


def test_loop_rewrites_walk_the_graph_as_often_for_more_layers(monkeypatch):
    # the gradient of a stacked RNN: every layer's forward scans merge, each backward scan
    # reuses its forward values, accumulators are pushed out; each firing replaces in
    # what it touches, so the walks of the whole graph do not grow with the layers
    x = RNG.standard_normal((5, 3))
    walks = []

    def counted_toposort(outputs):
        walks.append(outputs is fg.outputs)  # not the walks of a scan's body
        return toposort(outputs)

    counts = []
    for layers in (2, 4):
        ws = [RNG.standard_normal((3, 3)) * 0.3 for _ in range(layers)]
        loss = _stacked_rnn_loss(x)
        grads = xp.grad(loss, argnums=tuple(range(layers)))(*map(xp.asarray, ws))
        fg, args = _fgraph(*grads)
        expected = link(fg, reference=True)(args)
        walks.clear()
        with monkeypatch.context() as m:
            m.setattr(fgraph_module, "toposort", counted_toposort)
            fired = R.optimize_loops(fg)
        assert fired["merge_scans"] == 2 * layers and fired["reuse_forward_values"] == layers
        counts.append(sum(walks))
        for g, e in zip(link(fg)(args), expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    assert counts[1] == counts[0]


def test_loop_rewrites_of_a_graph_deeper_than_the_pending_bound(monkeypatch):
    """The gradient of a stacked RNN whose variables lie deeper than the pending-depth bound
    (320 layers against 512 before; 12 against 8 here): the rewrites build their nodes on
    symbolic values, which wrapping past the bound tried to realize (ConcretizationError
    while compiling). Oracle: the same loss in NumPy, by central differences, for the first
    and last layers' weights, eager and compiled."""
    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    x = RNG.standard_normal((4, 3))
    layers = 12
    ws = [RNG.standard_normal((3, 3)) * 0.3 for _ in range(layers)]
    loss = _stacked_rnn_loss(x)

    def np_loss(ws):
        hs = x
        for w in ws:
            hs = _np_tanh_rnn_states(w, hs)
        return np.sum(hs * hs)

    for f in (loss, xp.compile(loss)):
        grads = xp.grad(f, argnums=tuple(range(layers)))(*map(xp.asarray, ws))
        got = [np.asarray(g) for g in grads]
        for k in (0, layers - 1):
            want = np.zeros((3, 3))
            for i, j in np.ndindex(3, 3):
                e = np.zeros((3, 3))
                e[i, j] = 1e-6
                up = [w + e if n == k else w for n, w in enumerate(ws)]
                down = [w - e if n == k else w for n, w in enumerate(ws)]
                want[i, j] = (np_loss(up) - np_loss(down)) / 2e-6
            np.testing.assert_allclose(got[k], want, rtol=1e-6, atol=1e-9)


def test_dependent_scans_are_not_merged():
    x = xp.asarray(RNG.standard_normal((5, 2)))
    a, ys = xp.scan(lambda h, xt: (h + xt, h), xp.zeros(2), x)
    b, _ = xp.scan(lambda h, yt: (h * 0.5 + yt, h), a, ys)
    fg, _ = _fgraph(b)
    assert R.merge_scans(fg) == 0


def test_optimize_loops_on_an_rnn():
    x = xp.asarray(RNG.standard_normal((8, 5)))
    Wx = xp.asarray(RNG.standard_normal((5, 4)) * 0.5)
    Wh = xp.asarray(RNG.standard_normal((4, 4)) * 0.5)

    def step(h, xt):
        h = 1 / (1 + xp.exp(-(xt @ Wx + h @ Wh)))
        return h, (h, xp.sum(h))

    h, (hs, unused) = xp.scan(step, xp.zeros(4), x)
    out = hs[-1] * 2.0
    fg, args = _fgraph(out)
    expected = link(fg, reference=True)(args)
    counts = R.optimize_loops(fg)
    assert counts["sequence_matmul"] == 1 and counts["keep_last"] == 1
    assert counts["prune"] >= 1
    np.testing.assert_allclose(link(fg)(args)[0], expected[0], rtol=1e-12)
    (node,) = _scans(fg)
    assert node.op.ys_last == (True,) and node.op.n_xs == 1


def test_pushout_accumulators_sums_after_the_loop():
    x = xp.asarray(RNG.standard_normal((6, 2)))
    a0 = xp.asarray(RNG.standard_normal((3, 2)))

    def step(c, xt):
        h, acc_outer, acc_sum = c
        h = xp.tanh(h + xp.sum(xt))
        acc_outer = acc_outer + xp.reshape(h, (3, 1)) @ xp.reshape(xt, (1, 2))
        return (h, acc_outer, acc_sum + xt * 2.0), h

    (h, outer, total), hs = xp.scan(step, (xp.asarray([0.1, 0.2, 0.3]), a0, xp.zeros(2)), x)
    fg, _ = _check(R.pushout_accumulators, h, outer, total, hs)
    (node,) = _scans(fg)
    assert node.op.n_carry == 1  # only h is carried; the sums are taken after the loop
    assert not _body_nodes(node, MatMul)
    assert [n.outputs[0].shape for n in fg.toposort() if isinstance(n.op, MatMul)] == [(3, 2)]
    hs_np = np.asarray(hs)
    np.testing.assert_allclose(np.asarray(outer), np.asarray(a0) + hs_np.T @ np.asarray(x))


def test_gradient_scan_after_all_loop_rewrites():
    """The backward scan that BPTT builds: the forward pass merged into the original one, the
    weight gradient's accumulation pushed out of the loop."""
    from lazyarr.diff import grad

    from .test_loops import _bptt_np, _elman_params, elman_xp

    x, h0, Wx, Wh, b = _elman_params()

    def loss(W):
        _, hs = elman_xp(xp.asarray(x), xp.asarray(h0), xp.asarray(Wx), W, xp.asarray(b))
        return 0.5 * xp.sum(hs ** 2)

    g = grad(loss)(xp.asarray(Wh))
    fg, args = _fgraph(g)
    expected = link(fg, reference=True)(args)
    counts = R.optimize_loops(fg)
    assert counts["pushout_accumulators"] == 1
    fwd, back = _scans(fg)
    assert back.op.reverse and back.op.n_carry == 1  # only the hidden state's cotangent
    # one stacked output (dz_t): the weight gradient reads the stacked carries themselves
    assert len(back.op.body.outputs) == 2
    assert not any(n.outputs[0].shape == Wh.shape for n in _body_nodes(back, MatMul))
    np.testing.assert_allclose(link(fg)(args)[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(expected[0], _bptt_np(x, h0, Wx, Wh, b), rtol=1e-9)


def test_while_loop_without_gradient_stops_recording_its_trajectory():
    from lazyarr.control.ops import While

    v, n = xp.while_loop(lambda s: s[1] < 5, lambda s: (s[0] * 1.5, s[1] + 1),
                         (xp.asarray(RNG.standard_normal(3)), xp.asarray(0)))
    fg, _ = _check(R.drop_trajectory, v, n)
    (node,) = [m for m in fg.toposort() if isinstance(m.op, While)]
    assert not node.op.record and len(node.outputs) == 2


def test_prune_shares_repeated_stacked_outputs():
    x = xp.asarray(RNG.standard_normal((4, 3)))
    _, (a, b) = xp.scan(lambda c, xt: (c + xt, (c * xt, c * xt)), xp.zeros(3), x)
    fg, _ = _check(R.prune, a + 1.0, b * 2.0)
    (node,) = _scans(fg)
    assert len(node.op.body.outputs) == 2  # the carry and one stacked output


def test_backward_scan_reads_the_forward_values_it_would_recompute():
    """BPTT of an Elman layer: the vjp of ``sigmoid(x_t + h @ Wh + b)`` needs the activation's
    input; the backward scan reads it stacked by the forward scan instead of recomputing it
    (no per-step ``h @ Wh`` before or inside it, only ``dz @ Whᵀ``)."""
    from lazyarr.diff import grad

    from .test_loops import _bptt_np, _elman_params, elman_xp

    x, h0, Wx, Wh, b = _elman_params()

    def loss(W):
        _, hs = elman_xp(xp.asarray(x), xp.asarray(h0), xp.asarray(Wx), W, xp.asarray(b))
        return 0.5 * xp.sum(hs ** 2)

    g = grad(loss)(xp.asarray(Wh))
    fg, args = _fgraph(g)
    expected = link(fg, reference=True)(args)
    back = next(n for n in _scans(fg) if n.op.reverse)
    n_before = len(_body_nodes(back, MatMul))
    assert R.reuse_forward_values(fg) == 1
    back = next(n for n in _scans(fg) if n.op.reverse)
    # x_t @ Wx and h @ Wh are read from the forward loop, not redone
    assert len(_body_nodes(back, MatMul)) == n_before - 2
    np.testing.assert_allclose(link(fg)(args)[0], expected[0], rtol=1e-12)
    assert R.reuse_forward_values(fg) == 0  # nothing left to reuse
    R.optimize_loops(fg)
    assert len(_scans(fg)) == 2  # the forward passes merged
    back = next(n for n in _scans(fg) if n.op.reverse)
    assert len(_body_nodes(back, MatMul)) == 1  # dz @ Wh^T (the outer products pushed out)
    w_in = next(v for v, a in zip(fg.inputs, args) if a.shape == Wh.shape and np.all(a == Wh))
    # h @ Wh is computed once per step in the forward loop, never again as H @ Wh outside
    assert not [n for n in fg.toposort() if isinstance(n.op, MatMul) and w_in in n.inputs]
    np.testing.assert_allclose(link(fg)(args)[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(expected[0], _bptt_np(x, h0, Wx, Wh, b), rtol=1e-9)


def test_pushout_of_a_sum_that_starts_at_zero_is_the_sum_alone():
    x = xp.asarray(RNG.standard_normal((5, 2)))

    def step(c, xt):
        h, acc = c
        h = xp.tanh(h + xp.sum(xt))
        return (h, acc + xp.reshape(h, (3, 1)) @ xp.reshape(xt, (1, 2))), h

    (h, outer), hs = xp.scan(step, (xp.asarray([0.1, 0.2, 0.3]), xp.zeros((3, 2))), x)
    fg, _ = _check(R.pushout_accumulators, outer, hs)
    (res,) = [v for v in fg.outputs if v.shape == (3, 2)]
    assert isinstance(res.owner.op, MatMul)  # H^T X, no "zeros + H^T X"
    np.testing.assert_allclose(np.asarray(outer), np.asarray(hs).T @ np.asarray(x))


def test_compiled_trace_keeps_fills_loop_bodies_lift_them():
    from lazyarr.array.ops.creation import Alloc
    from lazyarr.control import trace as T

    def f(a):
        return a + xp.zeros((2, 3))

    types, struct = [(np.dtype(np.float64), (2, 3))], ("tuple", (("leaf",),))
    once = T.trace(f, types, struct, hoist=True, what="compile")
    body = T.trace(f, types, struct, hoist=True, what="scan body")
    assert any(isinstance(n.op, Alloc) for n in once.graph.fgraph().toposort())
    assert not once.extras
    assert not any(isinstance(n.op, Alloc) for n in body.graph.fgraph().toposort())
    assert len(body.extras) == 1  # computed once, before the loop


def test_constant_matvec_transposes_once_before_the_loop():
    x = xp.asarray(RNG.standard_normal((6, 4)))
    Wh = xp.asarray(RNG.standard_normal((4, 4)) * 0.5)
    _, hs = xp.scan(lambda h, xt: (xp.tanh(xt + h @ Wh),) * 2, xp.zeros(4), x)
    fg, _ = _check(R.constant_matvec, hs)
    (node,) = _scans(fg)
    (m,) = _body_nodes(node, MatMul)
    assert len(m.inputs[0].shape) == 2 and m.inputs[0] in node.op.body.inputs  # Wh^T @ h
    outer = node.inputs[1 + node.op.n_carry + node.op.n_xs:]
    assert any(isinstance(getattr(v.owner, "op", None), Transpose) for v in outer)
    ref = np.zeros(4)
    for xt in np.asarray(x):
        ref = np.tanh(xt + ref @ np.asarray(Wh))
    np.testing.assert_allclose(np.asarray(hs)[-1], ref, rtol=1e-12)


def test_reuse_forward_values_stacks_nothing_bigger_than_a_step():
    x = xp.asarray(RNG.standard_normal((5, 4)))
    _, hs = xp.scan(lambda h, xt: (xp.tanh(h + xt),) * 2, xp.zeros(4), x)

    def back(c, ht):  # reads h_t h_tᵀ (4 x 4 per step): recomputed, not stacked
        outer = xp.reshape(ht, (4, 1)) @ xp.reshape(ht, (1, 4))
        return c + xp.sum(outer * c), c

    small = lambda c, ht: (c + xp.sum(ht) * c, c)  # noqa: E731  (a scalar per step)
    big, _ = xp.scan(back, xp.asarray(0.5), hs, reverse=True)
    fg, _ = _check(R.reuse_forward_values, big, fires=0)
    ok, _ = xp.scan(small, xp.asarray(0.5), hs, reverse=True)
    _check(R.reuse_forward_values, ok, fires=1)


def test_accumulators_of_complex_and_integer_terms():
    """A scan summing complex (or integer) terms from zeros: the pushout's test for a +0 start
    reads the sign of both parts of a complex zero (np.signbit takes no complex values), and
    the gradient's backward scan, which sums a closed-over complex array's cotangent, runs."""
    xs = (np.arange(12.0) + 1j).reshape(4, 3)
    acc, _ = xp.scan(lambda a, x: (a + x * 2.0, None), xp.zeros(3, dtype=xp.complex128), xs)
    np.testing.assert_array_equal(np.asarray(acc), (xs * 2).sum(0))
    ints = np.arange(12).reshape(4, 3)
    acc, _ = xp.scan(lambda a, x: (a + x, None), xp.zeros(3, dtype=xp.int64), ints)
    np.testing.assert_array_equal(np.asarray(acc), ints.sum(0))
    w = xp.asarray(np.array([1.0 + 2.0j, -0.5j, 3.0]))

    def loss(c0):
        c, _ = xp.scan(lambda c, x: (c * x + w, None), c0, xp.asarray(xs.real * 0.1))
        return xp.sum(xp.real(c * xp.conj(c)))

    c0 = np.array([0.3, -0.2, 0.1], dtype=np.complex128)
    g = np.asarray(xp.grad(loss)(c0))
    eps = 1e-7
    for i in range(3):  # the real part's derivative, by central differences
        e = np.zeros(3, complex)
        e[i] = eps
        fd = (float(loss(xp.asarray(c0 + e))) - float(loss(xp.asarray(c0 - e)))) / (2 * eps)
        assert abs(g[i].real - fd) < 1e-6


def test_pushout_keeps_a_running_sum_whose_stack_would_be_too_big(monkeypatch):
    """A counter over many steps (``c + 1``) is not turned into a stacked output summed after
    the loop: n steps of its term would take n times its memory (10**8 steps: 800 MB)."""
    monkeypatch.setattr(R, "PUSHOUT_MAX_BYTES", 1024)
    x = xp.asarray(RNG.standard_normal((6, 2)))
    (count, total), _ = xp.scan(lambda c, xt: ((c[0] + 1, c[1] + xt), None),
                                (xp.asarray(0), xp.zeros(2)), x, length=6)
    long_count, _ = xp.scan(lambda c, _: (c + 1, None), xp.asarray(0), length=500)
    fg, _ = _check(R.pushout_accumulators, count, total, long_count)
    short, long_ = sorted(_scans(fg), key=lambda n: n.op.length)
    assert short.op.n_carry == 0  # 6 steps of small terms: both sums after the loop
    assert long_.op.n_carry == 1  # 500 int64 terms (4,000 bytes) would pass 1,024: carried
    assert int(long_count) == 500 and int(count) == 6


def test_a_scan_of_no_steps_keeps_its_running_sum_start_exactly():
    """With no steps a running sum is its start, -0.0 included: pushed out it would be
    ``start + sum(empty)``, and -0.0 + 0.0 is +0.0."""
    start = np.array([-0.0, 1.5, -0.0])
    total, _ = xp.scan(lambda c, xt: (c + xt, None), xp.asarray(start),
                       xp.asarray(np.zeros((0, 3))))
    assert _scans(_fgraph(total)[0])[0].op.length == 0
    got = np.asarray(total)
    np.testing.assert_array_equal(got, start)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(start))
