"""The cut's walk (`graph._walk`): `cut_key` agrees with `cut`, the bytes key tells apart what
the structure tells apart, `meets_last_cut` finds the pending arrays that read the latest cut,
and a held duplicate of a merged node is written back. Values are checked against NumPy."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from lazyarr.graph._walk import cut_key, meets_last_cut, walk

import lazyarr as xp
from lazyarr.array.coerce import as_var, build_many, wrap
from lazyarr.graph import Op, Var, cut


def _leaf(x):
    return xp.asarray(np.asarray(x))


def _graphs():
    a, b = _leaf(np.arange(3.0)), _leaf(np.ones(3))
    s = a * 2.0
    yield [xp.exp(s) - s + b]                                     # sharing, constants
    yield [xp.sin(a), xp.sin(a) * b, a]                           # a duplicate; a leaf output
    yield [xp.sum(a * b), xp.astype(a, xp.int8) + 3]              # reduction, cast, int const
    yield [xp.asarray(np.arange(5, dtype=np.int8)) * 2]           # a 5-byte constant leaf
    t = wrap(Var.input(np.float32, (None, 2)))
    yield [t * 2.0 + 1.0]                                         # a run-time size


@pytest.mark.parametrize("i", range(5))
def test_cut_key_is_the_key_and_the_leaves_of_cut(i):
    arrays = list(_graphs())[i]
    outs = [as_var(x) for x in arrays]
    leaves, steps, refs, key = cut(outs)
    leaves2, key2, nodes = cut_key(outs)
    assert isinstance(key, bytes) and key2 == key
    assert leaves2 == leaves
    assert nodes == [node for node, _r, _f in steps]
    assert len(refs) == len(outs)


def test_run_time_sizes_key_as_their_own_size():
    def k(x):
        return cut([as_var(x)])[3]

    t1 = wrap(Var.input(np.float64, (None,)))
    assert k(t1 + 1.0) != k(wrap(Var.input(np.float64, (3,))) + 1.0)
    assert k(t1 + 1.0) == k(wrap(Var.input(np.float64, (None,))) + 1.0)


def test_constant_bytes_are_part_of_the_key():
    def k(c):
        cv = xp.asarray(np.asarray(c, np.int8))
        cv._v.const = True
        return cut([as_var(cv * 2)])[3]

    assert k([1, 2, 3]) != k([1, 2, 4])       # differ in the last byte of a padded word
    assert k([1, 2, 3]) == k([1, 2, 3])
    assert k([]) != k([0])


def test_meets_last_cut_finds_readers_of_the_cut_only():
    a = _leaf(np.arange(4.0))
    b = _leaf(np.ones(4))
    m = a * b
    loss = xp.sum(m)
    reader = a - 0.1 * m                      # reads a node of the cut
    unrelated = b + 1.0                       # shares only a leaf
    t = wrap(Var.input(np.float64, (4,)))
    symbolic = m + t                          # over a symbolic input
    cut_key([as_var(loss)])
    got = meets_last_cut([as_var(reader), as_var(unrelated), as_var(symbolic), as_var(loss)],
                         1000)
    assert got == [as_var(reader)]
    cut_key([as_var(loss)])
    assert meets_last_cut([as_var(reader)], 0) == []           # budget spent: left pending


def _meets_oracle(v, cut_vars, memo):
    """Recursive definition: "meets" (reads a value of the cut), "miss" or "symbolic"."""
    if v.owner is None:
        return "symbolic" if v.data is None else "miss"
    if v in cut_vars:
        return "meets"
    if v not in memo:
        got = [_meets_oracle(u, cut_vars, memo) for u in v.owner.inputs]
        memo[v] = ("symbolic" if "symbolic" in got else "meets" if "meets" in got else "miss")
    return memo[v]


@pytest.mark.parametrize("seed", range(4))
def test_meets_last_cut_agrees_with_its_recursive_definition(seed):
    """Random DAGs (shared sub-graphs, chains deeper than the walk's first stack, a symbolic
    input): the readers of the latest cut are those the recursive definition names, also on
    a second call over the same graph (answers remembered by one call are not the next's)."""
    rng = np.random.default_rng(seed)
    pool = [_leaf(rng.standard_normal(3)) for _ in range(3)]
    pool.append(wrap(Var.input(np.float64, (3,))))
    for _ in range(150):
        i, j = rng.integers(len(pool), size=2)
        k = int(rng.integers(max(0, len(pool) - 8), len(pool)))  # long chains too
        pool.append(pool[i] * pool[k] if rng.random() < 0.5 else pool[j] + pool[k])
    nodes = [x for x in pool[4:]]
    for _ in range(2):
        asked = [as_var(nodes[int(t)]) for t in rng.integers(len(nodes), size=3)]
        asked = [v for v in asked if _meets_oracle(v, set(), {}) != "symbolic"]
        _leaves, _key, applies = cut_key(asked)
        cut_vars = {o for ap in applies for o in ap.outputs}
        candidates = [as_var(x) for x in nodes[::-1]]
        memo: dict = {}
        want = [v for v in dict.fromkeys(candidates) if v not in cut_vars
                and _meets_oracle(v, cut_vars, memo) == "meets"]
        assert meets_last_cut(candidates, 10**6) == want


def test_eager_step_writes_back_readers_and_held_duplicates():
    an = np.linspace(-1.0, 1.0, 6)
    a = _leaf(an)
    d1 = xp.exp(a)
    d2 = xp.exp(a)                            # merged with d1 by the cut, held by the user
    loss = xp.sum(d1) + xp.sum(d2)
    new = a - 0.5 * d1
    assert float(loss) == pytest.approx(2 * np.exp(an).sum())
    assert d2._v.owner is None and new._v.owner is None and d1._v.owner is None
    np.testing.assert_allclose(np.asarray(d2), np.exp(an))
    np.testing.assert_allclose(np.asarray(new), an - 0.5 * np.exp(an))


class _Halves(Op):
    """Two outputs: the array times 0.5 and times 2."""

    nout = 2

    def infer(self, x):
        return [(x.dtype, x.shape), (x.dtype, x.shape)]

    def perform(self, x):
        return x * 0.5, x * 2.0


def test_multi_output_nodes_number_every_output():
    xn = np.array([1.0, 2.0, 3.0])
    p, q = build_many(_Halves(), as_var(_leaf(xn)))
    leaves, steps, refs, key = cut([q._v, p._v])
    assert cut_key([q._v, p._v])[1] == key
    assert len(steps) == 1 and refs[1] == refs[0] - 1
    r = q - p
    np.testing.assert_allclose(np.asarray(r), 1.5 * xn)
    assert p._v.owner is None and q._v.owner is None           # held: written back too
    np.testing.assert_allclose(np.asarray(p), 0.5 * xn)


def _without_gc(fn):
    was = gc.isenabled()
    gc.disable()
    try:
        return fn()
    finally:
        if was:
            gc.enable()


def test_realization_frees_the_nodes_above_it_without_the_collector():
    def run():
        xn = np.linspace(0.0, 1.0, 8)
        z = _leaf(xn)
        inner = []
        for _ in range(5):
            z = xp.sin(z) + 1.0
            inner.append(weakref.ref(z._v.owner.inputs[0]))   # sin's output: pending
        total = xp.sum(z)
        assert float(total) == pytest.approx(_np_chain(xn).sum())
        return inner

    inner = _without_gc(run)
    assert all(r() is None for r in inner)


def _np_chain(xn):
    z = xn
    for _ in range(5):
        z = np.sin(z) + 1.0
    return z


def test_nodes_held_from_outside_the_cut_are_kept():
    def run():
        xn = np.linspace(0.0, 1.0, 8)
        x = _leaf(xn)
        s = xp.sin(x)
        t = s * 2.0
        u = xp.exp(t)
        held_node = u._v.owner                                 # e.g. a gradient tape
        beyond = wrap(Var.input(np.float64, (8,))) + t         # pending, over a symbolic input
        total = xp.sum(u)
        del s, t, u
        assert float(total) == pytest.approx(np.exp(2 * np.sin(xn)).sum())
        # the held apply and everything above it keep their inputs and outputs
        t_of_u = held_node.inputs[0]
        assert held_node.outputs[0].owner is held_node
        assert "sin" in repr(t_of_u.owner.inputs[0].owner.op)
        # so does a pending graph beyond the cut, through the value it reads
        t_var = beyond._v.owner.inputs[1]
        assert t_var.owner is not None and t_var.owner.inputs[0].owner is not None
        assert "sin" in repr(t_var.owner.inputs[0].owner.op)

    _without_gc(run)


def test_an_eager_sgd_step_frees_each_step_without_the_collector():
    def run():
        rng = np.random.default_rng(0)
        wn = rng.standard_normal((4, 3))
        xn = rng.standard_normal((5, 4))
        w = _leaf(wn)
        x = _leaf(xn)
        vg = xp.value_and_grad(lambda w: xp.sum(xp.tanh(x @ w) ** 2))

        def step(w):  # the eager training step: the loss is read, the new weights shared
            loss, g = vg(w)
            w = w - 0.1 * g
            float(loss)
            return w

        for _ in range(3):  # the first steps compile and fill the caches
            w = step(w)
        gc.collect()
        before = len(gc.get_objects())
        for _ in range(20):
            w = step(w)
        grown = len(gc.get_objects()) - before
        ref = wn
        for _ in range(23):
            h = np.tanh(xn @ ref)
            ref = ref - 0.1 * (xn.T @ (2 * h * (1 - h * h)))
        np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-10)
        return grown

    assert _without_gc(run) < 100


def test_extending_a_walk_gives_the_key_of_one_walk_of_everything():
    a = _leaf(np.arange(4.0))
    b = _leaf(np.ones(4))
    m = a * b                                 # held, met by the walk: an extra
    loss = xp.sum(xp.exp(m))
    new_a = a - 0.1 * xp.cos(m)               # reads the cut, beyond it
    extras: list = []
    wk = walk([loss._v], extras)
    assert extras == [m._v]
    assert wk.extend([new_a._v])
    extras2: list = []
    leaves, key, nodes = cut_key([loss._v, new_a._v], extras2)
    assert wk.key() == key and wk.leaves == leaves and wk.nodes == nodes
    assert extras == extras2
    cut_key([loss._v])                        # another walk since: extending is refused
    assert not wk.extend([new_a._v])


def test_a_walk_after_a_large_one_keys_as_before(monkeypatch):
    """A walk reuses the buffers of the last one freed: after a graph that grew them (deep
    stack, large merge table, long key), a small graph keys exactly as it did before."""
    from lazyarr.array import coerce

    monkeypatch.setattr(coerce, "MAX_PENDING_DEPTH", 1 << 20)  # the chain stays pending
    def small():
        a = _leaf(np.arange(3.0))
        return cut_key([as_var(xp.sin(a) * 2.0 + xp.sin(a))])[1]

    before = small()
    z = _leaf(np.ones(2))
    for i in range(200):                       # grows the stack, table and key buffers
        z = z * float(i % 7) + z
    big = cut_key([as_var(z)])
    assert len(big[2]) == 400 and len(big[1]) > 8 * 1024
    assert small() == before


def test_small_constants_key_by_value_and_large_ones_by_type():
    from lazyarr.array.coerce import const

    a = _leaf(np.arange(17.0))

    def k(c):
        return cut_key([as_var(a * wrap(c))])[1]

    two = const(2.0, np.dtype(np.float64))
    assert k(two) == k(two) == k(Var.leaf(np.full((), 2.0), const=True))
    assert k(two) != k(const(3.0, np.dtype(np.float64)))
    big1 = Var.leaf(np.zeros(17), const=True)
    big2 = Var.leaf(np.ones(17), const=True)
    assert k(big1) == k(big2)                  # > 16 elements: an input of the program
    np.testing.assert_array_equal(np.asarray(a * wrap(big1)), np.zeros(17))
    np.testing.assert_array_equal(np.asarray(a * wrap(big2)), np.arange(17.0))
