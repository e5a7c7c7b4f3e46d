"""C source for fused elementwise kernels (`Composite`, single `Elemwise`/`Cast` nodes).

One kernel source holds two entry points, both depending only on the expression, the dtypes and
the layout class (which inputs are broadcast scalars), never on sizes:

* ``la_contig(n, ptrs, nthreads)``: every non-scalar operand is C-contiguous with ``n`` elements;
  a scalar operand (one element, broadcast) is read once. The loop is ``omp simd`` (vectorized,
  glibc's libmvec for exp/sin/cos/...) and ``omp parallel for`` above a cost threshold. A single
  float/double output of 4 MiB or more is written with non-temporal stores (x86 AVX, GCC).
* ``la_strided(ndim, shape, ptrs, strides, nthreads)``: any shapes, byte strides (0 where an
  operand is broadcast, negative for reversed views), ``strides`` is ``nargs x ndim`` row-major.
  It calls the shared row driver ``la_strided_rows`` (``drivers.h``), which runs every row
  through the contiguous loop, staging operands that do not step by one element through buffers.

``ptrs`` lists the inputs, then the outputs.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np

from ..array.ops.composite import Composite
from ..array.ops.scalar_table import TABLE

C_TYPE = {
    "b": "_Bool", "i1": "int8_t", "i2": "int16_t", "i4": "int32_t", "i8": "int64_t",
    "u1": "uint8_t", "u2": "uint16_t", "u4": "uint32_t", "u8": "uint64_t",
    "f4": "float", "f8": "double", "c8": "c64_t", "c16": "c128_t",
}

#: functions that cost far more than an add (they weigh on the OpenMP threshold)
_EXPENSIVE = {"exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "asin",
              "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "pow", "atan2",
              "hypot", "logaddexp", "sqrt", "divide", "floor_divide", "remainder"}

#: work (elements x weighted ops) above which a loop runs on several threads: ~50 us of serial
#: work (one unit ~25 ps). A region after a long BLAS call finds the other threads asleep, and
#: waking them cost ~100 us on a virtual machine: the deep1000x3 SGD step at minibatch 60 spent
#: 102-157 us in each tanh (60k elements) and each (1 - h * h) * g at 1 << 17, 15-66 us serial
#: (the step 5.09 -> 4.58 ms)
PARALLEL_WORK = 1 << 21

#: libm functions whose vector variants glibc's libmvec has (float and double)
_MVEC_1 = ["sin", "cos", "exp", "log", "acos", "acosh", "asin", "asinh", "atan", "atanh",
           "cosh", "sinh", "tan", "tanh", "expm1", "log10", "log1p", "log2", "exp2"]
_MVEC_2 = ["pow", "atan2", "hypot"]
#: complex C expressions that keep the operand's precision (``cabs`` works in double)
#: and NumPy's complex division (Smith's method, inf for a nonzero over zero)
_COMPLEX_C = {"abs": "LA_ABS({0})", "divide": "LA_CDIV({0}, {1})",
              "reciprocal": "LA_CRECIP({0})"}
_PRELUDE = (Path(__file__).with_name("prelude.h")).read_text()
_DRIVERS = (Path(__file__).with_name("drivers.h")).read_text()


def c_type(dt: np.dtype) -> str:
    """C type of a NumPy dtype of the standard (complex as C99 ``_Complex``)."""
    dt = np.dtype(dt)
    key = "b" if dt.kind == "b" else f"{dt.kind}{dt.itemsize}"
    try:
        return C_TYPE[key]
    except KeyError:
        raise TypeError(f"no C kernel for dtype {dt}") from None


def mvec_decls(have_mvec: bool) -> str:
    """``omp declare simd`` declarations that let loops call libmvec's vector math."""
    if not have_mvec:
        return ""
    out = []
    for names, args in ((_MVEC_1, 1), (_MVEC_2, 2)):
        for n in names:
            for t, suffix in (("double", ""), ("float", "f")):
                params = ", ".join([t] * args)
                out.append("#pragma omp declare simd notinbranch\n"
                           f"extern {t} {n}{suffix}({params});")
    return "\n".join(out)


@functools.cache
def prelude(have_mvec: bool, shared_drivers: bool) -> str:
    """The C prelude every kernel source starts with (types, ``LA_*`` helpers, the drivers'
    interface). ``shared_drivers``: the kernels call the package's drivers through the table
    ``la_set_drivers`` receives (``_drivers.pyx``); else each bundle compiles its own copy."""
    drivers = _DRIVERS if shared_drivers else "#define LA_DRIVERS_IMPL 1\n" + _DRIVERS
    return _PRELUDE.replace("LA_MVEC_DECLS", mvec_decls(have_mvec)).replace("LA_DRIVERS",
                                                                          drivers)


#: placeholder ending the names of a kernel template's functions: several kernels share one
#: translation unit (``ccache.load_kernels``), each under its own names
SUFFIX = "__LA_K"
_OWN_NAMES = re.compile(
    r"\b(la_contig|la_strided|la_span|la_rrow|la_reduce|la_sizes|la_rowprog)\b")


#: attribute of the functions whose loops are not hot (the entry points' dispatch; a bundle's
#: own copy of the drivers uses the same, ``drivers.h``): the vectorized loops (``la_span``,
#: the streaming blocks, reductions' rows) take the command line's ``-O2``. The command line's
#: floating-point flags (``-ffp-contract=off``, ...) apply.
COLD = '__attribute__((optimize("O1")))'


#: statements of a kernel's expression past which the functions holding its loop are compiled
#: without GCC's points-to analysis and with its priority register allocator: both took time
#: growing about as the square of a basic block's length (GCC 12, a chain of 4000 `x * c + d`:
#: 4.3 s to compile, 8000: ~19 s; with these options 1.2 s and 2.5 s, the same vector code;
#: a kernel's loop has no pointers but its operands' for the analysis to tell apart)
LONG_BODY = 512


def _long_body_options(body: list[str]) -> str:
    """The attribute (with a trailing space) of a function holding ``body``'s loop: none
    below `LONG_BODY` statements. The command line's floating-point flags still apply."""
    if len(body) <= LONG_BODY:
        return ""
    return '__attribute__((optimize("no-tree-pta", "ira-algorithm=priority"))) '


#: steps whose C calls a libm function that loops reach in libmvec's vector variants
_VECTOR_MATH = frozenset(_MVEC_1 + _MVEC_2 + ["logaddexp"])
#: the attribute (prelude.h) of a function whose loop calls vector math: 512-bit vectors where
#: the machine does them well (`ccache.wide_math`). On a Zen 5 core, one thread, 1M values:
#: float32 tanh 0.52 -> 0.20 ms, exp(-x*x/2)*sin(x) + 0.5*x*cos(x) 0.98 -> 0.63 ms, float64
#: tanh 1.86 -> 0.97 ms; the same width on plain arithmetic (x * 2 + m) made it ~15% slower
LA_MATH_LOOP = "LA_MATH_LOOP "


def _math_options(comp: Composite) -> str:
    """`LA_MATH_LOOP` (with a trailing space) when ``comp`` calls vector math on real floats,
    else nothing."""
    dts = list(comp.in_dtypes)
    for name, args, dt, _value in comp.steps:
        dts.append(dt)
        if (name in _VECTOR_MATH and np.dtype(dt).kind == "f"
                and np.dtype(dts[args[-1]]).kind == "f"):
            return LA_MATH_LOOP
    return ""


def _suffixed(code: str) -> str:
    return _OWN_NAMES.sub(lambda m: m.group(1) + SUFFIX, code)


def _work_defines(cost: int) -> list[str]:
    """The kernel's work per element and the threading threshold (redefined per kernel)."""
    return ["#undef LA_WORK", "#undef LA_PAR_WORK", f"#define LA_WORK {cost}",
            f"#define LA_PAR_WORK {PARALLEL_WORK}"]


def standalone(template: str, have_mvec: bool) -> str:
    """A kernel template as one translation unit of its own, with its plain symbol names and
    its own copy of the drivers (runnable as loaded)."""
    return prelude(have_mvec, False) + "\n" + template.replace(SUFFIX, "")


def c_literal(value, dt: np.dtype) -> str:
    """An exact C literal of ``value`` converted to ``dt``."""
    dt = np.dtype(dt)
    t = c_type(dt)
    a = np.asarray(value).astype(dt)
    v = a.item()
    if dt.kind == "b":
        return "1" if v else "0"
    if dt.kind in "iu":
        if dt.kind == "i" and v == -(2 ** 63):
            return "((int64_t)(-9223372036854775807LL - 1))"
        return f"(({t}){v}{'ULL' if dt.kind == 'u' else 'LL'})"
    if dt.kind == "f":
        return f"(({t}){_float_lit(a)})"
    r = "float" if dt.itemsize == 8 else "double"
    return f"__builtin_complex(({r}){_float_lit(a.real)}, ({r}){_float_lit(a.imag)})"


def _float_lit(a: np.ndarray) -> str:
    """A C expression of type ``float`` or ``double`` (as ``a``, a 0-d float32 or float64)
    equal to ``a``; a NaN by its bits (sign and payload, which ``NAN`` would drop)."""
    x = float(a)
    if math.isnan(x):
        if a.dtype.itemsize == 4:
            return f"((union {{ uint32_t u; float f; }}){{ .u = {int(a.view(np.uint32)):#x}U }}).f"
        return (f"((union {{ uint64_t u; double f; }})"
                f"{{ .u = {int(a.view(np.uint64)):#x}ULL }}).f")
    if math.isinf(x):
        return "INFINITY" if x > 0 else "(-INFINITY)"
    return x.hex()


class KernelSource:
    """A kernel's C code: ``template()`` makes it, `cached_template` makes it once (a kernel
    is not changed once made, and `native` reuses kernels across programs)."""

    def template(self) -> str:
        raise NotImplementedError

    def cached_template(self) -> str:
        t = self.__dict__.get("_template")
        if t is None:
            t = self._template = self.template()
        return t


class Kernel(KernelSource):
    """Source of one elementwise kernel and what the VM needs to call it."""

    symbols = ("la_contig", "la_strided")

    def __init__(self, comp: Composite, scalar_in: tuple[bool, ...], streaming: bool = True):
        """``streaming=False``: the output is known to stay under `STREAM_BYTES` (a static
        shape), so the streaming path (a second vectorized copy of the expression, ~12 % of a
        kernel's compile time) is left out."""
        self.comp = comp
        self.scalar_in = scalar_in
        self.streaming = streaming
        self.n_in = len(comp.in_dtypes)
        self.n_out = comp.nout
        self.body, self.cost = _body(comp)

    def source(self, have_mvec: bool) -> str:
        """The kernel alone in one translation unit (prelude included, plain symbol names)."""
        return standalone(self.template(), have_mvec)

    def template(self) -> str:
        """The kernel's C code after the prelude; its functions' names end in `SUFFIX`."""
        comp, n_in = self.comp, self.n_in
        outs = [c_type(dt) for dt in comp.out_dtypes]
        ins = [c_type(dt) for dt in comp.in_dtypes]
        lines = [*_work_defines(self.cost)]
        # -- contiguous entry point: one loop (la_span) called by every path, so that the
        # compiler vectorizes the expression once (each copy of the loop costs compile time)
        decls = []
        for i, t in enumerate(ins):
            if self.scalar_in[i]:
                decls.append(f"  const {t} s{i} = *(const {t} *)p[{i}];")
            else:
                decls.append(f"  const {t} *a{i} = (const {t} *)p[{i}];")
        for j, t in enumerate(outs):
            decls.append(f"  {t} *o{j} = ({t} *)p[{n_in + j}];")
        loads = [f"const {t} x{i} = s{i};" if self.scalar_in[i] else f"const {t} x{i} = a{i}[i];"
                 for i, t in enumerate(ins)]
        stores = [f"o{j}[i] = v{r};" for j, r in enumerate(comp.out_refs)]
        inner = " ".join(loads + self.body + stores)
        long_body = _long_body_options(self.body) + _math_options(comp)
        lines.append(f"static __attribute__((noinline)) {long_body}void la_span(int64_t lo, "
                     "int64_t hi, char **p) {")
        lines += decls
        lines += ["  #pragma omp simd",
                  f"  for (int64_t i = lo; i < hi; i++) {{ {inner} }}", "}"]
        streams = self.streaming and len(outs) == 1 and outs[0] in ("float", "double")
        lines.append(f"{long_body if streams else ''}void la_contig(int64_t n, char **p, "
                     "int nt) {")
        if streams:
            lines += decls
            nt_body = " ".join(loads + self.body + [f"t[j] = v{comp.out_refs[0]};"])
            lines += _streaming_loop(outs[0], nt_body)
        lines += [
            "  if (nt <= 1 || n * LA_WORK < LA_PAR_WORK) { la_span(0, n, p); return; }",
            "  la_contig_threads(n, p, nt, la_span);", "}"]
        # -- strided entry point: the shared row driver (drivers.h) runs each row through
        # la_span (operands staged through buffers where they do not step by one element)
        sizes = ", ".join([str(-np.dtype(dt).itemsize if sc else np.dtype(dt).itemsize)
                           for dt, sc in zip(comp.in_dtypes, self.scalar_in)]
                          + [str(np.dtype(dt).itemsize) for dt in comp.out_dtypes])
        lines += [
            f"static const int la_sizes[] = {{{sizes}}};",
            f"{COLD} void la_strided(int64_t nd, const int64_t *shape, char **p, "
            "const int64_t *st, int nt) {",
            f"  la_strided_rows(nd, shape, p, st, nt, {n_in}, {n_in + self.n_out}, la_sizes, "
            "la_span, LA_WORK, LA_PAR_WORK);",
            "}"]
        return _suffixed("\n".join(lines) + "\n")


#: at most this many elements per block when a reduction's run is staged through stack buffers
#: (inputs broadcast along it or not stepping by one element); the prelude's elementwise row
#: driver uses the same bound
ROW_BLOCK = 256
#: elements of a reduction's row read in place per block (the block's partial result is then
#: folded into the row's; 16 KiB of doubles: the fold costs nothing measurable)
SUM_BLOCK = 2048
#: bytes of a reduction row's stack buffers (all inputs together)
STAGE_BYTES = 32768


def _rrow_blocks(ins: list[str], sizes: list[int], simd: str, code: str,
                 open_block: str, close_block: str) -> list[str]:
    """``la_rrow``'s run along the last reduced axis: inputs stepping by one element are read in
    place, a broadcast one (stride 0) from a stack buffer filled once per run, any other is
    gathered into its buffer block by block (``la_copy``), so the one ``omp simd`` reduction
    loop (``code``, reading ``a<i>[i]``) serves every layout. Each block (at most
    `SUM_BLOCK` elements read in place) starts with ``open_block`` and ends with
    ``close_block``: a sum accumulates a block, then adds it to the row's total, so its
    rounding error grows with the number of blocks, not of elements (NumPy's pairwise
    summation is as accurate)."""
    blk = max(1, min(ROW_BLOCK, STAGE_BYTES // max(1, sum(sizes))))
    unit = [f"t{i} == {sz}" for i, sz in enumerate(sizes)]
    lines = [f"{t} b{i}[{blk}];" for i, t in enumerate(ins)]
    lines.append(f"const int64_t blk = ({' && '.join(unit) or '1'}) ? "
                 f"(inner < {SUM_BLOCK} ? inner : {SUM_BLOCK}) : {blk};")
    lines.append("const int64_t fill = inner < blk ? inner : blk;")
    for i, t in enumerate(ins):
        lines.append(f"if (t{i} == 0) {{ const {t} c = *(const {t} *)z{i}; "
                     f"for (int64_t j = 0; j < fill; j++) b{i}[j] = c; }}")
    ptrs = [f"const {t} *a{i} = t{i} == {sz} ? (const {t} *)(z{i} + base * t{i}) : b{i};"
            for i, (t, sz) in enumerate(zip(ins, sizes))]
    gathers = [f"if (t{i} != 0 && t{i} != {sz}) "
               f"la_copy((char *)b{i}, {sz}, z{i} + base * t{i}, t{i}, len, {sz});"
               for i, sz in enumerate(sizes)]
    return [*lines,
            "for (int64_t base = 0; base < inner; base += blk) {",
            "  const int64_t len = inner - base < blk ? inner - base : blk;",
            *("  " + g for g in gathers),
            "  " + " ".join(ptrs),
            f"  {open_block}",
            f"  {simd}",
            f"  for (int64_t i = 0; i < len; i++) {{ {code} }}",
            f"  {close_block}",
            "}"]


#: outputs of at least this many bytes are written with streaming stores
STREAM_BYTES = 1 << 22
#: elements per block of the streaming loop (computed into a stack buffer, then streamed)
STREAM_BLOCK = 1024


def _streaming_loop(t: str, block_body: str) -> list[str]:
    """The large-output path of ``la_contig`` (one float/double output): head up to a 32-byte
    boundary (``la_span``), blocks computed into an aligned stack buffer (``omp simd``) and
    written with non-temporal stores (``omp for`` across threads), then the tail (``la_span``)."""
    return [
        "#if LA_HAVE_NT",
        f"  if (n * (int64_t)sizeof({t}) >= {STREAM_BYTES} "
        f"&& ((uintptr_t)o0 % sizeof({t})) == 0) {{",
        f"    int64_t head = (int64_t)(((32 - ((uintptr_t)o0 & 31)) & 31) / sizeof({t}));",
        f"    const int64_t nb = (n - head) / {STREAM_BLOCK};",
        "    la_span(0, head, p);",
        "    #pragma omp parallel num_threads(nt) if(nt > 1)",
        "    {",
        f"      {t} t[{STREAM_BLOCK}] __attribute__((aligned(64)));",
        "      #pragma omp for schedule(dynamic, 16) nowait",
        "      for (int64_t b = 0; b < nb; b++) {",
        f"        const int64_t base = head + b * {STREAM_BLOCK};",
        "        #pragma omp simd",
        f"        for (int64_t j = 0; j < {STREAM_BLOCK}; j++) {{ const int64_t i = base + j; "
        f"{block_body} }}",
        f"        for (int64_t j = 0; j < {STREAM_BLOCK}; j += 32 / sizeof({t})) "
        f"LA_STREAM_{t}(o0 + base + j, t + j);",
        "      }",
        "      LA_SFENCE();",
        "    }",
        f"    la_span(head + nb * {STREAM_BLOCK}, n, p);",
        "    return;",
        "  }",
        "#endif",
    ]


def _cast(v: str, src: np.dtype, dst: np.dtype, t: str) -> str:
    """C for casting ``v`` from ``src`` to ``dst`` (C type ``t``). A float goes to a 4- or
    8-byte integer through the prelude's ``la_f2<i|u><bits>_<F>`` (NumPy's values on x86 out of
    range, and no trunc() once GCC folds a float -> int -> float round trip), to an 8- or
    16-bit integer through int32, as NumPy's conversion does on x86. complex128 -> complex64
    goes through the prelude's ``la_c128_to_c64``."""
    if src.kind == "f" and dst.kind in "iu" and dst.itemsize >= 4:
        return f"la_f2{dst.kind}{dst.itemsize * 8}_{c_type(src)}({v})"
    if src.kind == "f" and dst.kind in "iu":
        v = f"la_f2i32_{c_type(src)}({v})"
    if src == np.complex128 and dst == np.complex64:
        return f"la_c128_to_c64({v})"
    return f"({t}){v}"


def _body(comp: Composite) -> tuple[list[str], int]:
    """Statements computing every step from ``x0..`` into ``v<ref>``; and the work per element."""
    n_in = len(comp.in_dtypes)
    dts = list(comp.in_dtypes)
    body = [f"const {c_type(dt)} v{i} = x{i};" for i, dt in enumerate(comp.in_dtypes)]
    cost = 1
    for k, (name, args, dt, value) in enumerate(comp.steps):
        ref = n_in + k
        t = c_type(dt)
        if name == "const":
            expr = c_literal(value, dt)
        elif name == "cast":
            expr = _cast(f"v{args[0]}", np.dtype(dts[args[0]]), np.dtype(dt), t)
        else:
            row = TABLE[name]
            operand = dts[args[-1]]
            fmt = row.c
            if np.dtype(operand).kind == "c":
                fmt = _COMPLEX_C.get(name) or row.c_complex or row.c
            expr = fmt.format(*[f"v{a}" for a in args])
            cost += 20 if name in _EXPENSIVE else 1
        body.append(f"const {t} v{ref} = {expr};")
        dts.append(dt)
    return body, cost


def single_composite(op, in_dtypes: tuple, out_dtype: np.dtype) -> Composite:
    """A one-step composite equal to an ``Elemwise``/``Cast`` node on ``in_dtypes``."""
    from ..array.ops.elemwise import Cast

    n = len(in_dtypes)
    if isinstance(op, Cast):
        step = ("cast", (0,), np.dtype(out_dtype), None)
    else:
        step = (op.fn.name, tuple(range(n)), np.dtype(out_dtype), None)
    return Composite(tuple(np.dtype(d) for d in in_dtypes), (step,), (n,))


#: reduction kinds: (accumulator init, combine ``{a}`` with ``{v}``, omp reduction operator)
_REDUCE = {
    "sum": ("0", "{a} += {v};", "+"),
    "mean": ("0", "{a} += {v};", "+"),
    "prod": ("1", "{a} *= {v};", "*"),
    "max": (None, "{a} = {v} > {a} ? {v} : {a};", "max"),
    "min": (None, "{a} = {v} < {a} ? {v} : {a};", "min"),
    "all": ("1", "{a} = {a} && {v};", "&&"),
    "any": ("0", "{a} = {a} || {v};", "||"),
}


def _acc_type(kind: str, in_dt: np.dtype, out_dt: np.dtype) -> str:
    if kind in ("all", "any"):
        return "_Bool"
    if kind in ("max", "min"):
        return c_type(in_dt)
    if out_dt.kind == "f":
        return "double"
    if out_dt.kind == "c":
        return "c128_t"
    return c_type(out_dt)


def _extreme(kind: str, dt: np.dtype) -> str:
    """The identity of max/min in type ``dt``."""
    if dt.kind == "f":
        return "(-INFINITY)" if kind == "max" else "INFINITY"
    if dt.kind == "b":
        return "0" if kind == "max" else "1"
    info = np.iinfo(dt)
    return c_literal(info.min if kind == "max" else info.max, dt)


class ReduceKernel(KernelSource):
    """A reduction of a single-output composite's value (``FusedReduce``; a plain ``Reduce`` is
    the composite with no steps) over some axes, the prologue computed in the same pass.

    ``la_reduce(nk, kshape, nr, rshape, ptrs, kst, rst, nt)``: ``nk`` kept axes (sizes
    ``kshape``; byte strides ``kst``, ``(nin + 1) x nk``, the output's last) and ``nr`` reduced
    axes (``rshape``; ``rst``, ``nin x nr``). Threads split the kept positions; float sums
    accumulate in double."""

    symbols = ("la_reduce",)

    def __init__(self, comp: Composite, kind: str, out_dtype: np.dtype):
        self.comp, self.kind, self.out_dtype = comp, kind, np.dtype(out_dtype)
        self.n_in = len(comp.in_dtypes)
        self.body, self.cost = _body(comp)

    def source(self, have_mvec: bool) -> str:
        """The kernel alone in one translation unit (prelude included, plain symbol names)."""
        return standalone(self.template(), have_mvec)

    def template(self) -> str:
        """The kernel's C code after the prelude; its functions' names end in `SUFFIX`."""
        comp, kind, n_in = self.comp, self.kind, self.n_in
        val_dt = np.dtype(comp.out_dtypes[0])
        acc_t = _acc_type(kind, val_dt, self.out_dtype)
        out_t = c_type(self.out_dtype)
        ins = [c_type(dt) for dt in comp.in_dtypes]
        init, combine, red = _REDUCE[kind]
        if init is None:
            init = _extreme(kind, val_dt)
        fnan = kind in ("max", "min") and val_dt.kind == "f"
        simd = "" if (acc_t == "c128_t" or val_dt.kind == "c") else (
            f"#pragma omp simd reduction({red}:acc)" + (" reduction(|:nan)" if fnan else ""))
        r = comp.out_refs[0]
        step = combine.format(a="acc", v="v") + (" nan |= (v != v);" if fnan else "")
        open_block, close_block = f"{acc_t} acc = {init};", combine.format(a="racc", v="acc")
        row_total = combine.format(a="total", v="racc")
        if kind == "prod" and acc_t == "c128_t":
            # NumPy's order: ((1 * x0) * x1) * ..., one running product. 1 + 0j is no
            # identity of complex multiplication with an infinite part ((1 + 0j) * (nan +
            # infj) is nan + nanj), so blocks and rows are not multiplied into it each
            # from a 1 of their own.
            step = "total *= v;"
            open_block = close_block = row_total = ""
        unit = [f"const {t} x{i} = a{i}[i];" for i, t in enumerate(ins)]
        if val_dt.kind == "f" and acc_t == out_t and self.out_dtype.kind in "iu":
            # a float summed into an integer dtype converts as `astype` does (a plain C
            # cast of a negative or out-of-range value is undefined: AVX-512 saturates)
            conv = _cast(f"v{r}", val_dt, self.out_dtype, acc_t)
        else:
            conv = f"({acc_t})v{r}"
        run = _rrow_blocks(
            ins, [np.dtype(dt).itemsize for dt in comp.in_dtypes], simd,
            " ".join(unit + self.body) + f" const {acc_t} v = {conv}; {step}",
            open_block, close_block)
        final = "total"
        if kind == "mean" and acc_t == "c128_t":
            # NumPy divides a complex sum by the count as a complex number (count + 0j)
            final = "la_cdiv_c128_t(total, __builtin_complex((double)count, 0.0))"
        elif kind == "mean":
            final = "total / (double)count"
        elif fnan:
            final = "(anynan ? NAN : total)"
        lines = [
            *_work_defines(self.cost),
            # one output element per call of la_rrow: the serial path never enters OpenMP
            f"static __attribute__((noinline)) {_long_body_options(self.body)}"
            f"{_math_options(comp)}void la_rrow(int64_t o, int64_t nk, "
            "const int64_t *kshape, int64_t nr, const int64_t *rshape, char **p, "
            "const int64_t *kst, const int64_t *rst, int64_t rest, int64_t inner) {",
            "  const int64_t count = rest * inner;",
            "  {",
            "    " + " ".join(f"char *q{a} = p[{a}];" for a in range(n_in + 1)),
            "    int64_t ro = o;",
            "    for (int64_t d = nk - 1; d >= 0; d--) {",
            "      int64_t k = ro % kshape[d]; ro /= kshape[d];",
            "      " + " ".join(f"q{a} += k * kst[{a} * nk + d];" for a in range(n_in + 1)),
            "    }",
            f"    {acc_t} total = {init}; _Bool anynan = 0;",
            "    for (int64_t rr = 0; rr < rest; rr++) {",
            "      " + " ".join(f"char *z{a} = q{a};" for a in range(n_in)),
            "      int64_t rem = rr;",
            "      for (int64_t d = nr - 2; d >= 0; d--) {",
            "        int64_t k = rem % rshape[d]; rem /= rshape[d];",
            "        " + " ".join(f"z{a} += k * rst[{a} * nr + d];" for a in range(n_in)),
            "      }",
            "      " + " ".join(f"const int64_t t{a} = rst[{a} * nr + nr - 1];"
                                for a in range(n_in)),
            f"      {acc_t} racc = {init}; _Bool nan = 0;",
            *("      " + x for x in run),
            f"      anynan |= nan; {row_total}",
            "    }",
            "    (void)anynan; (void)count;",
            f"    *({out_t} *)q{n_in} = ({out_t})({final});",
            "  }",
            "}",
            f"{COLD} void la_reduce(int64_t nk, const int64_t *kshape, int64_t nr, "
            "const int64_t *rshape, char **p, const int64_t *kst, const int64_t *rst, int nt) {",
            "  la_reduce_rows(nk, kshape, nr, rshape, p, kst, rst, nt, la_rrow, LA_WORK, "
            "LA_PAR_WORK);",
            "}"]
        return _suffixed("\n".join(lines) + "\n")
