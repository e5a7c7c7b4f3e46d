"""Random-graph fuzzer: every phase of the rewriter (canonicalize, stabilize, specialize: BLAS,
fusion) must leave results unchanged.

Each hypothesis example draws a seed; from it a NumPy generator builds ``GRAPHS_PER_EXAMPLE``
random graphs (mixed dtypes with casts and promotion, broadcasting, reductions with keepdims,
slicing and integer indexing, broadcast_to and rank-padding reshapes, matrix products,
duplicated sub-expressions, several outputs).
Each graph is rewritten and run on the reference VM (fused nodes through their NumPy
``perform``) and compared with the unoptimized graph on the reference VM. Generated C costs a
compiler run per new kernel (~50-100 ms), so only ``NATIVE_PER_EXAMPLE`` graphs of each example
also run optimized on the native VM. With the ``ci`` profile (30 examples) that is 3,000 graphs,
30 of them native: ~20 s on 2 idle cores. ``LAZYARR_HYPOTHESIS_PROFILE=thorough`` (1,000
examples) fuzzes 100,000 graphs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyarr as xp
from lazyarr.exec_cpu.linker import link
from lazyarr.rewrites import blas, fusion, rewrite  # noqa: F401  (registers the passes)
from lazyarr.rewrites.db import registered

from .test_fusion import graph_of

GRAPHS_PER_EXAMPLE = 100
NATIVE_PER_EXAMPLE = 1
DTYPES = [np.bool_, np.int32, np.int64, np.float32, np.float64, np.complex128]
_REGISTERED = registered()
_RANK = {np.dtype(d): i for i, d in enumerate(DTYPES)}


class _Builder:
    """Builds one random graph from generator ``r``; ``pool`` holds the arrays made so far."""

    def __init__(self, r: np.random.Generator):
        self.r = r
        rank = int(r.integers(1, 4))
        self.base = tuple(int(d) for d in r.integers(1, 5, size=rank))
        self.pool: list = []
        self.history: list[tuple] = []

    def leaf(self):
        r, base = self.r, self.base
        keep = int(r.integers(0, len(base) + 1))
        shape = tuple(d if r.random() < 0.7 else 1 for d in base[len(base) - keep:])
        dt = np.dtype(DTYPES[int(r.integers(len(DTYPES)))])
        if dt.kind == "b":
            data = r.random(shape) < 0.5
        elif dt.kind in "iu":
            data = r.integers(-4, 5, size=shape).astype(dt)
        elif dt.kind == "c":
            data = (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(dt)
        else:
            data = (r.standard_normal(shape) * 2).astype(dt)
        if dt.kind in "fc" and r.random() < 0.2:  # special values: NaN, infinities, -0.0
            data = np.array(data)
            mask = r.random(shape) < 0.3
            data[mask] = r.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0]), mask.sum())
        return xp.asarray(np.asarray(data))

    def pick(self, pred=lambda a: True):
        cands = [a for a in self.pool if pred(a)]
        return cands[int(self.r.integers(len(cands)))] if cands else None

    def partner(self, a, pred=lambda b: True):
        """An array of the pool whose shape broadcasts with ``a``'s (``a`` if none)."""
        def fits(b):
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                return False
            return pred(b)
        return self.pick(fits)

    def call(self, fn, *args):
        out = fn(*args)
        self.history.append((fn, args))
        self.pool.append(out)
        return out

    def step(self) -> None:
        r = self.r
        u = r.random()
        if u < 0.3:
            self.unary()
        elif u < 0.62:
            self.binary()
        elif u < 0.72:
            self.reduction()
        elif u < 0.8:
            self.index()
        elif u < 0.86:
            self.cast()
        elif u < 0.91:
            self.matmul()
        elif self.history:  # the same expression built again: merged by the cut
            fn, args = self.history[int(r.integers(len(self.history)))]
            self.pool.append(fn(*args))

    def unary(self) -> None:
        a = self.pick()
        k = a.dtype.kind if a.dtype != xp.bool else "b"
        fns = {"b": [xp.logical_not],
               "i": [xp.negative, xp.abs, xp.square, xp.sign, xp.bitwise_invert],
               "f": [xp.sin, xp.cos, xp.tanh, xp.abs, xp.negative, xp.square, xp.floor,
                     xp.exp, xp.expm1, lambda x: xp.log1p(xp.abs(x)),
                     lambda x: xp.sqrt(xp.abs(x)), lambda x: xp.log(1 + xp.exp(x))],
               "c": [xp.negative, xp.exp, xp.conj, xp.abs, xp.square]}[k]
        self.call(fns[int(self.r.integers(len(fns)))], a)

    def binary(self) -> None:
        r = self.r
        a = self.pick()
        b = self.partner(a)
        if a.dtype == xp.bool and b.dtype == xp.bool:
            fns = [xp.logical_and, xp.logical_or, xp.not_equal]
        elif xp.complex128 in (a.dtype, b.dtype):
            fns = [xp.add, xp.multiply, xp.subtract, xp.equal]
        else:
            if a.dtype == xp.bool:
                a = xp.astype(a, b.dtype)
            if b.dtype == xp.bool:
                b = xp.astype(b, a.dtype)
            fns = [xp.add, xp.subtract, xp.multiply, xp.maximum, xp.minimum, xp.less,
                   lambda x, y: xp.where(x > y, x, y * 2), lambda x, y: x * y + x - y]
        self.call(fns[int(r.integers(len(fns)))], a, b)

    def reduction(self) -> None:
        r = self.r
        a = self.pick(lambda x: x.ndim >= 1 and x.size > 0)
        if a is None:
            return
        axes = tuple(i for i in range(a.ndim) if r.random() < 0.5) or None
        keep = bool(r.random() < 0.5)
        kind = a.dtype.kind if a.dtype != xp.bool else "b"
        fns = {"b": [xp.any, xp.all, xp.sum], "i": [xp.sum, xp.max, xp.min],
               "f": [xp.sum, xp.max, xp.mean, xp.min, xp.prod], "c": [xp.sum, xp.mean]}[kind]
        fn = fns[int(r.integers(len(fns)))]
        out = self.call(lambda x: fn(x, axis=axes, keepdims=keep), a)
        other = self.partner(out, lambda x: x.dtype == out.dtype and x.dtype != xp.bool)
        if other is not None and r.random() < 0.5:  # broadcast the result back
            self.call(lambda x, y: x + y, out, other)

    def index(self) -> None:
        r = self.r
        a = self.pick(lambda x: x.ndim >= 1 and x.shape[0] >= 2)
        if a is None:
            return
        choices = [lambda x: x[1:], lambda x: x[::-1], lambda x: x[::2],
                   lambda x: x[xp.asarray(np.array([1, 0, 1]))],
                   lambda x: xp.broadcast_to(x[..., :1], x.shape),
                   lambda x: xp.reshape(x, (1,) + x.shape)]
        if a.ndim >= 2:
            choices += [lambda x: x[0], lambda x: x[..., :1]]
        self.call(choices[int(r.integers(len(choices)))], a)

    def cast(self) -> None:
        a = self.pick(lambda x: x.dtype != xp.complex128)
        if a is None:
            return
        dt = DTYPES[int(self.r.integers(_RANK[np.dtype(a.dtype)], len(DTYPES)))]
        self.call(lambda x: xp.astype(x, dt), a)

    def matmul(self) -> None:
        r = self.r
        a = self.pick(lambda x: x.ndim == 2 and x.dtype in (xp.float32, xp.float64))
        if a is None:
            a = xp.asarray(r.standard_normal((int(r.integers(1, 5)), 3)))
        m, k = a.shape
        b = xp.asarray(r.standard_normal((k, int(r.integers(1, 4)))).astype(a.dtype))
        v = xp.asarray(r.standard_normal(k).astype(a.dtype))
        forms = [lambda: a @ b, lambda: 2.0 * (a @ b) + 0.5 * (a @ b)[0], lambda: a @ v + 1.0,
                 lambda: (a.T @ a) - a[0][:, None], lambda: v @ a.T]
        out = forms[int(r.integers(len(forms)))]()
        self.pool.append(out)

    def build(self) -> list:
        r = self.r
        for _ in range(int(r.integers(1, 4))):
            self.pool.append(self.leaf())
        for _ in range(int(r.integers(3, 14))):
            self.step()
        outs = [self.pool[-1]] + [self.pick() for _ in range(int(r.integers(0, 3)))]
        return list({id(o): o for o in outs}.values())


def _compare(got: list, want: list, where: str, tol: float, stabilized: bool) -> None:
    """Outputs agree within ``tol`` (relative, and absolute at the outputs' scale); where a
    stabilize rewrite fired, a non-finite reference value may have become finite."""
    assert len(got) == len(want), where
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, f"{where}: {g.dtype}{g.shape} vs " \
            f"{w.dtype}{w.shape}"
        if w.dtype.kind in "fc":
            fin = np.isfinite(w)
            if stabilized:
                g, w = np.where(fin, g, w), w
            scale = float(np.max(np.abs(w[fin]), initial=1.0))
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale,
                                       equal_nan=True, err_msg=where)
        else:
            np.testing.assert_array_equal(g, w, err_msg=where)


def fuzz(seed: int, n_graphs: int, n_native: int) -> None:
    """Build ``n_graphs`` random graphs from ``seed``; assert optimized == reference."""
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        for i in range(n_graphs):
            b = _Builder(rng)
            outs = b.build()
            # a float32 value anywhere (even cast up later) bounds the precision of the result
            tol = 1e-4 if any(a.dtype == xp.float32 for a in b.pool) else 1e-10
            plain, args = graph_of(*outs)
            want = link(plain, reference=True)(args)
            fg, _ = graph_of(*outs)
            report = rewrite(fg)
            where = f"seed {seed}, graph {i}; rewrites fired: {report.names()}"
            stab = any("stabilize" in _REGISTERED.get(n, ("", ()))[1] for n in report.names())
            _compare(link(fg, reference=True)(args), want, where, tol, stab)
            if i < n_native:
                _compare(link(fg)(args), want, where + " (native)", tol, stab)


@given(st.integers(0, 2**32 - 1))
def test_random_graphs_optimized_equal_reference(seed):
    fuzz(seed, GRAPHS_PER_EXAMPLE, NATIVE_PER_EXAMPLE)


def test_complex_mean_of_one_infinite_element():
    # found by the fuzzer: NumPy's complex mean divides by 1, and (-inf+0j)/1 is -inf+nanj, so
    # a mean over size-1 axes is not x + 0 for complex x
    x = xp.asarray(np.array([[complex(-np.inf, 0.0)]]))
    out = xp.mean(x, axis=0)
    plain, args = graph_of(out)
    fg, _ = graph_of(out)
    rewrite(fg)
    with np.errstate(all="ignore"):
        want, got = link(plain, reference=True)(args), link(fg, reference=True)(args)
    np.testing.assert_array_equal(got[0], want[0])


def test_native_complex_mean_of_an_infinite_element():
    # found by the fuzzer (native sample): NumPy divides a complex sum by count + 0j, so
    # (-inf+0j)/1 is -inf+nanj; the reduction kernel divided by a real count (-inf+0j)
    from lazyarr.exec_cpu import ccache

    if not ccache.available():
        pytest.skip("no C compiler: the NumPy reduction is used")
    x = xp.asarray(np.array([[complex(-np.inf, 0.0), 1 + 1j]]))
    fg, args = graph_of(xp.mean(x, axis=0))
    with np.errstate(all="ignore"):
        want, got = link(fg, reference=True)(args), link(fg)(args)
    np.testing.assert_array_equal(got[0], want[0])
