"""lazyarr's benchmarks: each prints a table, writes JSON under bench/results/ and draws a PNG.

A benchmark's own process (``python -m bench.<name>``) drops ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` here, before NumPy loads: OpenBLAS reads them once, when it starts, and
they hold it to older kernels (Haswell's instead of SkylakeX's on this machine). Where NumPy
is loaded already (the test suite imports `bench.fig1`), nothing changes.
"""

import os
import sys

if "numpy" not in sys.modules:
    for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(_name, None)
