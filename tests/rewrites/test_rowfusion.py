"""Row fusion (``rewrites/rowfusion.py``, ``exec_cpu/rowgen.py``): the small row chains of a
softmax / cross-entropy step become one `RowProgram` node run by one generated kernel. Values
against the unfused program (to a few ulp) and NumPy;
the cases that must not fuse; the fallback for rows that do not step by one element."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import RowThunk

import lazyarr as xp
from lazyarr.exec_cpu import codegen, native
from lazyarr.rewrites import options
from lazyarr.rewrites.rowfusion import MAX_ELEMS

LR = 0.1


def _loss(ps, x, y):
    z = x @ ps[0] + ps[1]
    lse = xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return xp.mean(xp.sum(y * (lse - z), axis=1))


def _step(ps, x, y):
    loss, g = xp.value_and_grad(_loss)(ps, x, y)
    return [p - LR * gp for p, gp in zip(ps, g)], loss


def _data(rows, k=20, c=10, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    ps = [(rng.standard_normal((k, c)) * 0.3).astype(dtype), np.zeros(c, dtype)]
    xs = [rng.standard_normal((rows, k)).astype(dtype) for _ in range(4)]
    ys = [np.eye(c, dtype=dtype)[rng.integers(0, c, rows)] for _ in range(4)]
    return ps, xs, ys


def _train(rows, fused, dtype=np.float32):
    ps0, xs, ys = _data(rows, dtype=dtype)
    with options(exclude=[] if fused else ["row_fusion"]):
        step = xp.compile(_step, donate_argnums=0)
        ps = [xp.asarray(p.copy()) for p in ps0]
        losses = []
        for i in range(6):
            ps, loss = step(ps, xp.asarray(xs[i % 4]), xp.asarray(ys[i % 4]))
            losses.append(float(loss))
        thunks = step.program(ps, xp.asarray(xs[0]), xp.asarray(ys[0])).vm.thunks
    return [np.asarray(p) for p in ps], losses, thunks


@pytest.mark.parametrize("rows", [1, 7, 60])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_step_is_one_row_program(rows, dtype):
    """The whole tail of the step (row max, shift and exp, row sums, the gradient row and the
    loss) is one `RowThunk`; the parameters and the loss are the unfused program's to a few
    ulp: where loops calling vector math take 512-bit vectors (`ccache.wide_math`), the row
    loop and the unfused kernels may reach exp through different libmvec variants, and sum
    with different vector widths."""
    ps_f, loss_f, thunks_f = _train(rows, True, dtype)
    ps_p, loss_p, thunks_p = _train(rows, False, dtype)
    rows_thunks = [t for t in thunks_f if type(t) is RowThunk]
    assert len(rows_thunks) == 1
    assert len(rows_thunks[0].node.op.members) >= 6
    assert len(thunks_p) - len(thunks_f) >= 5
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for a, b in zip(ps_f, ps_p):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(loss_f, loss_p, rtol=rtol)


def _run(fn, *args, fused=True):
    with options(exclude=[] if fused else ["row_fusion"]):
        f = xp.compile(fn)
        out = f(*[xp.asarray(a) for a in args])
        prog = f.program(*[xp.asarray(a) for a in args])
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [np.asarray(o) for o in outs], prog


def _chain(z, b, s):
    """Row max (NaN-propagating), a bias row, a scalar, row means with and without keepdims,
    and full reductions of a row value and of the elements."""
    m = xp.max(z, axis=1, keepdims=True)
    e = xp.exp(z - m) * s + b
    mean_row = xp.mean(e, axis=1)
    sum_row = xp.sum(e * z, axis=1, keepdims=True)
    return e / sum_row, mean_row, xp.mean(mean_row), xp.max(e * 2.0), xp.min(sum_row)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 5])
def test_row_program_values(rows, dtype):
    """Against NumPy (float64 oracle) and the unfused program, NaN rows included."""
    rng = np.random.default_rng(rows)
    z = rng.standard_normal((rows, 9)).astype(dtype)
    if rows > 1:
        z[1, 3] = np.nan
    b = rng.standard_normal(9).astype(dtype)
    s = np.asarray(1.5, dtype)
    got, prog = _run(_chain, z, b, s)
    assert any(type(t) is RowThunk for t in prog.vm.thunks)
    plain, _ = _run(_chain, z, b, s, fused=False)
    with np.errstate(invalid="ignore"):
        z64, b64 = z.astype(np.float64), b.astype(np.float64)
        e = np.exp(z64 - np.max(z64, axis=1, keepdims=True)) * 1.5 + b64
        sum_row = np.sum(e * z64, axis=1, keepdims=True)
        want = [e / sum_row, np.mean(e, axis=1), np.mean(np.mean(e, axis=1)),
                np.max(e * 2.0), np.min(sum_row)]
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for g, p, w in zip(got, plain, want):
        assert g.dtype == dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
        np.testing.assert_allclose(g, p, rtol=tol, atol=tol)


def test_rows_that_do_not_step_by_one_run_numpy():
    """An input whose rows are strided (a column slice) takes the op's NumPy ``perform``: the
    same values."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 16)).astype(np.float32)
    b = np.zeros(8, np.float32)
    s = np.asarray(1.0, np.float32)
    want, prog = _run(_chain, np.ascontiguousarray(z[:, ::2]), b, s)
    args = [z[:, ::2], b, s] + list(prog.extras_data)
    got = prog.vm(args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-6)


def test_large_problems_keep_their_own_kernels():
    """Above `MAX_ELEMS` elements the nodes stay apart (their kernels run on threads)."""
    cols = 64
    rows = MAX_ELEMS // cols + 1
    z = np.ones((rows, cols), np.float32)
    _, prog = _run(lambda z: z / xp.sum(xp.exp(z - xp.max(z, axis=1, keepdims=True)),
                                        axis=1, keepdims=True), z)
    assert not any(type(t) is RowThunk for t in prog.vm.thunks)


def test_a_path_out_and_back_is_not_fused_into_a_cycle():
    """A row value read by a product outside the chain, whose result comes back into it: the
    row nodes on both sides of the product must not become one program (it would read its
    own output); the values are NumPy's."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 6)).astype(np.float64)
    w = rng.standard_normal((6, 6)).astype(np.float64)

    def f(z, w):
        m = xp.max(z, axis=1, keepdims=True)
        a = z * m
        d = a @ w                         # leaves the row nodes ...
        return d * xp.sum(a, axis=1, keepdims=True) + m   # ... and comes back

    (got,), prog = _run(f, z, w)
    m = np.max(z, axis=1, keepdims=True)
    a = z * m
    np.testing.assert_allclose(got, (a @ w) * np.sum(a, axis=1, keepdims=True) + m,
                               rtol=1e-12)
    names = [type(t).__name__ for t in prog.vm.thunks]
    assert "MatMulThunk" in names or "GemmThunk" in names
    assert "RowThunk" not in names


@pytest.mark.parametrize("n", [2, 4, 8, 64])
def test_a_row_sum_broadcast_along_the_last_axis_is_not_a_per_row_value(n):
    """x (n, n) - sum(x, axis=1) (shape (n,)) lines the sums up with the columns, as NumPy
    does: a row program may not read that intermediate as each row's own value."""
    def f(ns, x):
        s = ns.sum(x, axis=1)
        y = x - s
        return ns.sum(y * y, axis=1) + ns.max(y, axis=1)

    x = np.arange(n * n, dtype=np.float64).reshape(n, n) / n
    np.testing.assert_allclose(np.asarray(f(xp, xp.asarray(x))), f(np, x), rtol=1e-12)


def _affine_rows(z):
    for _ in range(codegen.LONG_BODY):
        z = z * 1.0001 + 0.5
    return z - xp.max(z, axis=1, keepdims=True)


def test_a_long_row_program_compiles_without_the_quadratic_compiler_passes():
    # as an elementwise kernel's long loop (codegen.LONG_BODY): GCC's points-to analysis and
    # graph-colouring register allocator take time growing as the square of the row loop's
    # statements
    z = np.random.default_rng(5).standard_normal((8, 32))
    want, prog = _run(_affine_rows, z)
    (node,) = [t.node for t in prog.vm.thunks if isinstance(t, RowThunk)]
    src = native.row_kernel(node).source(True)
    (head,) = [line for line in src.splitlines() if "void la_rowprog(" in line]
    assert "no-tree-pta" in head and "ira-algorithm=priority" in head
    short = _run(_chain, z, np.zeros(32), np.asarray(1.0))[1]
    (node,) = [t.node for t in short.vm.thunks if isinstance(t, RowThunk)]
    assert "no-tree-pta" not in native.row_kernel(node).source(True)
    z_np = z
    for _ in range(codegen.LONG_BODY):
        z_np = z_np * 1.0001 + 0.5
    # exact: no contraction into fused multiply-adds
    np.testing.assert_array_equal(want[0], z_np - z_np.max(axis=1, keepdims=True))
