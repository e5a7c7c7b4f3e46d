"""Choosing and building native thunks for the nodes of a program.

Elementwise nodes (`Composite`, and single `Elemwise`/`Cast` nodes as one-step composites),
reductions and row programs (`RowProgram`, ``rowgen``) get a generated C kernel; `MatMul`,
`Gemm` and `Gemv` on float32/64 and complex64/128 get BLAS (gemm/gemv). Everything else, and
everything when no C compiler exists, runs its op's NumPy ``perform``.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import warnings

import numpy as np

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.elemwise import Cast, Elemwise
from ..array.ops.linalg import Gemm, Gemv, MatMul
from ..array.ops.reduce import Reduce
from ..array.ops.rowprog import RowProgram
from ..array.ops.shape import Reshape, Transpose
from . import ccache, codegen, few_rows
from ._vm import set_gemm64
from .codegen import Kernel, ReduceKernel, c_type, single_composite
from .rowgen import RowKernel

__all__ = ["Kernel", "ReduceKernel", "RowKernel", "elementwise_kernel", "reduce_kernel",
           "row_kernel", "is_blas_matmul", "is_blas_gemm", "view_dims", "build_kernels",
           "build_templates", "use_numpy_gemm"]

BLAS_TYPES = {np.dtype(t).num for t in ("float32", "float64", "complex64", "complex128")}
_failed: set = set()
_drivers: dict = {}  # "table": the address of the package's drivers' table, or None
#: kernels by what defines them (their composite or op, and the parameters their code
#: depends on): linking a program again (a trace-cache miss of a known node) generates no
#: code; cleared when it reaches `KERNEL_MEMO_MAX` entries (it keeps their ops alive)
_kernels: dict[tuple, object] = {}
KERNEL_MEMO_MAX = 1024
#: `build_kernels`' result per template, with the kernel key's flags stamp and the bundle's
#: key: the same kernel linked again (a new shape's program) takes it while that bundle is
#: still the one loaded under its key (`ccache.loaded_as`), without a lookup, a ``ctypes``
#: cast per function or a drivers call (~5 us a kernel)
_resolved: dict[str, tuple] = {}
_NO_KERNEL = object()  # a memo entry: the node has no kernel


def _memo_kernel(key: tuple, make):
    """``make()``'s kernel or None, made once per ``key`` (see `_kernels`)."""
    k = _kernels.get(key)
    if k is None:
        if len(_kernels) >= KERNEL_MEMO_MAX:
            _kernels.clear()
        k = make()
        _kernels[key] = _NO_KERNEL if k is None else k
    return None if k is _NO_KERNEL else k


def _have_c_types(dtypes) -> bool:
    """Every one of ``dtypes`` has a C type in the kernels."""
    try:
        for dt in dtypes:
            c_type(dt)
    except TypeError:
        return False
    return True


def shared_drivers() -> int | None:
    """The address of the table of the package's kernel drivers (``_drivers.pyx``), or None
    where that module was not built (no OpenMP at build time): then each kernel bundle compiles
    its own copy (``drivers.h``)."""
    if "table" not in _drivers:
        try:
            from . import _drivers as mod
        except ImportError:
            _drivers["table"] = None
        else:
            _drivers["table"] = mod.table_address()
    return _drivers["table"]


def use_numpy_gemm(enable: bool = True) -> bool:
    """Run float32/64 gemm through the OpenBLAS NumPy's wheel ships (``numpy.libs``, 64-bit
    integer entry points; already loaded by NumPy) instead of SciPy's, where it exists: the
    two wheels' builds differ, and NumPy's was faster for fig1's products (``_blas64.pxi``).
    ``enable=False`` goes back to SciPy's. Returns whether NumPy's is used."""
    if enable:
        libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*.so"))):
            try:
                lib = ctypes.CDLL(path)
                s, d = (ctypes.cast(getattr(lib, f"scipy_{t}gemm_64_"), ctypes.c_void_p).value
                        for t in "sd")
            except (OSError, AttributeError):
                continue
            set_gemm64(s, d)
            return True
    set_gemm64(0, 0)
    return False


use_numpy_gemm()


def elementwise_kernel(node) -> Kernel | None:
    """The kernel computing ``node`` (None if it is not elementwise or has an unsupported dtype).
    """
    op = node.op
    if isinstance(op, Composite):
        comp = op
    elif isinstance(op, (Elemwise, Cast)):
        comp = single_composite(op, tuple(v.dtype for v in node.inputs), node.outputs[0].dtype)
    else:
        return None
    if len(node.inputs) + len(node.outputs) > 96 or len(node.inputs) == 0:
        return None
    scalar = tuple(_is_scalar(v.shape) and not _is_scalar(node.outputs[0].shape)
                   for v in node.inputs)
    out = node.outputs[0]
    small = (len(node.outputs) == 1 and all(isinstance(d, int) for d in out.shape)
             and math.prod(out.shape) * out.dtype.itemsize < codegen.STREAM_BYTES)
    return _memo_kernel(
        (Kernel, comp, scalar, not small),
        lambda: Kernel(comp, scalar, streaming=not small) if _have_c_types(
            (*comp.in_dtypes, *comp.out_dtypes, *(s[2] for s in comp.steps))) else None)


def reduce_kernel(node) -> ReduceKernel | None:
    """The kernel computing a ``Reduce`` or ``FusedReduce`` node (None if unsupported)."""
    op = node.op
    if isinstance(op, FusedReduce):
        comp, red = op.composite, op.reduce
    elif isinstance(op, Reduce):
        comp, red = Composite((node.inputs[0].dtype,), (), (0,)), op
    else:
        return None
    if red.kind not in ("sum", "prod", "mean", "max", "min", "all", "any"):
        return None
    if len(node.inputs) + 1 > 96 or not node.inputs or len(node.outputs) != 1:
        return None
    return _memo_kernel(
        (ReduceKernel, comp, red.kind, np.dtype(red.dtype)),
        lambda: ReduceKernel(comp, red.kind, red.dtype) if _have_c_types(
            (*comp.in_dtypes, *comp.out_dtypes, red.dtype, *(s[2] for s in comp.steps)))
        else None)


def row_kernel(node) -> RowKernel | None:
    """The kernel of a `RowProgram` node (None where a dtype has no C type)."""
    if not isinstance(node.op, RowProgram) or len(node.inputs) + len(node.outputs) > 96:
        return None
    if not _have_c_types([v.dtype for v in (*node.inputs, *node.outputs)]
                         + [dt for _op, _refs, types in node.op.members for dt, _s in types]):
        return None
    types = tuple((v.dtype, v.shape) for v in node.inputs)
    return _memo_kernel((RowKernel, node.op, types), lambda: RowKernel(node.op, list(types)))


def _is_scalar(shape: tuple) -> bool:
    return all(d == 1 for d in shape)


def is_blas_matmul(node) -> bool:
    """A `MatMul` BLAS can compute (float32/64, complex64/128)."""
    return isinstance(node.op, MatMul) and node.outputs[0].dtype.num in BLAS_TYPES


def is_blas_gemm(node) -> bool:
    """A `Gemm` or `Gemv` node BLAS can compute (float32/64, complex64/128)."""
    return isinstance(node.op, (Gemm, Gemv)) and node.outputs[0].dtype.num in BLAS_TYPES


def product_dims(node) -> tuple | None:
    """``(m, k, n)`` of a BLAS matrix-matrix product node (`MatMul`: its last two axes;
    `Gemm`), sizes known only at run time as None; None for other nodes."""
    if is_blas_matmul(node):
        a, b = node.inputs[0].shape, node.inputs[1].shape
        if len(a) < 2 or len(b) < 2:
            return None
        return a[-2], a[-1], b[-1]
    if is_blas_gemm(node):
        a, b = node.inputs[2].shape, node.inputs[3].shape
        if len(a) != 2 or len(b) != 2:  # a Gemv: gemv (or a row kernel) runs it
            return None
        return a[0], a[1], b[1]
    return None


def few_product(node, dims) -> bool:
    """A float32 product ``dims = (m, k, n)`` the `few_rows` kernels are built for, by their
    size rules (`few_rows.takes`); not one row (gemv or the row kernels) nor a reduction of
    one (the rank-1 kernels)."""
    m, k, n = dims
    return (node.outputs[0].dtype == np.float32 and m > 1 and k > 1
            and few_rows.takes(m, k, n))


def view_dims(node) -> tuple[bool, tuple[int, ...]] | None:
    """``(True, perm)`` for a `Transpose`, ``(False, shape)`` for a `Reshape` of a fully known
    shape (both run natively as `ViewThunk`); None for other nodes."""
    op = node.op
    if isinstance(op, Transpose) and len(op.perm) <= 16:
        return True, tuple(int(p) for p in op.perm)
    if (isinstance(op, Reshape) and len(op.shape) <= 16
            and all(isinstance(d, int) and d >= 0 for d in op.shape)):
        return False, tuple(op.shape)
    return None


def build_kernels(kernels: list[Kernel], defer: list[str] | None = None) -> list:
    """Load each kernel from memory or the disk cache, compiling the missing ones together
    (``ccache.load_kernels``: one compiler run per bundle, bundles built at once); returns
    ``(lib, address per symbol)`` per kernel, or None where the build failed. With a list
    ``defer``, no compiler runs: a kernel not built yet is None and its template is appended
    to ``defer`` (`build_templates` builds them later)."""
    if not kernels or not ccache.available():
        return [None] * len(kernels)
    templates = [k.cached_template() for k in kernels]
    stamp = ccache.key_stamp()
    out: list = [None] * len(kernels)
    todo = []
    for i, t in enumerate(templates):
        hit = _resolved.get(t)
        if hit is not None and hit[0] == stamp and ccache.loaded_as(hit[1], hit[2][0]):
            out[i] = hit[2]
        else:
            todo.append(i)
    if not todo:
        return out
    loaded = _load_templates([templates[i] for i in todo], build=defer is None)
    if defer is not None:  # nothing was compiled, so nothing failed: None is not built yet
        defer.extend(t for t, got in loaded.items() if got is None)
    table = shared_drivers()
    if table is not None:  # each bundle, before any of its kernels runs (a cheap call)
        for lib in {id(got[0]): got[0] for got in loaded.values() if got is not None}.values():
            lib.la_set_drivers(ctypes.c_void_p(table))
    if len(_resolved) >= KERNEL_MEMO_MAX:
        _resolved.clear()
    for i in todo:
        t = templates[i]
        got = loaded.get(t)
        if got is None:
            continue
        lib, sfx = got
        out[i] = (lib, *[ctypes.cast(getattr(lib, sym + sfx), ctypes.c_void_p).value
                         for sym in kernels[i].symbols])
        _resolved[t] = (stamp, sfx[1:], out[i])
    return out


def build_templates(templates: list[str]) -> None:
    """Compile the kernels of ``templates`` (from `build_kernels`' ``defer``) into the disk
    and memory caches, so that linking their nodes again loads them; a kernel that fails to
    build runs on NumPy from then on (one warning)."""
    if templates and ccache.available():
        _load_templates(templates)


def _load_templates(templates: list[str], build: bool = True) -> dict:
    """``(library, name suffix)`` per distinct template not known to fail, or None where it
    failed to build now (remembered in `_failed`, one warning) or, without ``build``, is not
    built yet."""
    prelude = codegen.prelude(ccache.have_mvec(), shared_drivers() is not None)
    todo = [t for t in dict.fromkeys(templates) if t not in _failed]
    loaded = dict(zip(todo, ccache.load_kernels(prelude, todo, codegen.SUFFIX, build=build)))
    for t, got in loaded.items():
        if isinstance(got, Exception):
            _failed.add(t)
            warnings.warn(f"lazyarr: a kernel failed to build, using NumPy for it: {got}",
                          RuntimeWarning, stacklevel=4)
            loaded[t] = None
    return loaded
