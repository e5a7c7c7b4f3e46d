"""Both suites (``tests``, ``array_api_tests``) compile each eager miss's kernels at once.

By default an eager realization that misses the trace cache runs on NumPy until its kernels are
built in the background (`lazyarr.exec_cpu.tiering`); most tests evaluate an expression once or
twice, so they would test the NumPy fallback and never the generated kernels. The tiering
itself is tested in ``tests/exec_cpu/test_tiering.py``, which switches it on.
"""

import os

os.environ.setdefault("LAZYARR_BACKGROUND_COMPILE", "0")
