"""`Gemm`/`Gemv` ops against NumPy, and the BLAS rewrites: where each fires and where it must
not; rewritten graphs agree with the reference VM on the original graph."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array.ops.linalg import Gemm, Gemv, MatMul
from lazyarr.graph.basic import Var, apply
from lazyarr.rewrites import blas  # noqa: F401  (registers the rewrites)
from lazyarr.rewrites.config import config
from lazyarr.rewrites.db import GraphEditor, Report, _rewrites

from .test_fusion import check_same, graph_of, ops

rng = np.random.default_rng(1)
BLAS = ("gemv_product", "gemm_scale", "gemm_accumulate")


def arr(*shape, dtype=np.float64):
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return xp.asarray(a.astype(dtype))


def run_blas(fg) -> Report:
    g = GraphEditor(fg, Report(), config)
    g.run([_rewrites[n] for n in BLAS])
    return g.report


def leaf(x) -> Var:
    return Var.leaf(np.asarray(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_gemm_gemv_perform_match_numpy(dtype):
    a, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    c, x, y = (rng.standard_normal(s).astype(dtype) for s in ((5,), (4,), (3,)))
    al, be = np.asarray(1.5, dtype), np.asarray(-0.5, dtype)
    tol = 1e-5 if np.dtype(dtype).itemsize <= 8 and dtype != np.float64 else 1e-12
    np.testing.assert_allclose(Gemm().perform(c, al, a, b, be), be * c + al * (a @ b), rtol=tol)
    np.testing.assert_allclose(Gemv().perform(y, al, a, x, be), be * y + al * (a @ x), rtol=tol)


def test_gemm_beta_zero_keeps_nan_of_c():
    a, b = np.ones((2, 2)), np.ones((2, 2))
    c = np.array([np.nan, 1.0])
    r = Gemm().perform(c, np.asarray(1.0), a, b, np.asarray(0.0))
    assert np.isnan(r[:, 0]).all() and (r[:, 1] == 2).all()


def test_gemm_gemv_infer_errors():
    a, b, al = leaf(np.ones((3, 4))), leaf(np.ones((4, 5))), leaf(1.0)
    assert apply(Gemm(), leaf(np.ones((3, 1))), al, a, b, al)[0].shape == (3, 5)
    with pytest.raises(ValueError, match="c of shape"):
        apply(Gemm(), leaf(np.ones(3)), al, a, b, al)
    with pytest.raises(TypeError, match="alpha"):
        apply(Gemm(), leaf(np.ones(5)), leaf(np.ones(1)), a, b, al)
    with pytest.raises(TypeError, match="float or complex"):
        ai = leaf(np.ones((3, 4), np.int64))
        apply(Gemm(), leaf(np.ones(5, np.int64)), leaf(1), ai, leaf(np.ones((4, 5), np.int64)),
              leaf(1))
    with pytest.raises(ValueError, match="1-d"):
        apply(Gemv(), leaf(np.ones(3)), al, a, b, al)
    with pytest.raises(TypeError, match="y has dtype"):
        apply(Gemv(), leaf(np.ones(3, np.float32)), al, a, leaf(np.ones(4)), al)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_gemm_forms(dtype):
    m = lambda *s: arr(*s, dtype=dtype)  # noqa: E731
    outs = [2.0 * (m(4, 5) @ m(5, 3)) + 0.5 * m(3),     # alpha, beta, broadcast c
            m(4, 5) @ m(5, 3) - m(4, 1),                # P - C
            (m(4, 5) @ m(5, 3)) * 3.0,                  # alpha only
            m(4, 3) + m(5, 4).T @ m(5, 3),              # C + P, transposed operand
            m(4, 5) @ m(5, 3) - 2.0 * m(4, 3),          # P - beta*C (constant beta)
            m(4, 3) - 0.1 * (m(4, 5) @ m(5, 3)),        # C - alpha*P: the SGD update
            m(3) - m(4, 5) @ m(5, 3)]                   # C - P
    fg, args = graph_of(*outs)
    rep = run_blas(fg)
    assert all(isinstance(op, Gemm) for op in ops(fg) if not type(op).__name__ == "Transpose")
    assert rep.counts["gemm_accumulate"] == 6 and rep.counts["gemm_scale"] == 3
    plain, _ = graph_of(*outs)
    from lazyarr.exec_cpu.linker import link
    want, got = link(plain, reference=True)(args), link(fg)(args)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemv_forms():
    a, x, y = arr(4, 5), arr(5), arr(4)
    outs = [a @ x + y, arr(4) @ arr(4, 6), xp.asarray(2.0) * (arr(3, 5) @ arr(5)) - arr(3)]
    fg, args = graph_of(*outs)
    rep = run_blas(fg)
    assert rep.counts["gemv_product"] == 3
    assert sum(isinstance(op, Gemv) for op in ops(fg)) == 3
    assert not any(isinstance(op, MatMul) for op in ops(fg))
    check_same(fg, outs, args)


def test_bare_product_keeps_the_sign_of_zero():
    a = xp.asarray(np.zeros((2, 2)))
    b = xp.asarray(np.ones((2, 2)))
    out = (a @ b) * -1.0  # -0.0 everywhere: an accumulator of +0.0 would turn it into +0.0
    fg, args = graph_of(out)
    run_blas(fg)
    assert isinstance(ops(fg)[0], Gemm)
    from lazyarr.exec_cpu.linker import link
    for ref in (True, False):
        (r,) = link(fg, reference=ref)(args)
        assert (r == 0).all() and np.signbit(r).all()


def test_not_rewritten():
    p = arr(4, 5) @ arr(5, 3)
    shared = [2.0 * p, p + 1.0]                      # the product has two readers
    ints = xp.asarray(np.ones((3, 3), np.int64)) @ xp.asarray(np.ones((3, 3), np.int64)) + 1
    batched = arr(2, 4, 5) @ arr(2, 5, 3) + arr(3)    # 3-d: no gemm
    grows = arr(4, 5) @ arr(5, 3) + arr(2, 4, 3)      # c would widen the result
    vec_alpha = arr(3) * (arr(4, 5) @ arr(5, 3))      # alpha is not 0-d
    var_beta_sub = (arr(4, 5) @ arr(5, 3)) - xp.asarray(2.0) * arr(3)
    var_alpha_sub = arr(4, 3) - xp.asarray(0.1) * (arr(4, 5) @ arr(5, 3))
    outs = [*shared, ints, batched, grows, vec_alpha, var_beta_sub, var_alpha_sub]
    fg, args = graph_of(*outs)
    rep = run_blas(fg)
    # P - (beta*C) with a variable beta keeps beta*C as the accumulator; C - alpha*P with a
    # variable alpha is scaled in BLAS but not negated
    assert rep.counts == {"gemm_accumulate": 1, "gemm_scale": 1}
    assert sum(isinstance(op, MatMul) for op in ops(fg)) == 5
    check_same(fg, outs, args)
