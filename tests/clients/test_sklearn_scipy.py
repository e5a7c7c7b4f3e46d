"""scikit-learn estimators and metrics (``array_api_dispatch``) and SciPy functions with array
API support run on lazyarr arrays and agree with NumPy.

They run in one fresh process (``client_cases.py``) because ``SCIPY_ARRAY_API=1`` must be set
before SciPy is first imported.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from client_cases import CASES  # noqa: E402

sys.path.remove(str(HERE))

# results whose type is a Python/NumPy scalar by design (scikit-learn returns floats)
SCALAR_RESULTS = {"accuracy_score", "zero_one_loss", "r2_score", "mean_squared_error"}
# scikit-learn's array-API path computes distances by expanding |x - y|^2 (NumPy's path calls
# scipy's exact cdist): relative agreement to ~1e-8 is what that formula gives
TOLERANCE = {"pairwise_distances": 1e-6}


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    out = subprocess.run([sys.executable, str(HERE / "client_cases.py")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_client_agrees_with_numpy(results, name):
    r = results[name]
    assert r["error"] is None, r["error"]
    assert r["max_err"] < TOLERANCE.get(name, 1e-9), r
    if name not in SCALAR_RESULTS:
        assert r["type"] == "Array", f"{name} returned {r['type']}, not a lazyarr array"
