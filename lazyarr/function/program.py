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

from ..array import coerce
from ..array.array_object import Array
from ..graph import pipeline
from ..graph.basic import Var
from .pytree_code import make_flatten, make_unflatten


class Program:
    """The linked program of one signature.

    ``vm(args) -> outputs`` is the bare linked program (NumPy arrays in ``input_types`` order,
    NumPy arrays out): the least overhead there is, with no checks and no donation.
    """

    def __init__(self, traced, extras_data: list[np.ndarray], n_args: int,
                 donate_inputs: Sequence[int], in_struct: Any):
        self.n_args = n_args
        self.extras_data = extras_data
        outs = traced.graph.outputs
        ins = traced.graph.inputs[:n_args]
        self.input_types = [(v.dtype, v.shape) for v in ins]
        self.shapes = [v.shape for v in ins]
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

    def check(self, objs: list) -> list | None:
        """The data of ``objs`` (realized Arrays or NumPy arrays) if they have exactly this
        program's dtypes and shapes, else None."""
        data = []
        for x, (dt, sh) in zip(objs, self.input_types):
            if type(x) is np.ndarray:
                d = x
            elif type(x) is Array:
                v = x._v
                d = v.data
                if v.owner is not None or d is None:
                    return None
            else:
                return None
            if d.dtype != dt or d.shape != sh:
                return None
            data.append(d)
        return data

    # ---- calling ------------------------------------------------------------------------
    def run(self, data: list, objs: list | None) -> Any:
        """Run on the flat argument data (``objs``: the argument leaves, to hand donated Arrays
        back); returns the output pytree of Arrays."""
        donated = self._take_donated(data)
        if self.extras_data:
            data = data + self.extras_data
        res = self.vm(data)
        return self._finish(res, donated, objs, data)

    def _take_donated(self, data: list) -> list:
        """Swap each donated argument for its writable buffer (made on first use: a copy)."""
        donated = []
        for j, p in self.donated_pairs:
            d = data[p]
            bv = self.bufs.get(j)
            if bv is None or d is not bv[1]:
                buf = np.array(d, dtype=self.input_types[p][0], order="C", copy=True)
                view = buf.view()
                view.flags.writeable = False
                bv = self.bufs[j] = (buf, view)
            data[p] = bv[0]
            donated.append(bv)
        return donated

    def _finish(self, res: list, donated: list, objs: list | None, data: list) -> Any:
        outs = [None] * self.n_out
        k = 0
        for j, p in self.donated_pairs:
            buf, view = donated[k]
            k += 1
            r = res[j]
            if r is not buf:
                np.copyto(buf, r)
            res[j] = None
            o = objs[p] if objs is not None else None
            if o is not None and type(o) is not np.ndarray and o._v.data is view:
                outs[j] = o  # the donated Array already holds its new value
            else:
                outs[j] = coerce.wrap(Var.leaf(view))
        for j in range(self.n_out):
            if outs[j] is None:
                outs[j] = coerce.wrap(Var.leaf(self._private(res[j], data)))
        return self.unflatten_out(outs)

    def _private(self, r: np.ndarray, data: list) -> np.ndarray:
        """A result the caller may keep: read-only, never a donated buffer."""
        for buf, _view in self.bufs.values():
            if r is buf:
                return r.copy()
        if r.flags.writeable:
            for a in data:
                if r is a:  # an argument handed back: lock a view, not the caller's array
                    r = r.view()
                    break
            r.flags.writeable = False
        return r

    # ---- N steps without returning to the caller ---------------------------------------------
    def loop(self, n: int, data: list, objs: list, stacked: Sequence[int]) -> Any:
        """``n`` calls: call ``i`` reads slice ``i`` of the stacked arguments (positions
        ``stacked`` of ``data`` hold the stacked arrays), donated arguments take the outputs
        they are matched with. Returns the outputs of the last call."""
        stacks = [(p, data[p]) for p in stacked]
        for p, s in stacks:
            data[p] = s[0]
        donated = self._take_donated(data)
        if self.extras_data:
            data = data + self.extras_data
        vm = self.vm
        pairs = [(res_j, bv[0]) for (res_j, _p), bv in zip(self.donated_pairs, donated)]
        res = None
        for i in range(n):
            for p, s in stacks:
                data[p] = s[i]
            res = vm(data)
            for j, buf in pairs:
                r = res[j]
                if r is not buf:
                    np.copyto(buf, r)
        return self._finish(res, donated, objs, data)
