"""scan, fori_loop and while_loop against NumPy references."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.control import ops as control_ops
from lazyarr.control.trace import count_nodes


def test_cumsum_forward_and_reverse():
    x = np.random.default_rng(0).standard_normal(7)
    c, ys = xp.scan(lambda c, v: (c + v, c + v), xp.asarray(0.0), xp.asarray(x))
    np.testing.assert_allclose(np.asarray(ys), np.cumsum(x))
    np.testing.assert_allclose(float(c), x.sum())
    c, ys = xp.scan(lambda c, v: (c + v, c + v), xp.asarray(0.0), xp.asarray(x), reverse=True)
    np.testing.assert_allclose(np.asarray(ys), np.cumsum(x[::-1])[::-1])


def test_cumsum_of_rows_with_pytrees():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5,))

    def f(c, x):
        s = {"rows": c["rows"] + x[0], "n": c["n"] + 1}
        return s, (s["rows"] * x[1], None)

    init = {"rows": xp.zeros(3), "n": xp.asarray(0)}
    c, (ys, none) = xp.scan(f, init, (xp.asarray(a), xp.asarray(b)))
    assert none is None
    np.testing.assert_allclose(np.asarray(c["rows"]), a.sum(0))
    assert int(c["n"]) == 5
    np.testing.assert_allclose(np.asarray(ys), np.cumsum(a, 0) * b[:, None])


def test_length_without_xs_and_lazy_length():
    c, ys = xp.scan(lambda c, _: (c * 2.0, c), xp.asarray(1.0), length=4)
    np.testing.assert_allclose(np.asarray(ys), [1, 2, 4, 8])
    n = xp.asarray(3) + 2  # a lazy length: known only when the graph runs
    c, ys = xp.scan(lambda c, _: (c * 2.0, c), xp.asarray(1.0), length=n)
    assert float(c) == 32.0
    np.testing.assert_allclose(np.asarray(ys), [1, 2, 4, 8, 16])


def test_an_array_length_shorter_than_the_sequences_whether_pending_or_not():
    """An array length may walk a prefix of the sequences (a Python int must match them):
    the same whether the array is pending, was read already, or holds data from the
    start; longer than the sequences is an error at once when both are known."""
    xs = np.arange(12.0).reshape(6, 2)

    def body(c, x):
        return c + x, c

    want = xs[:4].sum(0)
    n = xp.asarray(np.int64(4)) + 0
    np.testing.assert_array_equal(np.asarray(xp.scan(body, xp.zeros(2), xs, length=n)[0]), want)
    assert int(n) == 4  # now realized
    for length in (n, xp.asarray(np.int64(4)), xp.asarray(np.int32(4))):
        c, ys = xp.scan(body, xp.zeros(2), xs, length=length)
        np.testing.assert_array_equal(np.asarray(c), want)
        assert np.asarray(ys).shape == (4, 2)
    with pytest.raises(ValueError, match="length"):
        xp.scan(body, xp.zeros(2), xs, length=4)
    with pytest.raises(ValueError, match="length"):
        xp.scan(body, xp.zeros(2), xs, length=xp.asarray(np.int64(7)))


def test_fori_loop_static_and_lazy_bounds():
    f = xp.fori_loop(1, 6, lambda i, v: v + i * i, xp.asarray(0))
    assert int(f) == sum(i * i for i in range(1, 6))
    up = xp.asarray(np.int64(4)) * 2
    f = xp.fori_loop(2, up, lambda i, v: v * 1.5 + xp.astype(i, xp.float64), xp.asarray(1.0))
    ref = 1.0
    for i in range(2, 8):
        ref = ref * 1.5 + i
    assert float(f) == pytest.approx(ref)
    empty = xp.fori_loop(5, xp.asarray(2), lambda i, v: v + 1.0, xp.asarray(0.5))
    assert float(empty) == 0.5


def _elman_np(x, h0, Wx, Wh, b):
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = 1 / (1 + np.exp(-(x[t] @ Wx + h @ Wh + b)))
        hs.append(h)
    return h, np.stack(hs)


def _elman_params(T=6, I=4, H=5, seed=2):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, I)), rng.standard_normal(H) * 0.1,
            rng.standard_normal((I, H)) * 0.5, rng.standard_normal((H, H)) * 0.5,
            rng.standard_normal(H) * 0.1)


def elman_xp(x, h0, Wx, Wh, b):
    def step(h, xt):
        h = 1 / (1 + xp.exp(-(xt @ Wx + h @ Wh + b)))
        return h, h
    return xp.scan(step, h0, x)


def test_elman_rnn_forward():
    args = _elman_params()
    h, hs = elman_xp(*map(xp.asarray, args))
    h_ref, hs_ref = _elman_np(*args)
    np.testing.assert_allclose(np.asarray(hs), hs_ref, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(h), h_ref, rtol=1e-12)


def _loss_np(x, h0, Wx, Wh, b):
    _, hs = _elman_np(x, h0, Wx, Wh, b)
    return 0.5 * np.sum(hs ** 2)


def _bptt_np(x, h0, Wx, Wh, b):
    """Hand-derived gradient of 0.5 * sum(h_t^2) w.r.t. Wh."""
    _, hs = _elman_np(x, h0, Wx, Wh, b)
    prev = np.vstack([h0[None], hs[:-1]])
    dWh, dnext = np.zeros_like(Wh), np.zeros_like(h0)
    for t in reversed(range(x.shape[0])):
        dh = hs[t] + dnext
        dz = dh * hs[t] * (1 - hs[t])
        dWh += np.outer(prev[t], dz)
        dnext = dz @ Wh.T
    return dWh


def test_elman_bptt_as_a_reverse_scan_matches_hand_derived_and_finite_differences():
    args = _elman_params()
    x, h0, Wx, Wh, b = map(xp.asarray, args)
    _, hs = elman_xp(x, h0, Wx, Wh, b)
    prev = xp.concat([h0[None], hs[:-1]])

    def back(dnext, seq):
        h, hp = seq
        dz = (h + dnext) * h * (1 - h)
        return dz @ xp.matrix_transpose(Wh), xp.linalg.outer(hp, dz)

    _, dWs = xp.scan(back, xp.zeros_like(h0), (hs, prev), reverse=True)
    got = np.asarray(xp.sum(dWs, axis=0))
    np.testing.assert_allclose(got, _bptt_np(*args), rtol=1e-10)
    # finite differences on a few entries
    eps = 1e-6
    Whn = args[3]
    for i, j in [(0, 0), (1, 3), (4, 2)]:
        p, m = Whn.copy(), Whn.copy()
        p[i, j] += eps
        m[i, j] -= eps
        fd = (_loss_np(args[0], args[1], args[2], p, args[4])
              - _loss_np(args[0], args[1], args[2], m, args[4])) / (2 * eps)
        assert got[i, j] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_while_loop_newton_to_tolerance():
    a = np.array([2.0, 9.0, 0.25])

    def cond_fn(c):
        x, _ = c
        return xp.max(xp.abs(x * x - a)) > 1e-12

    def body_fn(c):
        x, k = c
        return x - (x * x - a) / (2 * x), k + 1

    before = control_ops.counters["while_steps"]
    x, k = xp.while_loop(cond_fn, body_fn, (xp.ones(3), xp.asarray(0)))
    np.testing.assert_allclose(np.asarray(x), np.sqrt(a), rtol=1e-12)
    steps = int(k)
    assert control_ops.counters["while_steps"] - before == steps
    # the same number of Newton steps in NumPy
    xn, kn = np.ones(3), 0
    while np.max(np.abs(xn * xn - a)) > 1e-12:
        xn, kn = xn - (xn * xn - a) / (2 * xn), kn + 1
    assert steps == kn


def test_while_loop_zero_steps():
    r = xp.while_loop(lambda v: v > 10.0, lambda v: v * 0.5, xp.asarray(3.0))
    assert float(r) == 3.0


_ENDLESS_LOOPS = {
    "while_loop": """
import lazyarr as xp
lim = xp.asarray(3)
int(xp.while_loop(lambda v: v < lim, lambda v: v + 1, xp.asarray(0)))  # compiles outside the wait
print("looping", flush=True)
int(xp.while_loop(lambda v: v >= 0, lambda v: v + 1, xp.asarray(0)))
""",
    "scan": """
import lazyarr as xp
c, _ = xp.scan(lambda c, _: (xp.sin(c) + 1.0, None), xp.asarray(0.0), length=10**15)
print("looping", flush=True)
float(c)
""",
}


@pytest.mark.parametrize("loop", sorted(_ENDLESS_LOOPS))
def test_ctrl_c_interrupts_an_endless_loop(loop):
    p = subprocess.Popen([sys.executable, "-c", _ENDLESS_LOOPS[loop]], env=dict(os.environ),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "looping"
        time.sleep(0.5)  # well inside the loop
        p.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = p.communicate(timeout=2.0)
    finally:
        p.kill()
    assert time.monotonic() - sent < 1.0
    assert "KeyboardInterrupt" in err


def test_captured_outer_values_and_nesting():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((3, 3)) * 0.3
    Wl = xp.asarray(W) * 1.0  # a pending outer node the body closes over

    def inner(c, _):
        return c @ Wl, None

    def outer(c, _):
        c2, _ = xp.scan(inner, c, length=2)
        return c2 + 1.0, xp.sum(c2)

    c, ys = xp.scan(outer, xp.ones(3), length=3)
    ref, refs = np.ones(3), []
    for _ in range(3):
        r2 = ref @ W @ W
        refs.append(r2.sum())
        ref = r2 + 1.0
    np.testing.assert_allclose(np.asarray(c), ref)
    np.testing.assert_allclose(np.asarray(ys), refs)


def test_loop_invariant_work_is_hoisted_out_of_the_body():
    rng = np.random.default_rng(4)
    A = xp.asarray(rng.standard_normal((4, 4)))

    def body(c, _):
        M = xp.exp(A @ xp.matrix_transpose(A)) / 10.0  # invariant: no carry, no x
        return xp.tanh(c @ M), None

    c, _ = xp.scan(body, xp.ones(4), length=5)
    node = c._v.owner
    assert count_nodes(node.op.body) == 2  # matmul and tanh; the invariant part ran outside
    An = np.asarray(A)
    M = np.exp(An @ An.T) / 10.0
    ref = np.ones(4)
    for _ in range(5):
        ref = np.tanh(ref @ M)
    np.testing.assert_allclose(np.asarray(c), ref, rtol=1e-12)


def test_same_loop_compiles_once():
    def run(v):
        c, ys = xp.scan(lambda c, x: (c * x, c), xp.asarray(1.0), xp.asarray(v))
        return float(c)

    run(np.arange(1.0, 5.0))
    misses = xp.trace_cache_info()["misses"]
    assert run(np.arange(2.0, 6.0)) == 2 * 3 * 4 * 5
    assert xp.trace_cache_info()["misses"] == misses


def test_scan_errors_name_the_user_line():
    with pytest.raises(TypeError, match=r"test_loops\.py"):
        xp.scan(lambda c, x: (xp.astype(c, xp.float32), x), xp.asarray(0.0), xp.ones(3))
    with pytest.raises(ValueError, match=r"shape"):
        xp.scan(lambda c, x: (xp.stack([c, c]), x), xp.asarray(0.0), xp.ones(3))
    with pytest.raises(TypeError, match=r"structure|returns"):
        xp.scan(lambda c, x: ((c, c), x), xp.asarray(0.0), xp.ones(3))
    with pytest.raises(ValueError, match=r"different lengths"):
        xp.scan(lambda c, x: (c, c), xp.asarray(0.0), (xp.ones(3), xp.ones(4)))
    with pytest.raises(TypeError, match=r"test_loops\.py"):
        xp.while_loop(lambda v: xp.ones(2) > 0, lambda v: v, xp.asarray(0.0))


def test_pytree_round_trip_keeps_no_reference_cycle_on_its_leaves():
    """Leaves held by a cycle stay alive until the collector runs; a live pending array is
    written back by every materialization, which changes the program's key (a cache miss)."""
    import gc
    import weakref

    from lazyarr.graph.pytree import flatten, unflatten

    class Leaf:
        pass

    gc.disable()
    try:
        leaf = Leaf()
        ref = weakref.ref(leaf)
        leaves, struct = flatten({"a": (leaf, [None])})
        assert unflatten(struct, leaves)["a"][0] is leaf
        del leaf, leaves
        assert ref() is None
    finally:
        gc.enable()


def test_per_step_output_whose_size_is_known_only_at_run_time():
    x = np.random.default_rng(4).standard_normal((4, 3))
    _, ys = xp.scan(lambda c, xt: (c, xt[xt == xt] * 2.0), xp.asarray(0.0), xp.asarray(x))
    assert ys._v.shape == (4, None)
    np.testing.assert_allclose(np.asarray(ys), 2.0 * x)


def test_fori_loop_with_small_integer_bounds_counts_in_int64():
    """up - lo in the bounds' own dtype wraps (uint8 5 -> 2 is 253 steps, int8 -100 -> 100 is
    -56): the trip count is taken in int64."""
    body = lambda i, v: v + 1  # noqa: E731
    for lo, hi, dt in [(5, 2, xp.uint8), (-100, 100, xp.int8), (0, 200, xp.uint8)]:
        r = xp.fori_loop(xp.asarray(lo, dtype=dt), xp.asarray(hi, dtype=dt), body,
                         xp.asarray(0))
        assert int(r) == len(range(lo, hi))
    with pytest.raises(TypeError, match="integers"):
        xp.fori_loop(xp.asarray(0.0), 3, body, xp.asarray(0))


@pytest.mark.parametrize("dt", [xp.int8, xp.uint8, xp.int32, xp.uint32, xp.float32])
def test_a_sum_accumulator_of_a_narrow_dtype_keeps_it(dt):
    """acc = acc + x_t is pushed out of the loop as one sum, taken in the carry's dtype (the
    loop's own arithmetic, wrapping included)."""
    x = np.arange(5)
    acc, _ = xp.scan(lambda c, v: (c + v, None), xp.asarray(1, dtype=dt), xp.asarray(x, dtype=dt))
    assert acc.dtype == dt
    assert int(acc) == 11


def test_steps_whose_outputs_differ_in_size_are_refused():
    """A mask's result per step (3, 1 and 3 elements) cannot be stacked: a ValueError, not a
    size-1 row broadcast into the stack."""
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 5.0, -2.0], [7.0, 8.0, 9.0]])
    for rows in (x, x[[1, 0, 2]]):
        _, ys = xp.scan(lambda c, r: (c + 1.0, r[r > 0]), xp.asarray(0.0), xp.asarray(rows))
        with pytest.raises(ValueError, match="one shape"):
            np.asarray(ys)


def test_fori_loop_names_a_state_dtype_changed_by_the_int64_index():
    """v + i with an int32 state makes it int64 (i is int64): the error was scan's "output 1
    has dtype int32 in init but int64 in f's new carry"; it now names fori_loop, the leaf of
    val and the index's dtype. Casting i works."""
    with pytest.raises(TypeError, match=r"fori_loop: body\(i, val\) changed the dtype of "
                                        r"val's leaf 0 from int32 to int64"):
        xp.fori_loop(0, 3, lambda i, v: v + i, xp.asarray(np.int32(0)))
    with pytest.raises(TypeError, match="from float32 to float64; it must keep val's dtypes"):
        xp.fori_loop(0, 3, lambda i, v: v * xp.asarray(2.0), xp.asarray(np.float32(1.0)))
    out = xp.fori_loop(0, 4, lambda i, v: v + xp.astype(i, xp.int32), xp.asarray(np.int32(1)))
    assert out.dtype == xp.int32 and int(out) == 7


def test_scan_refuses_a_negative_length():
    """length=-2 ran no step, silently (as range(-2) would); it is a ValueError now."""
    with pytest.raises(ValueError, match="length must be >= 0, got -2"):
        xp.scan(lambda c, _: (c + 1.0, None), xp.asarray(0.0), None, length=-2)
    with pytest.raises(ValueError, match="length must be >= 0"):
        xp.scan(lambda c, _: (c + 1.0, None), xp.asarray(0.0), None, length=np.int64(-1))


def test_scan_body_may_return_a_namedtuple_pair():
    """f may return its (carry, y) pair as a namedtuple of two fields (JAX unpacks any pair);
    it was refused as "f must return a pair"."""
    from collections import namedtuple

    Pair = namedtuple("Pair", "carry y")
    c, ys = xp.scan(lambda c, x: Pair(c + x, c * x), xp.asarray(0.0),
                    xp.asarray([1.0, 2.0, 3.0]))
    assert float(c) == 6.0
    np.testing.assert_array_equal(np.asarray(ys), [0.0, 2.0, 9.0])


def test_work_that_may_raise_is_not_lifted_out_of_a_loop_that_does_not_need_it():
    """``inv`` of a singular matrix inside a loop body that runs no step, or read only by a
    branch never taken, raised: the body's loop-invariant work was lifted before the loop
    and ran whatever the loop did. Work that may raise now stays in the body; work that
    cannot raise is still lifted."""
    s = xp.asarray([[1.0, 2.0], [2.0, 4.0]])  # singular
    z = xp.zeros((2, 2))
    np.testing.assert_array_equal(
        np.asarray(xp.scan(lambda c, _: (c + xp.linalg.inv(s), None), z, None, length=0)[0]), 0)
    np.testing.assert_array_equal(
        np.asarray(xp.fori_loop(5, 3, lambda i, c: c + xp.linalg.inv(s), z)), 0)
    _, w = xp.while_loop(lambda c: c[0] < 0, lambda c: (c[0] + 1, c[1] + xp.linalg.inv(s)),
                         (xp.asarray(0), z))
    np.testing.assert_array_equal(np.asarray(w), 0)

    def body(c, x):
        big = xp.linalg.inv(s)
        return xp.cond(x > 100, lambda a: a + big[0, 0], lambda a: a, c), None

    assert float(xp.scan(body, xp.asarray(0.0), xp.arange(6.0))[0]) == 0.0
    a = xp.asarray([[2.0, 0.0], [0.0, 4.0]])  # an invertible one still computes
    got = xp.scan(lambda c, x: (c + xp.linalg.inv(a) * x, None), z, xp.arange(3.0))[0]
    np.testing.assert_allclose(np.asarray(got), np.linalg.inv(np.asarray(a)) * 3.0)


def test_fori_loop_names_its_own_structure_error():
    """A body returning another structure than val's was reported as scan's, with the
    hidden (i, val) carry: "scan: init returns (*, *) but f's new carry returns ..."."""
    x = xp.ones(2)
    with pytest.raises(TypeError, match=r"fori_loop: body\(i, val\) must return val's "
                                        r"structure \*, got \(\*, \*\)"):
        xp.fori_loop(0, 3, lambda i, v: (v, v), x)
    with pytest.raises(TypeError, match="fori_loop"):
        xp.fori_loop(0, 3, lambda i, v: {"a": v["a"], "b": v["a"]}, {"a": x})


def test_a_loop_known_to_run_lifts_its_invariant_work_that_may_raise():
    """59548a2 kept work that may raise (a gather, inv, cond) in the body of every loop:
    a scan of static length computed inv(A) at each of its 200 steps (23x slower). A loop
    known to run a step lifts it again, unless only a cond reads it."""
    a = xp.asarray(np.eye(4) * 2.0)
    e = xp.asarray(np.arange(40.0).reshape(10, 4))
    idx = xp.asarray(np.array([1, 3, 5, 7]))

    def body(h, x):
        return h @ xp.linalg.inv(a) + xp.sum(e[idx]) * 0 + x, None

    xs = xp.ones((5, 4))
    _, _ = xp.scan(body, xp.zeros(4), xs)
    out, _ = xp.scan(body, xp.zeros(4), xs)
    node = out._v.owner
    assert isinstance(node.op, control_ops.Scan)
    inner = node.op.inner_graphs[0].fgraph().toposort()
    assert not any(type(n.op).__name__ in ("Linalg", "GetItem") for n in inner), inner
    want = np.zeros(4)
    for _ in range(5):
        want = want @ np.linalg.inv(np.eye(4) * 2.0) + 1.0
    np.testing.assert_allclose(np.asarray(out), want)


def test_invariant_work_needed_only_by_a_cond_branch_through_other_ops_stays():
    """``inv(a) * 2`` read only by a branch never taken: bfa656e looked at inv's direct
    reader (``* 2``, not a cond) and lifted it out of the scan, which then raised."""
    a = xp.zeros((2, 2))  # singular

    for needed in (lambda: xp.linalg.inv(a) * 2.0, lambda: xp.sum(xp.linalg.inv(a), axis=0)):
        def body(h, x, needed=needed):
            n = needed()
            return xp.cond(xp.sum(h) > 100.0, lambda: h + xp.sum(n), lambda: h + x), None

        out, _ = xp.scan(body, xp.zeros(2), xp.ones((3, 2)))
        np.testing.assert_array_equal(np.asarray(out), [3.0, 3.0])


def _deep_chain(x, n=40):
    """``n`` steps of ``sin(x) * 1.01`` (a pending chain deeper than a bound of 8)."""
    for _ in range(n):
        x = xp.sin(x) * 1.01
    return x


def _deep_chain_np(x, n=40):
    for _ in range(n):
        x = np.sin(x) * 1.01
    return x


def test_loop_bodies_deeper_than_the_pending_depth_bound(monkeypatch):
    """A body whose chain is deeper than ``MAX_PENDING_DEPTH`` is traced whole: realizing it
    under the bound would need the value of a traced input (ConcretizationError)."""
    from lazyarr.array import coerce

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 8)
    x0 = np.array([0.3, -1.2, 2.0])
    c, ys = xp.scan(lambda c, x: (_deep_chain(c) + x, _deep_chain(c)), xp.asarray(x0),
                    xp.ones(2))
    want_y0 = _deep_chain_np(x0)
    want_c1 = want_y0 + 1.0
    np.testing.assert_allclose(np.asarray(ys), [want_y0, _deep_chain_np(want_c1)], rtol=1e-13)
    np.testing.assert_allclose(np.asarray(c), _deep_chain_np(want_c1) + 1.0, rtol=1e-13)
    k, w = xp.while_loop(lambda s: s[0] < 2, lambda s: (s[0] + 1, _deep_chain(s[1])),
                         (xp.asarray(0), xp.asarray(x0)))
    assert int(k) == 2
    np.testing.assert_allclose(np.asarray(w), _deep_chain_np(_deep_chain_np(x0)), rtol=1e-13)
    z = xp.asarray(np.zeros(3))
    for _ in range(30):  # the bound is back once the bodies are traced
        z = z + 1.0
        assert z._v.depth <= 9


def _body_programs(f, *args):
    """``(plain, donating)`` body programs of the scan in compiled ``f``'s program."""
    op = next(t.node.op for t in f.program(*args).vm.thunks
              if type(t.node.op).__name__ == "Scan")
    progs = op._programs
    plain = next(p for k, p in progs.items() if not isinstance(k, tuple))
    donating = [p for k, p in progs.items() if isinstance(k, tuple)]
    return plain, donating


def test_a_row_fill_of_a_carry_writes_into_the_loops_own_buffer():
    """``c[i] = f(c[i-1])`` on a fori_loop carry copied the whole carry every step (171 us a
    step for 10000 rows): from step 1 the body runs with its carry donated (the previous step's
    output, which the loop alone holds), and the update writes one row in place."""
    def body(i, c):
        c[i] = c[i - 1] * 0.5 + 1.0
        return c

    for n in (2, 3, 50):
        f = xp.compile(lambda c, n=n: xp.fori_loop(1, n, body, c))
        c0 = np.arange(n * 4.0).reshape(n, 4)
        arg = c0.copy()
        want = c0.copy()
        for i in range(1, n):
            want[i] = want[i - 1] * 0.5 + 1.0
        for _ in range(2):
            np.testing.assert_array_equal(np.asarray(f(arg)), want)
            np.testing.assert_array_equal(arg, c0)  # the initial value is the caller's
    plain, donating = _body_programs(f, arg)
    kinds = [t.fn.__name__ for p in (plain, *donating) for t in p.thunks
             if type(t.node.op).__name__ == "SetItem"]
    assert kinds == ["perform", "perform_into"]


@pytest.mark.parametrize("stack_c", [False, True])
def test_a_donated_carry_read_after_its_update_or_stacked_keeps_its_values(stack_c):
    """The old carry read after the update, a carry also stacked as an output, and a carry
    passed through keep their values."""
    def step(ns, c, d, k):
        old = c * 1.0  # the old value, read after the update
        c[k % 4] = c[(k + 1) % 4] + 1.0
        d = d + ns.sum(old)
        return c, d

    def f(c, d, e):
        def body(carry, k):
            c, d, e = carry
            c, d = step(xp, c, d, k)
            return (c, d, e), (c if stack_c else c[0] * 1.0, e)
        return xp.scan(body, (c, d, e), xp.arange(7))

    c0, d0, e0 = np.arange(12.0).reshape(4, 3), np.zeros(3), np.ones((2, 2))
    (c, d, e), (cs, es) = xp.compile(f)(c0, d0, e0)
    wc, wd, wcs = c0.copy(), d0.copy(), []
    for k in range(7):
        wc, wd = step(np, wc.copy(), wd, k)
        wcs.append(wc.copy() if stack_c else wc[0].copy())
    np.testing.assert_array_equal(np.asarray(c), wc)
    np.testing.assert_array_equal(np.asarray(d), wd)
    np.testing.assert_array_equal(np.asarray(cs), np.stack(wcs))
    np.testing.assert_array_equal(np.asarray(es), np.broadcast_to(e0, (7, 2, 2)))
    np.testing.assert_array_equal(np.asarray(e), e0)


def test_two_carries_given_one_updated_array_stay_equal():
    """Both carries are the same array after a step: neither may be written as donated."""
    def body(i, carry):
        c, d = carry
        c[i % 3] = d[(i + 1) % 3] + c[i % 3] * 2.0
        return c, c

    f = xp.compile(lambda c, d: xp.fori_loop(0, 6, body, (c, d)))
    c0, d0 = np.arange(6.0).reshape(3, 2), -np.arange(6.0).reshape(3, 2)
    c, d = f(c0, d0)
    wc, wd = c0.copy(), d0.copy()
    for i in range(6):
        wc = wc.copy()
        wc[i % 3] = wd[(i + 1) % 3] + wc[i % 3] * 2.0
        wd = wc
    np.testing.assert_array_equal(np.asarray(c), wc)
    np.testing.assert_array_equal(np.asarray(d), wc)


def test_a_loop_of_no_step_runs_no_op_reading_a_run_time_size():
    """``max`` of a realized empty selection (a run-time size) has a static output: it was not
    counted as work that may raise, so it was lifted out of the body and a loop of no step
    raised. A loop of no step runs none of its raising work."""
    x = xp.asarray(np.arange(5.0))
    m = x[x > 100]
    np.asarray(m)  # realized: its size is known only at run time in the IR

    def body(h, _):
        return h + xp.max(m), None

    out, _ = xp.scan(body, xp.zeros(()), None, length=xp.asarray(0))
    assert float(out) == 0.0
    out = xp.while_loop(lambda c: c > 1.0, lambda c: c + xp.max(m), xp.zeros(()))
    assert float(out) == 0.0
