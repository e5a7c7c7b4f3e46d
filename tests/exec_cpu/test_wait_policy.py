"""lazyarr bounds how long OpenMP threads spin between parallel regions (``GOMP_SPINCOUNT``)
unless the user chose a policy: sleeping at once costs a slow wake per region on virtual
machines, spinning without bound starves BLAS's threads on few cores."""

import os
import subprocess
import sys

import pytest

CODE = ("import os, lazyarr; "
        "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))")


@pytest.mark.parametrize("user,expected", [
    ({}, "None 30000"),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "PASSIVE None"),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE None"),
    ({"GOMP_SPINCOUNT": "50"}, "None 50"),
])
def test_spin_count_default_and_user_choice(user, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(user)
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == expected
