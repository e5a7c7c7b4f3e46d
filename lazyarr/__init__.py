"""lazyarr: an array-API-conformant namespace of lazy arrays.

``import lazyarr as xp`` and write NumPy-style code: every call builds a graph node, and
reading a value (``np.asarray``, ``float``, ``repr``...) optimizes and runs the pending graph.
"""

from __future__ import annotations

import math as _math

from . import (  # noqa: E402,F401  (the standard's extensions)
    fft,
    linalg,
    rewrites,  # noqa: F401
)
from . import pipeline_modes as _pipeline_modes
from .array import Array, ConcretizationError, trace_cache  # noqa: F401
from .array import dtypes as _dtypes
from .array import numpy_protocols as _numpy_protocols  # noqa: F401  (NumPy dispatch)
from .array.functions.creation import *  # noqa: F403
from .array.functions.dtype_funcs import *  # noqa: F403
from .array.functions.elementwise import *  # noqa: F403
from .array.functions.info import *  # noqa: F403
from .array.functions.info import __array_namespace_info__  # noqa: F401
from .array.functions.linalg_basic import *  # noqa: F403
from .array.functions.manipulation import *  # noqa: F403
from .array.functions.searching import *  # noqa: F403
from .array.functions.sets import *  # noqa: F403
from .array.functions.sorting import *  # noqa: F403
from .array.functions.statistics import *  # noqa: F403
from .array.functions.statistics import diff as _statistics_diff
from .array.materialize import realize as _realize
from .control import cond, fori_loop, scan, while_loop  # noqa: F401
from .diff.checks import GradientError, check_vjp_jvp, verify_grad  # noqa: F401
from .diff.expr import Lop, Rop, gradient  # noqa: F401
from .diff.transforms import (  # noqa: F401
    DisconnectedInputError,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from .exec_cpu.buffers import buffer_info, release_buffers, set_buffer_limit  # noqa: F401
from .exec_cpu.threads import get_num_threads, set_num_threads  # noqa: F401
from .exec_cpu.tiering import (  # noqa: F401
    background_compile,
    finish_compiles,
    set_background_compile,
)
from .function import compile  # noqa: F401,A004
from .graph import pipeline as _pipeline
from .graph.printing import debugprint as _debugprint
from .rewrites import config  # noqa: F401  (lazyarr.config.exclude / fast_math / mode)

# the standard's diff(): importing the subpackage lazyarr.diff above bound the name to it
diff = _statistics_diff  # noqa: F405

__version__ = "0.1.0"
__array_api_version__ = "2024.12"

bool = _dtypes.bool_  # noqa: A001 - the standard's name
int8, int16, int32, int64 = _dtypes.int8, _dtypes.int16, _dtypes.int32, _dtypes.int64
uint8, uint16, uint32, uint64 = _dtypes.uint8, _dtypes.uint16, _dtypes.uint32, _dtypes.uint64
float32, float64 = _dtypes.float32, _dtypes.float64
complex64, complex128 = _dtypes.complex64, _dtypes.complex128

e = _math.e
pi = _math.pi
inf = _math.inf
nan = _math.nan
newaxis = None


def realize(*arrays: Array) -> tuple[Array, ...]:
    """Compute several arrays in one program (shared work done once); each becomes a leaf.
    Returns the arrays."""
    from .array.coerce import as_var

    _realize([as_var(a) for a in arrays])
    return arrays


def debugprint(*arrays: Array, optimized: bool = False, file=None) -> str:
    """Print and return the pending graph of ``arrays`` (shared nodes shown once).

    ``optimized=True`` shows the graph as it will run: after the rewrites, followed by the
    rewrites that fired (nothing is computed)."""
    from .array.coerce import as_var

    vars_ = [as_var(a) for a in arrays]
    if not optimized:
        text = _debugprint(vars_)
    else:
        from .graph._walk import cut
        from .graph.fgraph import FunctionGraph

        pending = [v for v in vars_ if v.owner is not None]
        if pending:
            leaves, steps, out_refs, _key = cut(pending, [])
            fg = FunctionGraph.from_cut(leaves, steps, out_refs)
            report = rewrites.rewrite(fg)
            outs = iter(fg.outputs)
            text = _debugprint([next(outs) if v.owner is not None else v for v in vars_])
            text += "\n" + str(report)
        else:
            text = _debugprint(vars_)
    print(text, file=file)
    return text


def trace_cache_info() -> dict:
    """Trace-cache counters: ``hits``, ``misses``, ``size`` and ``maxsize``."""
    return trace_cache.info()


def _compile(fg):
    return _pipeline_modes.compile_program(fg)


def _drop_programs() -> None:
    trace_cache.clear()  # programs were rewritten under the old configuration


_pipeline.set_compiler(_compile)
config.on_change(_drop_programs)

