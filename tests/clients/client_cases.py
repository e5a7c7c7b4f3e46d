"""scikit-learn and SciPy on lazyarr arrays, each case against the same call on NumPy arrays.

Run as a script (the tests do, in a fresh process): both libraries read ``SCIPY_ARRAY_API``
when SciPy is first imported, so it must be set before any test module imports SciPy. Prints
one JSON object: ``{case: {"type": result type, "max_err": float, "error": str | None}}``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["SCIPY_ARRAY_API"] = "1"

import numpy as np  # noqa: E402
import scipy.cluster.vq as vq  # noqa: E402
import scipy.fft as sfft  # noqa: E402
import scipy.special as sp  # noqa: E402
import scipy.stats as st  # noqa: E402
from sklearn import config_context  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    mean_squared_error,
    pairwise_distances,
    r2_score,
    zero_one_loss,
)
from sklearn.metrics.pairwise import rbf_kernel  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

import lazyarr as xp  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.standard_normal((80, 5)) * np.array([1.0, 2.0, 0.5, 3.0, 1.5]) + 1.0
Y_CLASS = (X[:, 0] + 0.3 * X[:, 1] > 1.0).astype(np.int64)
Y_REG = X @ np.array([0.5, -1.0, 2.0, 0.0, 1.0]) + 0.1 * RNG.standard_normal(80)
PRED = (X[:, 0] > 1.2).astype(np.int64)


def _sk(f):
    def run(m, X, yc, yr, pred):
        if m is np:
            return f(X, yc, yr, pred)
        with config_context(array_api_dispatch=True):
            return f(X, yc, yr, pred)
    return run


def _sc(f):
    return lambda m, X, yc, yr, pred: f(m, X)


#: cases whose result columns are defined up to their sign
SIGN_FREE = {"PCA"}


def _signs(v):
    """PCA components are defined up to sign: make each column's largest entry positive."""
    v = np.asarray(v)
    idx = np.argmax(np.abs(v), axis=0)
    return v * np.sign(v[idx, np.arange(v.shape[1])])


CASES = {
    "PCA": _sk(lambda X, yc, yr, p: PCA(n_components=3, svd_solver="full").fit_transform(X)),
    "PCA.explained_variance": _sk(lambda X, yc, yr, p: PCA(n_components=3, svd_solver="full")
                                  .fit(X).explained_variance_),
    "Ridge(svd)": _sk(lambda X, yc, yr, p: Ridge(solver="svd", alpha=1.5).fit(X, yr).predict(X)),
    "Ridge(svd).coef": _sk(lambda X, yc, yr, p: Ridge(solver="svd", alpha=1.5).fit(X, yr).coef_),
    "LinearDiscriminantAnalysis": _sk(
        lambda X, yc, yr, p: LinearDiscriminantAnalysis().fit(X, yc).predict_proba(X)),
    "StandardScaler": _sk(lambda X, yc, yr, p: StandardScaler().fit_transform(X)),
    "MinMaxScaler": _sk(lambda X, yc, yr, p: MinMaxScaler().fit_transform(X)),
    "GaussianMixture": _sk(lambda X, yc, yr, p: GaussianMixture(
        n_components=2, init_params="random_from_data", random_state=0).fit(X).means_),
    "accuracy_score": _sk(lambda X, yc, yr, p: accuracy_score(yc, p)),
    "zero_one_loss": _sk(lambda X, yc, yr, p: zero_one_loss(yc, p)),
    "r2_score": _sk(lambda X, yc, yr, p: r2_score(yr, X[:, 2] * 2)),
    "mean_squared_error": _sk(lambda X, yc, yr, p: mean_squared_error(yr, X[:, 2] * 2)),
    "pairwise_distances": _sk(lambda X, yc, yr, p: pairwise_distances(X[:7], X[:9])),
    "rbf_kernel": _sk(lambda X, yc, yr, p: rbf_kernel(X[:7], X[:9], gamma=0.1)),
    "scipy.special.logsumexp": _sc(lambda m, X: sp.logsumexp(X, axis=1)),
    "scipy.special.softmax": _sc(lambda m, X: sp.softmax(X, axis=0)),
    "scipy.special.xlogy": _sc(lambda m, X: sp.xlogy(X, m.abs(X))),
    "scipy.stats.zscore": _sc(lambda m, X: st.zscore(X, axis=0)),
    "scipy.stats.skew": _sc(lambda m, X: st.skew(X, axis=0)),
    "scipy.stats.moment": _sc(lambda m, X: st.moment(X, order=3, axis=1)),
    "scipy.stats.ttest_ind": _sc(lambda m, X: st.ttest_ind(X[:40], X[40:], axis=0).statistic),
    "scipy.stats.pearsonr": _sc(lambda m, X: st.pearsonr(X[:, 0], X[:, 1]).statistic),
    "scipy.fft.fft": _sc(lambda m, X: sfft.fft(X, axis=0)),
    "scipy.fft.rfft": _sc(lambda m, X: sfft.rfft(X)),
    "scipy.cluster.vq.whiten": _sc(lambda m, X: vq.whiten(X)),
}


def run_case(name: str) -> dict:
    f = CASES[name]
    try:
        got = f(xp, xp.asarray(X), xp.asarray(Y_CLASS), xp.asarray(Y_REG), xp.asarray(PRED))
        want = f(np, X, Y_CLASS, Y_REG, PRED)
        g, w = np.asarray(got, dtype=np.result_type(np.asarray(want))), np.asarray(want)
        if name in SIGN_FREE:
            g, w = _signs(g), _signs(w)
        if g.shape != w.shape:
            return {"type": type(got).__name__, "max_err": None,
                    "error": f"shape {g.shape} != {w.shape}"}
        err = float(np.max(np.abs(g - w) / (1 + np.abs(w)))) if w.size else 0.0
        return {"type": type(got).__name__, "max_err": err, "error": None}
    except Exception as exc:  # reported to the test, which fails with it
        return {"type": None, "max_err": None, "error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    print(json.dumps({n: run_case(n) for n in names}))
