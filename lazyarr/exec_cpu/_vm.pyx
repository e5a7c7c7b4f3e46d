# cython: language_level=3
"""The linear VM: a linked program's loop, in Cython.

A program is a list of thunks over one storage list. A `Thunk` calls its op's NumPy
implementation (a Python call); an `ElemThunk` calls a generated C kernel through a function
pointer and a `MatMulThunk` calls BLAS (``scipy.linalg.cython_blas``), both with no Python call.
Values no later thunk reads are dropped at once; buffers of intermediate values are kept by their
thunk and reused on the next call. Outputs that escape to the caller are new arrays, except that
an elementwise thunk takes back the array it handed out last call once nothing else holds it
(its reference count says so): a loop that drops each result allocates nothing. What
programs keep so is bounded: past `set_keep_budget`'s bytes, the programs run least recently
let their buffers go (`_Keeper._kept_now`).
Graphs with lazy nodes (``cond``) run as a `LazyProgram` (``_lazy.pxi``): thunks only a lazy
node's untaken input needs never run.
"""

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy, memset
from cpython.ref cimport PyObject, Py_REFCNT
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from collections import OrderedDict

import numpy as np

from .errors import annotate
from .fpstate import enter as _fp_enter, leave as _py_fp_leave
from . import fpstate as _fpstate
from cpython.contextvars cimport PyContextVar_Get, PyContextVar_Reset, PyContextVar_Set
from cpython.ref cimport Py_XDECREF

cdef object _fp_cv = getattr(_fpstate, "_cv", None)
cdef object _fp_ignore = getattr(_fpstate, "_IGNORE", None)


cdef inline object _fp_quiet():
    """`fpstate.enter` unless warnings are already off (a program run by a loop or branch of
    another program): None then, nothing to restore. NumPy's context variable is read and set
    through the C API (no Python frame: ~0.4 us less per program call)."""
    cdef PyObject* cur = NULL
    if _fp_cv is None:
        return _fp_enter()
    PyContextVar_Get(_fp_cv, NULL, &cur)
    Py_XDECREF(cur)  # compared by address only; the variable keeps its value alive
    if cur == <PyObject*>_fp_ignore:
        return None
    return PyContextVar_Set(_fp_cv, _fp_ignore)


cdef inline int _fp_leave(object token) except -1:
    """`fpstate.leave`: restore the state saved by `_fp_quiet` or `fpstate.enter`."""
    if _fp_cv is None:
        _py_fp_leave(token)
    else:
        PyContextVar_Reset(_fp_cv, token)
    return 0

cnp.import_array()

DEF MAXARGS = 96
DEF MAXDIM = 16

ctypedef void (*contig_fn)(int64_t, char **, int) noexcept nogil
ctypedef void (*strided_fn)(int64_t, const int64_t *, char **, const int64_t *, int) noexcept nogil
ctypedef void (*reduce_fn)(int64_t, const int64_t *, int64_t, const int64_t *, char **,
                           const int64_t *, const int64_t *, int) noexcept nogil

cdef int g_threads = 1
#: above this many elements, kernels run with the GIL released
cdef int64_t NOGIL_MIN = 1 << 15
#: outputs of at least this many elements are recycled once the caller has dropped them (all
#: of them: a malloc and free of a tiny array cost ~0.2 us, as much as its kernel)
cdef int64_t RECYCLE_MIN = 1


#: the thread governor (`LinearProgram._run`): a program whose runs offer its OpenMP kernels
#: several threads (`g_par_offers` grows while it runs) is timed every `g_gov_period` seconds
#: over `GOV_TRIAL` runs as it runs now, then `GOV_TRIAL` runs with the other choice (the
#: first run of each not counted: caches follow the change); it takes the other choice when
#: that run's best time is under `GOV_TO_ONE` (to one thread) or `GOV_TO_MANY` (back to
#: several) of the current one's. Best times, not means: noise only adds. On a virtual
#: machine whose two cores sometimes sat far apart (a cross-core round trip of ~420 ns,
#: against 75-160 ns), fig1's compiled mlp500 b10 step ran 44-45k examples/s on 2 threads and
#: 94-96k on one, moments apart in one process (143k on 2 threads otherwise); deep1000x3 b10
#: 6.2-6.3k and 9.7k (18k). With the governor (0.5 s) the mlp500 b10 step ran 83-86k there
#: against 43-44k without, 74-79k against 9-31k beside a busy core (`yes`), and the same
#: 134k on near cores; deep1000x3 b10 on near cores 2-3% slower at 0.5 s (the trials' runs
#: on one thread), hence 1 s.
cdef double g_gov_period = 1.0
cdef int g_gov_one = 0      # 1 while a governed program runs its kernels on one thread
cdef int g_gov_depth = 0    # governed runs under way (an inner program is its outer's)
cdef Py_ssize_t g_par_offers = 0
cdef Py_ssize_t g_gov_trials = 0
DEF GOV_TRIAL = 6
DEF GOV_TO_ONE = 0.8
DEF GOV_TO_MANY = 0.9


def set_thread_governor(double period):
    """Seconds between the governor's trials (0: off; see `g_gov_period`); returns the
    previous value."""
    global g_gov_period
    cdef double was = g_gov_period
    g_gov_period = period
    return was


def governor_trials():
    """Trials the governor has run, in every program (tests)."""
    return g_gov_trials


def set_threads(int n):
    """Threads used by generated kernels (OpenMP ``num_threads``)."""
    global g_threads
    g_threads = n if n > 0 else 1


def get_threads():
    return g_threads


# ---- buffers kept between runs ---------------------------------------------------------------

cdef inline Py_ssize_t _nbytes1(object x):
    return cnp.PyArray_NBYTES(<cnp.ndarray>x) if type(x) is cnp.ndarray else 0


cdef Py_ssize_t _nbytes(list xs):
    cdef Py_ssize_t n = 0
    for x in xs:
        n += _nbytes1(x)
    return n


#: programs keeping fewer bytes than this between runs are not counted (nor slowed down)
cdef Py_ssize_t KEEP_MIN = 1 << 16
#: the bytes counted programs may keep between runs; past it, the least recently run let
#: theirs go
cdef Py_ssize_t g_keep_budget = 256 << 20
cdef Py_ssize_t g_kept = 0
#: the counted programs, least recently run first, by address (``id(program) -> None``: no
#: reference, a program leaves on deallocation)
cdef object g_keepers = OrderedDict()


def set_keep_budget(Py_ssize_t nbytes):
    """Let compiled programs keep at most ``nbytes`` of buffers between runs (elementwise
    outputs to take back, intermediates); returns the previous budget. Programs keeping less
    than 64 KiB are not counted."""
    global g_keep_budget
    cdef Py_ssize_t old = g_keep_budget
    g_keep_budget = nbytes if nbytes > 0 else 0
    _evict(None)
    return old


def keep_info() -> dict:
    """``{'kept': bytes, 'programs': count, 'budget': bytes}`` of the counted programs."""
    return {"kept": g_kept, "programs": len(g_keepers), "budget": g_keep_budget}


def release_kept():
    """Every counted program lets its kept buffers go now."""
    cdef Py_ssize_t budget = g_keep_budget
    set_keep_budget(0)
    set_keep_budget(budget)


cdef class _Keeper:
    """A program's thunks and the bytes they keep between runs, counted against the budget
    (`LinearProgram`, `LazyProgram`)."""
    cdef public list thunks
    #: the bytes its thunks keep between runs, measured after a run (-1: not since they were
    #: released); counted against the budget from `KEEP_MIN` up
    cdef Py_ssize_t kept

    def __cinit__(self):
        self.kept = -1

    def __dealloc__(self):
        self._forget()

    cdef int _forget(self) except -1:
        """Stop counting this program's kept bytes (measured again after its next run)."""
        global g_kept
        if self.kept >= KEEP_MIN:
            g_kept -= self.kept
            g_keepers.pop(<Py_ssize_t><void*>self, None)
        self.kept = -1
        return 0

    cdef int _kept_now(self) except -1:
        """After a run: count what the thunks keep (the first run since they were released),
        or mark this program the most recently run."""
        global g_kept
        cdef Py_ssize_t n = 0
        if self.kept >= 0:
            if self.kept >= KEEP_MIN:
                g_keepers.move_to_end(<Py_ssize_t><void*>self)
            return 0
        for t in self.thunks:
            n += (<Thunk>t).kept_bytes()
        self.kept = n
        if n >= KEEP_MIN:
            g_kept += n
            g_keepers[<Py_ssize_t><void*>self] = None
            if g_kept > g_keep_budget:
                _evict(self)
        return 0


cdef int _evict(_Keeper running) except -1:
    """Release the least recently run programs' buffers until the budget holds (not those of
    ``running``, which just ran)."""
    cdef _Keeper p
    while g_kept > g_keep_budget and len(g_keepers):
        k = next(iter(g_keepers))
        p = <_Keeper>(<object><void*><Py_ssize_t>k)
        if p is running:
            if len(g_keepers) == 1:
                break
            g_keepers.move_to_end(k)
            continue
        p._forget()
        for t in p.thunks:
            (<Thunk>t).drop_kept()
    return 0


cdef class Thunk:
    """A node run by its op's NumPy ``perform`` (one Python call)."""
    cdef public object fn
    cdef public tuple ins
    cdef public tuple outs
    cdef public tuple free
    cdef public object node
    cdef public bint single

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node):
        self.fn = fn
        self.ins = ins
        self.outs = outs
        self.free = free
        self.node = node
        self.single = len(outs) == 1

    cdef Py_ssize_t kept_bytes(self):
        """The bytes of the buffers this thunk keeps for its next run."""
        return 0

    cdef void drop_kept(self):
        """Let the buffers kept for the next run go (it allocates anew)."""
        pass

    cdef int run(self, list storage, bint shared) except -1:
        cdef tuple ins = self.ins
        cdef Py_ssize_t k = len(ins), j
        cdef object r
        if k == 1:
            r = self.fn(storage[<Py_ssize_t>ins[0]])
        elif k == 2:
            r = self.fn(storage[<Py_ssize_t>ins[0]], storage[<Py_ssize_t>ins[1]])
        else:
            r = self.fn(*[storage[j] for j in ins])
        if self.single:
            storage[<Py_ssize_t>self.outs[0]] = r
        else:
            for j in range(len(self.outs)):
                storage[<Py_ssize_t>self.outs[j]] = r[j]
        return 0


cdef class ViewThunk(Thunk):
    """A ``Reshape`` (C order; a copy when no view exists, as NumPy) or ``Transpose`` node
    through the NumPy C API, with no Python call: ``perm`` is True for a transpose, ``dims``
    the target shape or the permutation."""
    cdef bint perm
    cdef int nd
    cdef cnp.npy_intp dims[MAXDIM]

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, bint perm, tuple dims):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(dims) > MAXDIM:
            raise ValueError("too many dimensions for a native view")
        self.perm = perm
        self.nd = len(dims)
        cdef int d
        for d in range(self.nd):
            self.dims[d] = dims[d]

    cdef int run(self, list storage, bint shared) except -1:
        cdef object x = storage[<Py_ssize_t>self.ins[0]]
        if type(x) is not cnp.ndarray:
            return Thunk.run(self, storage, shared)
        cdef cnp.PyArray_Dims pd
        pd.ptr = self.dims
        pd.len = self.nd
        if self.perm:
            if cnp.PyArray_NDIM(<cnp.ndarray>x) != self.nd:
                return Thunk.run(self, storage, shared)
            storage[<Py_ssize_t>self.outs[0]] = cnp.PyArray_Transpose(<cnp.ndarray>x, &pd)
        else:
            storage[<Py_ssize_t>self.outs[0]] = cnp.PyArray_Newshape(<cnp.ndarray>x, &pd,
                                                                     cnp.NPY_CORDER)
        return 0


cdef inline bint _plain(cnp.ndarray a, int typenum):
    """Aligned, native byte order, of the expected dtype."""
    return (cnp.PyArray_TYPE(a) == typenum and cnp.PyArray_ISALIGNED(a)
            and cnp.PyArray_ISNOTSWAPPED(a))


cdef class ElemThunk(Thunk):
    """A node computed by a generated elementwise kernel (see ``codegen``)."""
    cdef contig_fn fc
    cdef strided_fn fs
    cdef int nin, nout
    cdef Py_ssize_t in_slot[MAXARGS]
    cdef Py_ssize_t out_slot[MAXARGS]
    cdef int in_type[MAXARGS]
    cdef int out_type[MAXARGS]
    cdef bint scalar_in[MAXARGS]
    cdef bint reuse[MAXARGS]
    cdef int inplace[MAXARGS]
    cdef list bufs
    cdef list handed   # per output that may not keep a buffer: the array made last call
    cdef public object lib   # keeps the shared object loaded

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, size_t fc, size_t fs,
                 tuple in_types, tuple out_types, tuple scalar_in, tuple reuse, tuple inplace,
                 lib):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(ins) + len(outs) > MAXARGS:
            raise ValueError("too many operands for a native kernel")
        self.fc = <contig_fn>fc
        self.fs = <strided_fn>fs
        self.nin = len(ins)
        self.nout = len(outs)
        cdef int i
        for i in range(self.nin):
            self.in_slot[i] = ins[i]
            self.in_type[i] = in_types[i]
            self.scalar_in[i] = scalar_in[i]
        for i in range(self.nout):
            self.out_slot[i] = outs[i]
            self.out_type[i] = out_types[i]
            self.reuse[i] = reuse[i]
            self.inplace[i] = inplace[i]
        self.bufs = [None] * self.nout
        self.handed = [None] * self.nout
        self.lib = lib

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes(self.bufs) + _nbytes(self.handed)

    cdef void drop_kept(self):
        self.bufs = [None] * self.nout
        self.handed = [None] * self.nout

    cdef int run(self, list storage, bint shared) except -1:
        cdef PyObject *arrs[MAXARGS]
        cdef char *ptrs[MAXARGS]
        cdef cnp.npy_intp shape[MAXDIM]
        cdef int i, d, nd = 0, ndi, nargs = self.nin + self.nout
        cdef cnp.npy_intp *dims
        cdef cnp.npy_intp n = 1, s
        cdef bint contig = True
        cdef object x
        cdef cnp.ndarray a, b
        # inputs: checked, then their broadcast shape (storage keeps them alive)
        for i in range(self.nin):
            x = storage[self.in_slot[i]]
            if type(x) is not cnp.ndarray:
                x = np.asarray(x)
                storage[self.in_slot[i]] = x
            a = <cnp.ndarray>x
            if not _plain(a, self.in_type[i]):
                return Thunk.run(self, storage, shared)
            arrs[i] = <PyObject *>a
            ndi = cnp.PyArray_NDIM(a)
            if ndi > nd:
                nd = ndi
        if nd > MAXDIM:
            return Thunk.run(self, storage, shared)
        for d in range(nd):
            shape[d] = 1
        for i in range(self.nin):
            a = <cnp.ndarray>arrs[i]
            ndi = cnp.PyArray_NDIM(a)
            dims = cnp.PyArray_DIMS(a)
            for d in range(ndi):
                s = dims[d]
                if s != 1:
                    if shape[nd - ndi + d] != 1 and shape[nd - ndi + d] != s:
                        # sizes known only now (a mask's result) that do not broadcast
                        _no_broadcast(arrs, self.nin)
                    shape[nd - ndi + d] = s
        for d in range(nd):
            n *= shape[d]
        for i in range(self.nin):
            a = <cnp.ndarray>arrs[i]
            if self.scalar_in[i]:
                if cnp.PyArray_SIZE(a) != 1:
                    contig = False
            elif cnp.PyArray_SIZE(a) != n or not cnp.PyArray_IS_C_CONTIGUOUS(a):
                # as many elements as the broadcast shape: only leading size-1 axes can
                # differ (n > 0 where the kernel runs), so the layout is the output's
                contig = False
            ptrs[i] = <char *>cnp.PyArray_DATA(a)
        # outputs: in place into a dead input, a reused buffer, or a fresh array
        for i in range(self.nout):
            b = None
            if self.inplace[i] >= 0 and not shared:
                a = <cnp.ndarray>arrs[self.inplace[i]]
                if (cnp.PyArray_SIZE(a) == n and cnp.PyArray_NDIM(a) == nd
                        and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISWRITEABLE(a)
                        and cnp.PyArray_TYPE(a) == self.out_type[i]):
                    b = a
            if b is None and self.reuse[i] and not shared:
                x = self.bufs[i]
                if x is not None and _same_shape(<cnp.ndarray>x, nd, shape):
                    b = <cnp.ndarray>x
            if b is None and not self.reuse[i]:  # the caller's array for it (call_into)
                b = _target(storage, self.out_slot[i], nd, shape, self.out_type[i])
            if b is None and not self.reuse[i] and not shared and n >= RECYCLE_MIN:
                # the array handed out last call, if nothing else holds it any more (this
                # list and x are its only references): no allocation, no page faults
                x = self.handed[i]
                if (x is not None and Py_REFCNT(x) == 2
                        and _same_shape(<cnp.ndarray>x, nd, shape)):
                    b = <cnp.ndarray>x
                    cnp.PyArray_ENABLEFLAGS(b, cnp.NPY_ARRAY_WRITEABLE)
            if b is None:
                b = cnp.PyArray_EMPTY(nd, shape, self.out_type[i], 0)
                if self.reuse[i] and not shared:
                    self.bufs[i] = b
                elif not shared and n >= RECYCLE_MIN:
                    self.handed[i] = b
            storage[self.out_slot[i]] = b
            arrs[self.nin + i] = <PyObject *>b
            ptrs[self.nin + i] = <char *>cnp.PyArray_DATA(b)
        if n > 0:
            if contig:
                if n >= NOGIL_MIN:
                    with nogil:
                        self.fc(n, ptrs, _kernel_threads())
                else:
                    self.fc(n, ptrs, g_threads)
            else:
                _strided(self.fs, arrs, ptrs, nargs, nd, shape, n)
        return 0


cdef int _no_broadcast(PyObject **arrs, int nin) except -1:
    """Raise NumPy's error for operands whose shapes do not broadcast."""
    cdef int i
    shapes = " ".join([str((<object>arrs[i]).shape) for i in range(nin)])
    raise ValueError(f"operands could not be broadcast together with shapes {shapes}")


cdef inline cnp.ndarray _target(list storage, Py_ssize_t slot, int nd, cnp.npy_intp *shape,
                                int typenum):
    """The array a caller placed in an output's slot before the run (`LinearProgram.call_into`)
    if the output can be written there: same shape and dtype, C-contiguous, writable."""
    cdef object x = storage[slot]
    if x is None or type(x) is not cnp.ndarray:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    if (_same_shape(a, nd, shape) and cnp.PyArray_TYPE(a) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISWRITEABLE(a)
            and cnp.PyArray_ISALIGNED(a)):
        return a
    return None


cdef inline bint _same_shape(cnp.ndarray a, int nd, cnp.npy_intp *shape):
    if cnp.PyArray_NDIM(a) != nd:
        return False
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
    cdef int d
    for d in range(nd):
        if dims[d] != shape[d]:
            return False
    return True


cdef int _strided(strided_fn fs, PyObject **arrs, char **ptrs, int nargs, int nd,
                  cnp.npy_intp *shape, cnp.npy_intp n) except -1:
    """Broadcast strides (0 on broadcast axes), merge axes that are contiguous for every
    operand, and call the strided kernel."""
    cdef int64_t st[MAXARGS * MAXDIM]
    cdef int64_t sh[MAXDIM]
    cdef int64_t cst[MAXARGS * MAXDIM]
    cdef int i, d, ndi, off, m
    cdef cnp.npy_intp *ast
    cdef cnp.npy_intp *adim
    cdef bint merge
    for i in range(nargs):
        ndi = cnp.PyArray_NDIM(<cnp.ndarray>arrs[i])
        ast = cnp.PyArray_STRIDES(<cnp.ndarray>arrs[i])
        adim = cnp.PyArray_DIMS(<cnp.ndarray>arrs[i])
        off = nd - ndi
        for d in range(nd):
            if d < off or adim[d - off] == 1:
                st[i * MAXDIM + d] = 0
            else:
                st[i * MAXDIM + d] = ast[d - off]
    # drop size-1 axes and merge mergeable neighbours
    m = 0
    for d in range(nd):
        if shape[d] == 1:
            continue
        merge = m > 0
        if merge:
            for i in range(nargs):
                if st[i * MAXDIM + m - 1] != st[i * MAXDIM + d] * shape[d]:
                    merge = False
                    break
        if merge:
            sh[m - 1] *= shape[d]
            for i in range(nargs):
                st[i * MAXDIM + m - 1] = st[i * MAXDIM + d]
        else:
            sh[m] = shape[d]
            for i in range(nargs):
                st[i * MAXDIM + m] = st[i * MAXDIM + d]
            m += 1
    if m == 0:
        m = 1
        sh[0] = 1
        for i in range(nargs):
            st[i * MAXDIM] = 0
    for i in range(nargs):
        for d in range(m):
            cst[i * m + d] = st[i * MAXDIM + d]
    if n >= NOGIL_MIN:
        with nogil:
            fs(m, sh, ptrs, cst, _kernel_threads())
    else:
        fs(m, sh, ptrs, cst, g_threads)
    return 0


include "_colsum.pxi"


cdef class ReduceThunk(Thunk):
    """A reduction (with a fused elementwise prologue) computed by a generated kernel; a
    float sum or mean over leading axes (``cols``: 1 sum, 2 mean) through `_colsum` where the
    input is C-contiguous."""
    cdef reduce_fn fr
    cdef int nin
    cdef public int cols
    cdef Py_ssize_t in_slot[MAXARGS]
    cdef int in_type[MAXARGS]
    cdef bint red_axis[MAXDIM]
    cdef int out_type
    cdef bint keepdims, reuse, no_identity
    cdef object buf
    cdef public object lib

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, size_t fr, tuple in_types,
                 int out_type, tuple axes, bint keepdims, bint reuse, lib, int cols=0,
                 bint no_identity=False):
        """``no_identity``: a max or min, whose empty reduced axis (a size the run tells)
        raises NumPy's error (the reference ``perform`` runs)."""
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.no_identity = no_identity
        self.cols = cols if len(ins) == 1 else 0
        if len(ins) + 1 > MAXARGS:
            raise ValueError("too many operands for a native kernel")
        self.fr = <reduce_fn>fr
        self.nin = len(ins)
        cdef int i
        for i in range(self.nin):
            self.in_slot[i] = ins[i]
            self.in_type[i] = in_types[i]
        for i in range(MAXDIM):
            self.red_axis[i] = i in axes
        self.out_type = out_type
        self.keepdims = keepdims
        self.reuse = reuse
        self.buf = None
        self.lib = lib

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes1(self.buf)

    cdef void drop_kept(self):
        self.buf = None

    cdef int run(self, list storage, bint shared) except -1:
        cdef PyObject *arrs[MAXARGS]
        cdef char *ptrs[MAXARGS]
        cdef cnp.npy_intp shape[MAXDIM]
        cdef cnp.npy_intp oshape[MAXDIM]
        cdef int64_t kshape[MAXDIM]
        cdef int64_t rshape[MAXDIM]
        cdef int64_t kst[MAXARGS * MAXDIM]
        cdef int64_t rst[MAXARGS * MAXDIM]
        cdef int i, d, nd = 0, ndi, off, nk = 0, nr = 0, ond = 0, nin = self.nin
        cdef cnp.npy_intp *dims
        cdef cnp.npy_intp *ast
        cdef cnp.npy_intp total = 1, s, ostride
        cdef object x
        cdef cnp.ndarray a, b
        for i in range(nin):
            x = storage[self.in_slot[i]]
            if type(x) is not cnp.ndarray:
                x = np.asarray(x)
                storage[self.in_slot[i]] = x
            a = <cnp.ndarray>x
            if not _plain(a, self.in_type[i]):
                return Thunk.run(self, storage, shared)
            arrs[i] = <PyObject *>a
            ndi = cnp.PyArray_NDIM(a)
            if ndi > nd:
                nd = ndi
        if nd > MAXDIM:
            return Thunk.run(self, storage, shared)
        for d in range(nd):
            shape[d] = 1
        for i in range(nin):
            a = <cnp.ndarray>arrs[i]
            ndi = cnp.PyArray_NDIM(a)
            dims = cnp.PyArray_DIMS(a)
            for d in range(ndi):
                s = dims[d]
                if s != 1:
                    if shape[nd - ndi + d] != 1 and shape[nd - ndi + d] != s:
                        # sizes known only now (a mask's result) that do not broadcast
                        _no_broadcast(arrs, nin)
                    shape[nd - ndi + d] = s
        if self.no_identity:
            for d in range(nd):
                if self.red_axis[d] and shape[d] == 0:
                    return Thunk.run(self, storage, shared)
        for d in range(nd):
            if self.red_axis[d]:
                if self.keepdims:
                    oshape[ond] = 1
                    ond += 1
            else:
                oshape[ond] = shape[d]
                ond += 1
                total *= shape[d]
        b = None
        if (self.reuse and not shared and self.buf is not None
                and _same_shape(<cnp.ndarray>self.buf, ond, oshape)):
            b = <cnp.ndarray>self.buf
        else:
            b = cnp.PyArray_EMPTY(ond, oshape, self.out_type, 0)
            if self.reuse and not shared:
                self.buf = b
        storage[<Py_ssize_t>self.outs[0]] = b
        if total == 0:
            return 0
        if self.cols and _colsum(self.cols, <cnp.ndarray>arrs[0], b, total):
            return 0
        for i in range(nin):
            ptrs[i] = <char *>cnp.PyArray_DATA(<cnp.ndarray>arrs[i])
        ptrs[nin] = <char *>cnp.PyArray_DATA(b)
        # kept and reduced axes; byte strides (0 where broadcast); the output is C-contiguous
        for d in range(nd):
            if self.red_axis[d]:
                rshape[nr] = shape[d]
            else:
                kshape[nk] = shape[d]
            for i in range(nin):
                a = <cnp.ndarray>arrs[i]
                ndi = cnp.PyArray_NDIM(a)
                off = nd - ndi
                dims = cnp.PyArray_DIMS(a)
                ast = cnp.PyArray_STRIDES(a)
                s = 0 if (d < off or dims[d - off] == 1) else ast[d - off]
                if self.red_axis[d]:
                    rst[i * MAXDIM + nr] = s
                else:
                    kst[i * MAXDIM + nk] = s
            if self.red_axis[d]:
                nr += 1
            else:
                nk += 1
        ostride = cnp.PyArray_ITEMSIZE(b)
        for d in range(nk - 1, -1, -1):
            kst[nin * MAXDIM + d] = ostride
            ostride *= kshape[d]
        if nk == 0:
            nk = 1
            kshape[0] = 1
            for i in range(nin + 1):
                kst[i * MAXDIM] = 0
        if nr == 0:
            nr = 1
            rshape[0] = 1
            for i in range(nin):
                rst[i * MAXDIM] = 0
        cdef int64_t ck[MAXARGS * MAXDIM]
        cdef int64_t cr[MAXARGS * MAXDIM]
        for i in range(nin + 1):
            for d in range(nk):
                ck[i * nk + d] = kst[i * MAXDIM + d]
        for i in range(nin):
            for d in range(nr):
                cr[i * nr + d] = rst[i * MAXDIM + d]
        cdef cnp.npy_intp work = total
        for d in range(nr):
            work *= rshape[d]
        if work >= NOGIL_MIN:
            with nogil:
                self.fr(nk, kshape, nr, rshape, ptrs, ck, cr, _kernel_threads())
        else:  # releasing the GIL costs more than a tiny reduction
            self.fr(nk, kshape, nr, rshape, ptrs, ck, cr, g_threads)
        return 0


include "_blas64.pxi"


cdef inline int _check_count(list args, Py_ssize_t n_in) except -1:
    """A program reads ``args[:n_in]`` without bounds checks: fewer is a ValueError."""
    if len(args) < n_in:
        raise ValueError(f"this program takes {n_in} argument arrays, got {len(args)}")
    return 0


include "_small.pxi"
include "_blas.pxi"
include "_defer.pxi"
include "_lazy.pxi"
include "_gather.pxi"


ctypedef void (*row_fn)(int64_t, int64_t, char **, const int64_t *, char *) noexcept nogil


cdef class RowThunk(Thunk):
    """A `RowProgram` node (``rewrites/rowfusion.py``) through its generated kernel
    (``rowgen``): inputs of the node's static shapes whose rows step by one element, outputs
    C-contiguous; anything else runs the NumPy ``perform``."""
    cdef row_fn fr
    cdef int nin, nout
    cdef int64_t rows, cols
    cdef Py_ssize_t slot[MAXARGS]
    cdef int typ[MAXARGS]
    cdef int nd[MAXARGS]
    cdef cnp.npy_intp dims[MAXARGS * 2]
    cdef bint reuse[MAXARGS]
    cdef list bufs
    cdef object scratch
    cdef cnp.npy_intp scratch_bytes
    cdef public object lib

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, size_t fr, tuple types,
                 tuple shapes, tuple reuse, int64_t rows, int64_t cols, int n_tmp, lib):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(ins) + len(outs) > MAXARGS or any(len(sh) > 2 for sh in shapes):
            raise ValueError("too many operands for a native row program")
        self.fr = <row_fn>fr
        self.nin = len(ins)
        self.nout = len(outs)
        self.rows, self.cols = rows, cols
        cdef int i, d
        for i, s in enumerate(ins + outs):
            self.slot[i] = s
            self.typ[i] = types[i]
            self.nd[i] = len(shapes[i])
            for d in range(len(shapes[i])):
                self.dims[2 * i + d] = shapes[i][d]
        for i in range(self.nout):
            self.reuse[i] = reuse[i]
        self.bufs = [None] * self.nout
        self.scratch = None
        self.scratch_bytes = max(n_tmp, 1) * cols * 8
        self.lib = lib

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes(self.bufs) + _nbytes1(self.scratch)

    cdef void drop_kept(self):
        self.bufs = [None] * self.nout
        self.scratch = None

    cdef int run(self, list storage, bint shared) except -1:
        cdef char *ptrs[MAXARGS]
        cdef int64_t rs[MAXARGS]
        cdef int i, d, k
        cdef object x
        cdef cnp.ndarray a
        cdef cnp.npy_intp *dm
        cdef cnp.npy_intp *st
        for i in range(self.nin):
            x = storage[self.slot[i]]
            if type(x) is not cnp.ndarray:
                return Thunk.run(self, storage, shared)
            a = <cnp.ndarray>x
            if not _plain(a, self.typ[i]) or cnp.PyArray_NDIM(a) != self.nd[i]:
                return Thunk.run(self, storage, shared)
            dm = cnp.PyArray_DIMS(a)
            st = cnp.PyArray_STRIDES(a)
            for d in range(self.nd[i]):
                if dm[d] != self.dims[2 * i + d]:
                    return Thunk.run(self, storage, shared)
            k = self.nd[i]
            if k and dm[k - 1] > 1 and st[k - 1] != cnp.PyArray_ITEMSIZE(a):
                return Thunk.run(self, storage, shared)
            rs[i] = st[0] if (k and dm[0] == self.rows and self.rows > 1) else 0
            ptrs[i] = <char *>cnp.PyArray_DATA(a)
        cdef cnp.ndarray b
        for i in range(self.nout):
            k = self.nin + i
            b = None
            if self.reuse[i] and not shared:
                x = self.bufs[i]
                if x is not None:
                    b = <cnp.ndarray>x
            if b is None:
                b = cnp.PyArray_EMPTY(self.nd[k], &self.dims[2 * k], self.typ[k], 0)
                if self.reuse[i] and not shared:
                    self.bufs[i] = b
            storage[self.slot[k]] = b
            rs[k] = (cnp.PyArray_STRIDES(b)[0] if (self.nd[k] and self.dims[2 * k] == self.rows
                                                   and self.rows > 1) else 0)
            ptrs[k] = <char *>cnp.PyArray_DATA(b)
        if shared or self.scratch is None:
            x = np.empty(self.scratch_bytes, dtype=np.uint8)
            if not shared:
                self.scratch = x
        else:
            x = self.scratch
        self.fr(self.rows, self.cols, ptrs, rs, <char *>cnp.PyArray_DATA(<cnp.ndarray>x))
        return 0


cdef class LinearProgram(_Keeper):
    """``program(args) -> outputs``: runs its thunks in order over a storage list."""
    cdef public list init_storage
    cdef public tuple out_idx
    cdef public Py_ssize_t n_in
    cdef int running
    # the thread governor (`g_gov_period`): whether its runs offer kernels threads, whether
    # they take one thread now, the trial's runs left (the last `GOV_TRIAL` in the other
    # choice) and the best seconds of each half, and when the next trial starts
    cdef bint gov_on, gov_one
    cdef int gov_trial
    cdef double gov_best_now, gov_best_other, gov_next

    def __init__(self, list thunks, list init_storage, tuple out_idx, Py_ssize_t n_in):
        self.thunks = thunks
        self.init_storage = init_storage
        self.out_idx = out_idx
        self.n_in = n_in
        self.running = 0

    def __call__(self, list args):
        cdef list storage = list(self.init_storage)
        cdef Py_ssize_t i
        _check_count(args, self.n_in)
        for i in range(self.n_in):
            storage[i] = args[i]
        return self._run(storage)

    def call_into(self, list args, list targets):
        """``self(args)``, writing output ``k`` into ``targets[k]`` (an array, or None) where
        the thunk computing it can (a native elementwise or BLAS thunk, same shape and dtype,
        C-contiguous, writable): a loop stacking per-step results passes the rows. An output
        that is an input, a constant or a view is returned as usual; the caller compares."""
        cdef list storage = list(self.init_storage)
        cdef Py_ssize_t i, j
        cdef object x
        _check_count(args, self.n_in)
        for i in range(self.n_in):
            storage[i] = args[i]
        for i in range(len(targets)):
            x = targets[i]
            j = self.out_idx[i]
            if x is not None and j >= self.n_in and storage[j] is None:
                storage[j] = x
        return self._run(storage)

    @property
    def on_one_thread(self):
        """Whether the thread governor keeps this program's kernels to one thread now."""
        return self.gov_one

    def feed_governor(self, double seconds, Py_ssize_t offers=1):
        """Count a governed run of ``seconds`` ending now that offered kernels threads
        ``offers`` times, as `_run` does (tests); returns whether the next run takes one
        thread."""
        cdef double t1 = _now()
        self.gov_on = True
        self._govern(t1 - seconds, t1, offers)
        return self._next_on_one()

    cdef inline bint _next_on_one(self) noexcept:
        """Whether the next run takes one thread: the current choice, or the other during the
        trial's last `GOV_TRIAL` runs."""
        return self.gov_one != (0 < self.gov_trial <= GOV_TRIAL)

    cdef list _run(self, list storage):
        cdef Py_ssize_t j
        cdef Thunk t
        global g_gov_one, g_gov_depth
        # a second thread entering while kernels run without the GIL gets fresh buffers
        cdef bint shared = self.running > 0
        cdef bint govern = (self.gov_on and g_gov_period > 0.0 and g_threads > 1
                            and g_gov_depth == 0 and not shared)
        cdef Py_ssize_t offers = g_par_offers
        cdef int one_was = g_gov_one
        cdef double t0 = 0.0
        if govern:
            g_gov_depth += 1
            g_gov_one = self._next_on_one()
            t0 = _now()
        self.running += 1
        token = _fp_quiet()
        try:
            for t in self.thunks:
                try:
                    t.run(storage, shared)
                except Exception as exc:
                    annotate(exc, t.node)
                    raise
                for j in t.free:
                    storage[j] = None
        finally:
            self.running -= 1
            if govern:
                g_gov_depth -= 1
                g_gov_one = one_was
            if token is not None:
                _fp_leave(token)
        if govern:
            self._govern(t0, _now(), g_par_offers - offers)
        elif g_par_offers != offers and not shared and g_gov_depth == 0:
            self.gov_on = True  # timed from the next run
        if not shared:
            self._kept_now()
        return [storage[j] for j in self.out_idx]

    cdef void _govern(self, double t0, double t1, Py_ssize_t offers) noexcept:
        """Count a governed run of ``t1 - t0`` seconds that offered kernels threads ``offers``
        times (see `g_gov_period`). Runs are compared per offer: a loop's trip count, and with
        it the run's time, may change from run to run."""
        global g_gov_trials
        cdef double s = (t1 - t0) / (offers if offers > 1 else 1)
        cdef int left = self.gov_trial
        if left == 0:
            if self.gov_next == 0.0:
                self.gov_next = t1 + g_gov_period
            elif t1 >= self.gov_next:
                self.gov_trial = 2 * GOV_TRIAL
                self.gov_best_now = self.gov_best_other = 1e300
            return
        self.gov_trial = left - 1
        if left > GOV_TRIAL:  # the current choice's runs (this run was one)
            if left < 2 * GOV_TRIAL and s < self.gov_best_now:
                self.gov_best_now = s
            return
        if left < GOV_TRIAL and s < self.gov_best_other:
            self.gov_best_other = s
        if left == 1:
            if self.gov_best_other < (GOV_TO_MANY if self.gov_one else GOV_TO_ONE) * \
                    self.gov_best_now:
                self.gov_one = not self.gov_one
            self.gov_next = t1 + g_gov_period
            g_gov_trials += 1

    def profile(self, list args, int repeat=100):
        """Mean seconds per thunk (list, thunk order) over ``repeat`` runs on ``args``; the
        arguments must stay valid across runs (donated buffers are written)."""
        cdef Py_ssize_t i, j, r, k = len(self.thunks)
        cdef Thunk t
        cdef list storage
        cdef double t0
        cdef list acc = [0.0] * k
        _check_count(args, self.n_in)
        token = _fp_enter()
        try:
            for r in range(repeat):
                storage = list(self.init_storage)
                for i in range(self.n_in):
                    storage[i] = args[i]
                for i in range(k):
                    t = <Thunk>self.thunks[i]
                    t0 = _now()
                    t.run(storage, False)
                    for j in t.free:
                        storage[j] = None
                    acc[i] += _now() - t0
        finally:
            _fp_leave(token)
        return [a / repeat for a in acc]


cdef inline double _now() noexcept nogil:
    """CLOCK_MONOTONIC seconds."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9
