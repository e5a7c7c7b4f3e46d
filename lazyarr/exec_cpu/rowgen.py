"""C source for `RowProgram` nodes (``rewrites/rowfusion.py``): one serial loop over the rows.

``la_rowprog(R, C, p, rs, scratch)``: ``p`` the inputs then the outputs; ``rs`` per operand
the bytes from one row to the next (0 where the value does not advance with the rows); a row's
elements step by one element. Per row, each member in order: an elementwise member over the
row's ``C`` elements (into the output's row, or a row of ``scratch``: ``C`` slots of 8 bytes
per intermediate) or over its one value; a reduction of the row into one value; a reduction
over everything into an accumulator written after the last row. Reductions accumulate as the
reduction kernels do (float sums in double, max/min NaN-propagating, mean divided by the
count), elementwise steps are the composites' own code (`codegen._body`).
"""

from __future__ import annotations

import numpy as np

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.reduce import Reduce
from ..array.ops.rowprog import access, domain
from .codegen import (
    _REDUCE,
    KernelSource,
    _acc_type,
    _body,
    _extreme,
    _long_body_options,
    _math_options,
    _suffixed,
    c_type,
    single_composite,
    standalone,
)

__all__ = ["RowKernel"]


def _composite(op, in_dtypes: list, out_dtypes: list) -> Composite:
    if isinstance(op, Composite):
        return op
    return single_composite(op, tuple(in_dtypes), out_dtypes[0])


class RowKernel(KernelSource):
    """Source of one `RowProgram`'s kernel; ``in_types``: ``(dtype, shape)`` of its inputs."""

    symbols = ("la_rowprog",)

    def __init__(self, op, in_types: list):
        self.op = op
        self.types = op.value_types(in_types)
        self.n_in = op.n_in
        self.rows, self.cols = _problem(op, self.types)
        #: rows of intermediates the kernel keeps in ``scratch``: the elementwise members'
        #: outputs over whole rows that the node does not return
        self.n_tmp = _scratch_rows(op, self.types)

    def source(self, have_mvec: bool) -> str:
        return standalone(self.template(), have_mvec)

    def template(self) -> str:
        op, types, n_in = self.op, self.types, self.n_in
        rows, cols = self.rows, self.cols
        outs = {r: n_in + k for k, r in enumerate(op.out_refs)}  # value -> operand number
        kind = ["in"] * n_in  # per value: "in", "vec" (a row), "col" or "full"
        tmp: dict[int, int] = {}
        head, loop, tail = [], [], []
        statements: list[str] = []  # the members' expressions, all in the one row loop
        math = ""  # `LA_MATH_LOOP` once a member calls vector math
        for i in range(n_in):
            t = c_type(types[i][0])
            head.append(f"  const {t} *b{i} = (const {t} *)p[{i}];")
            loop.append(f"    const {t} *a{i} = (const {t} *)(p[{i}] + r * rs[{i}]);")
        ref = n_in
        for mop, refs, mtypes in op.members:
            red = mop.reduce if isinstance(mop, FusedReduce) else (
                mop if isinstance(mop, Reduce) else None)
            in_dts = [types[k][0] for k in refs]
            dom = _member_domain(types, refs)
            loads = []
            for i, k in enumerate(refs):
                t = c_type(types[k][0])
                how = access(types[k][1], dom, rows, cols)
                loads.append(f"const {t} x{i} = {self._read(k, how, kind)};")
            if red is None:  # elementwise
                comp = _composite(mop, in_dts, [dt for dt, _s in mtypes])
                body, _ = _body(comp)
                math = math or _math_options(comp)
                statements += body
                stores = []
                for j, (r_out, (dt, _s)) in enumerate(zip(comp.out_refs, mtypes)):
                    v = ref + j
                    t = c_type(dt)
                    if dom == "vec":
                        kind.append("vec")
                        if v in outs:
                            loop.append(f"    {t} *t{v} = ({t} *)(p[{outs[v]}] + r * "
                                        f"rs[{outs[v]}]);")
                        else:
                            tmp[v] = len(tmp)
                            head.append(f"  {t} *t{v} = ({t} *)(scratch + "
                                        f"{tmp[v]} * C * 8);")
                        stores.append(f"t{v}[j] = v{r_out};")
                    else:
                        kind.append("col")
                        loop.append(f"    {t} c{v};")
                        stores.append(f"c{v} = v{r_out};")
                code = " ".join(loads + body + stores)
                if dom == "vec":
                    loop += ["    #pragma omp simd",
                             f"    for (int64_t j = 0; j < C; j++) {{ {code} }}"]
                else:
                    loop.append(f"    {{ {code} }}")
                    for j, (dt, _s) in enumerate(mtypes):
                        if ref + j in outs:
                            loop.append(f"    *({c_type(dt)} *)(p[{outs[ref + j]}] + r * "
                                        f"rs[{outs[ref + j]}]) = c{ref + j};")
            else:  # a reduction: of the row (into one value), or of everything
                comp = (mop.composite if isinstance(mop, FusedReduce)
                        else Composite((in_dts[0],), (), (0,)))
                body, _ = _body(comp)
                math = math or _math_options(comp)
                statements += body
                dt = mtypes[0][0]
                val_dt = np.dtype(comp.out_dtypes[0])
                acc_t = _acc_type(red.kind, val_dt, np.dtype(dt))
                init, combine, omp_red = _REDUCE[red.kind]
                if init is None:
                    init = _extreme(red.kind, val_dt)
                fnan = red.kind in ("max", "min")
                v = ref
                t = c_type(dt)
                step = (f"const {acc_t} v = ({acc_t})v{comp.out_refs[0]}; "
                        + combine.format(a=f"s{v}", v="v")
                        + (f" n{v} |= (v != v);" if fnan else ""))
                code = " ".join(loads + body + [step])
                row_part = [f"    {acc_t} s{v} = {init}; _Bool n{v} = 0;"]
                if dom == "vec":
                    pragma = f"    #pragma omp simd reduction({omp_red}:s{v})" + (
                        f" reduction(|:n{v})" if fnan else "")
                    row_part += [pragma, f"    for (int64_t j = 0; j < C; j++) {{ {code} }}"]
                    count = "C"
                else:
                    row_part.append(f"    {{ {code} }}")
                    count = "1"
                if dom == "vec" and tuple(red.axes) == (1,):
                    # a row's value
                    kind.append("col")
                    final = f"s{v} / (double){count}" if red.kind == "mean" else f"s{v}"
                    if fnan:
                        final = f"(n{v} ? NAN : {final})"
                    loop += row_part + [f"    const {t} c{v} = ({t})({final});"]
                    if v in outs:
                        loop.append(f"    *({t} *)(p[{outs[v]}] + r * rs[{outs[v]}]) = c{v};")
                else:
                    # everything: the rows' values combined into g<v>
                    kind.append("full")
                    head.append(f"  {acc_t} g{v} = {init}; _Bool m{v} = 0;")
                    loop += row_part + [
                        f"    {combine.format(a=f'g{v}', v=f's{v}')}"
                        + (f" m{v} |= n{v};" if fnan else "")]
                    total = f"R * {count}" if dom == "vec" else "R"
                    final = f"g{v} / (double)({total})" if red.kind == "mean" else f"g{v}"
                    if fnan:
                        final = f"(m{v} ? NAN : {final})"
                    tail.append(f"  *({t} *)p[{outs[v]}] = ({t})({final});")
            ref += len(mtypes)
        lines = [
            f"{_long_body_options(statements)}{math}void la_rowprog(int64_t R, int64_t C, "
            "char **p, const int64_t *rs, char *scratch) {",
            *head,
            "  for (int64_t r = 0; r < R; r++) {",
            *loop,
            "  }",
            *tail,
            "}",
        ]
        return _suffixed("\n".join(lines) + "\n")

    def _read(self, k: int, how: str, kind: list) -> str:
        """C expression of value ``k`` read as ``how`` (`rowprog.access`) at element j."""
        if k < self.n_in:
            return {"vec": f"a{k}[j]", "col": f"a{k}[0]", "bvec": f"b{k}[j]",
                    "one": f"b{k}[0]"}[how]
        if kind[k] == "vec":
            return f"t{k}[j]"
        return f"c{k}"


def _problem(op, types: list) -> tuple[int, int]:
    """``(R, C)`` of a `RowProgram`: the shape its row reductions read."""
    for mop, refs, _t in op.members:
        red = mop.reduce if isinstance(mop, FusedReduce) else (
            mop if isinstance(mop, Reduce) else None)
        if red is not None and tuple(red.axes) == (1,):
            shape = np.broadcast_shapes(*[types[k][1] for k in refs])
            return shape[0], shape[1]
    raise ValueError("RowProgram without a row reduction")


def _member_domain(types: list, refs: tuple) -> str:
    """The domain (`rowprog.domain`) a member with inputs ``refs`` computes over."""
    return domain(np.broadcast_shapes(*[types[k][1] for k in refs]))[2]


def _scratch_rows(op, types: list) -> int:
    """How many intermediates `RowKernel.template` keeps in rows of the scratch buffer."""
    outs = set(op.out_refs)
    ref, n = op.n_in, 0
    for mop, refs, mtypes in op.members:
        if not isinstance(mop, (Reduce, FusedReduce)) and _member_domain(types, refs) == "vec":
            n += sum(ref + j not in outs for j in range(len(mtypes)))
        ref += len(mtypes)
    return n
