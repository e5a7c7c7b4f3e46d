"""The compile pipeline installed by ``lazyarr/__init__.py``: rewrite, then link, by mode.

* ``fast`` (default): ``rewrite(fg)`` then ``exec_cpu.link(fg)`` (for an eager miss,
  `exec_cpu.tiering.link_provisional`: the kernels may be built in the background).
* ``debug``: the optimized program and the unoptimized graph on the reference VM both run on
  every call; a difference beyond the dtype's tolerance (or of the sign of a zero, but for
  one computed from a sum or a matrix product) raises `RewriteMismatchError` naming
  the rewrites that fired (Theano's DebugMode).
* ``nan_guard``: canonicalize and stabilize only (nodes stay the user's own), run node by
  node; the first node producing a NaN or an infinity raises FloatingPointError naming the op
  and the user line that built it.

This module may import both the rewrites and an executor; the rewrites never call one.
"""

from __future__ import annotations

import numpy as np

from . import exec_cpu
from .exec_cpu import tiering
from .exec_cpu.errors import annotate
from .graph.basic import Apply
from .graph.fgraph import FunctionGraph
from .graph.pipeline import provisional_allowed
from .rewrites.config import RewriteConfig, config
from .rewrites.db import clone_fgraph, rewrite
from .rewrites.debugmode import (
    check_against_reference,
    first_nonfinite,
    least_precise,
    unsigned_zero_outputs,
)


def compile_program(fg: FunctionGraph):
    """The program for ``fg`` under the current ``lazyarr.rewrites.config.mode``."""
    mode = config.mode
    if mode == "debug":
        return DebugProgram(fg)
    if mode == "nan_guard":
        return NanGuardProgram(fg)
    rewrite(fg)
    if provisional_allowed():  # an eager miss: kernels may be built in the background
        return tiering.link_provisional(fg)
    return exec_cpu.link(fg)


class DebugProgram:
    """Runs the optimized program and the unoptimized reference; compares every call."""

    def __init__(self, fg: FunctionGraph):
        # no dead input buffers taken: a mismatch raised after the optimized run wrote one
        # would leave the pending arrays reading it overwritten
        fg.donate, fg.donate_alias = {}, {}
        self.floor = least_precise(v.dtype for node in fg.toposort()
                                   for v in (*node.inputs, *node.outputs))
        self.unsigned_zeros = unsigned_zero_outputs(fg)
        self.reference = exec_cpu.link(clone_fgraph(fg), reference=True)
        self.report = rewrite(fg)
        self.optimized = exec_cpu.link(fg)

    def __call__(self, args):
        ref = self.reference(args)
        out = self.optimized(args)
        check_against_reference(out, ref, self.report, self.floor, self.unsigned_zeros)
        return out


class NanGuardProgram:
    """Evaluates node by node with the reference implementations, checking each output."""

    def __init__(self, fg: FunctionGraph):
        cfg = RewriteConfig()
        cfg._exclude = config.exclude | {"specialize"}
        cfg._fast_math = config.fast_math
        self.report = rewrite(fg, cfg)
        self.fg = fg
        self.order = fg.toposort()
        self.lazy = any(node.op.lazy for node in self.order)
        self.fallback = exec_cpu.link(fg, reference=True) if self.lazy else None

    def __call__(self, args):
        k = first_nonfinite(args)
        if k is not None:
            raise FloatingPointError(f"NaN guard: input {k} of the program already holds a "
                                     f"NaN or an infinity")
        if self.lazy:  # demand-driven graphs (cond): only the outputs can be checked
            outs = self.fallback(args)
            k = first_nonfinite(outs)
            if k is not None:
                raise FloatingPointError(f"NaN guard: output {k} holds a NaN or an infinity")
            return outs
        values = dict(zip(self.fg.inputs, args))
        with np.errstate(all="ignore"):
            for node in self.order:
                ins = [values[v] if v in values else v.data for v in node.inputs]
                r = node.op.perform(*ins)
                rs = [r] if len(node.outputs) == 1 else list(r)
                for o, val in zip(node.outputs, rs):
                    values[o] = np.asarray(val)
                k = first_nonfinite(rs)
                if k is not None:
                    exc = FloatingPointError(_nan_message(node, k))
                    annotate(exc, node)  # the note names the user's line (`errors.resite`)
                    raise exc
        return [values[v] if v in values else v.data for v in self.fg.outputs]


def _nan_message(node: Apply, k: int) -> str:
    """The error's text; its note (`errors.annotate`) names the line that built the node,
    the line of the graph that ran where a cached program was built for another one."""
    out = f" output {k}" if len(node.outputs) > 1 else ""
    return f"NaN guard: {node.op!r}{out} produced a NaN or an infinity"
