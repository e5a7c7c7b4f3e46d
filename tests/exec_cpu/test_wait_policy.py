"""lazyarr makes OpenMP threads sleep between parallel regions unless the user chose a policy
(spinning GOMP threads starve BLAS's threads on few cores)."""

import os
import subprocess
import sys

import pytest

CODE = "import os, lazyarr; print(os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize("user,expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_wait_policy_default_and_user_choice(user, expected):
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if user is not None:
        env["OMP_WAIT_POLICY"] = user
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == expected
