"""One specialization of a compiled function: its traced graph, linked once, and how to call it.

A `Program` is made for one input signature (pytree structure, dtypes, shapes, static values).
It owns the buffers of donated arguments: an output matched to a donated input is written into
that input's buffer (in place by the last node when the linker can, else copied there after the
run) and handed back as a read-only view of it, so a training loop that feeds its parameters
back allocates nothing per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graph import pipeline
from . import _call
from .pytree_code import make_flatten, make_unflatten


class Program:
    """The linked program of one signature.

    ``vm(arrays) -> list of NumPy arrays`` is the bare linked program, the least overhead
    there is. ``arrays``: the NumPy arrays of the argument leaves, which must have exactly
    the dtypes and shapes of ``input_types`` (not checked), followed by ``extras_data``
    (what ``f`` closes over and its work that reads no argument, computed once when
    traced). The outputs are the flat leaves of ``out_struct``, not copied: one may be
    an input array itself or a view of one. Donation is not undone: an output matched with a
    donated input (``donate``: output position -> input position) may be written into the
    array passed there (a call copies a caller's array first; ``vm`` does not).
    """

    def __init__(self, traced, extras_data: list[np.ndarray], n_args: int,
                 donate_inputs: Sequence[int], in_struct: Any):
        self.n_args = n_args
        self.extras_data = extras_data
        outs = traced.graph.outputs
        ins = traced.graph.inputs[:n_args]
        self.input_types = [(v.dtype, v.shape) for v in ins]
        self.shapes = [v.shape for v in ins]
        self.dtypes = [v.dtype for v in ins]
        self.out_struct = traced.out_struct
        self.unflatten_out = make_unflatten(traced.out_struct)
        self.flatten_in = make_flatten(in_struct)
        # outputs matched to donated inputs of the same dtype and shape, in order
        free = list(donate_inputs)
        self.donate: dict[int, int] = {}
        for j, o in enumerate(outs):
            for p in free:
                if ins[p].dtype == o.dtype and ins[p].shape == o.shape:
                    self.donate[j] = p
                    free.remove(p)
                    break
        self.donated_pairs = sorted(self.donate.items())
        self.bufs: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # output -> (buffer, view)
        fg = traced.graph.fgraph()
        fg.donate = dict(self.donate)
        self.vm = pipeline.compile_fgraph(fg)
        self.n_out = len(outs)
        #: ``match(args) -> array leaves or None``: set by `Compiled` for its fast path
        self.match = lambda args: None
        #: the C state of the calls (`_call.Runner`)
        self.runner = _call.Runner(self)

    def check(self, objs: list) -> list | None:
        """The data of ``objs`` (realized Arrays or NumPy arrays) if they have exactly this
        program's dtypes and shapes, else None."""
        return _call.check(objs, self.dtypes, self.shapes)

    # ---- calling (the hot paths are in `_call.Runner`) ----------------------------------------
    def run(self, data: list, objs: list | None) -> Any:
        """Run on the flat argument data (``objs``: the argument leaves, to hand donated Arrays
        back); returns the output pytree of Arrays."""
        return self.runner.run(data, objs)

    def loop(self, n: int, data: list, objs: list, stacked: Sequence[int],
             exact: bool = False) -> Any:
        """``n`` calls with no Python code between them: call ``i`` reads slice ``i`` of the
        stacked arguments (positions ``stacked`` of ``data`` hold the stacked arrays), donated
        arguments take the outputs they are matched with. Returns the outputs of the last
        call. ``exact``: no deferred weight updates (``exec_cpu/ahead.py``)."""
        return self.runner.loop(n, data, objs, list(stacked), exact)
