# Gathers and scatters by integer indices without a Python call (included by _vm.pyx):
# `Take`, `TakeAlongAxis`, `AddAt` with one row index or two point indices, `Alloc` and
# `Concat`; and basic-index views (`GetItem` by integers, slices and new axes).
# Each checks its operands (C-contiguous, int64 indices in bounds, the expected dtypes and
# shapes) and otherwise runs the op's ``perform``, which raises the op's own errors.

cdef class _OutThunk(Thunk):
    """A thunk with one output kept for reuse when it does not escape (``reuse``)."""
    cdef bint reuse
    cdef object buf

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes1(self.buf)

    cdef void drop_kept(self):
        self.buf = None

    cdef cnp.ndarray _out(self, bint shared, int nd, cnp.npy_intp *shape, int typenum):
        cdef object x = self.buf
        if (self.reuse and not shared and x is not None and _same_shape(<cnp.ndarray>x, nd, shape)
                and cnp.PyArray_TYPE(<cnp.ndarray>x) == typenum):
            return <cnp.ndarray>x
        cdef cnp.ndarray b = cnp.PyArray_EMPTY(nd, shape, typenum, 0)
        if self.reuse and not shared:
            self.buf = b
        return b


cdef inline bint _c_array(object x):
    return (type(x) is cnp.ndarray and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x)
            and cnp.PyArray_ISALIGNED(<cnp.ndarray>x) and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x))


cdef inline bint _indices(object x, cnp.npy_intp n):
    """``x`` is a C-contiguous int64 array whose values all lie in ``[-n, n)``."""
    if not _c_array(x) or cnp.PyArray_TYPE(<cnp.ndarray>x) != cnp.NPY_INT64:
        return False
    cdef const int64_t *p = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>x)
    cdef cnp.npy_intp i, k = cnp.PyArray_SIZE(<cnp.ndarray>x)
    for i in range(k):
        if p[i] < -n or p[i] >= n:
            return False
    return True


cdef class TakeThunk(_OutThunk):
    """``take(x, idx, axis)``: ``out[o, j, :] = x[o, idx[j], :]``, one ``memcpy`` per row."""
    cdef int axis

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int axis, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.axis, self.reuse, self.buf = axis, reuse, None

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        cdef object io = storage[<Py_ssize_t>self.ins[1]]
        if not _c_array(xo):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo
        cdef int nd = cnp.PyArray_NDIM(x), d, ax = self.axis
        if ax >= nd or nd > MAXDIM or cnp.PyArray_NDIM(<cnp.ndarray>io) != 1 \
                or not _indices(io, cnp.PyArray_DIM(x, ax)):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray idx = <cnp.ndarray>io
        cdef cnp.npy_intp shape[MAXDIM]
        cdef cnp.npy_intp outer = 1, row = cnp.PyArray_ITEMSIZE(x), nx = cnp.PyArray_DIM(x, ax)
        cdef cnp.npy_intp k = cnp.PyArray_DIM(idx, 0), o, j, i
        for d in range(nd):
            shape[d] = cnp.PyArray_DIM(x, d)
            if d < ax:
                outer *= shape[d]
            elif d > ax:
                row *= shape[d]
        shape[ax] = k
        cdef cnp.ndarray out = self._out(shared, nd, shape,
                                       cnp.PyArray_TYPE(x))
        cdef const int64_t *p = <const int64_t *>cnp.PyArray_DATA(idx)
        cdef char *src = cnp.PyArray_BYTES(x)
        cdef char *dst = cnp.PyArray_BYTES(out)
        for o in range(outer):
            for j in range(k):
                i = p[j] + nx if p[j] < 0 else p[j]
                memcpy(dst + (o * k + j) * row, src + (o * nx + i) * row, row)
        storage[<Py_ssize_t>self.outs[0]] = out
        return 0


cdef class TakeAlongAxisThunk(_OutThunk):
    """``take_along_axis(x, idx, axis)`` with ``idx`` of ``x``'s rank and sizes off ``axis``:
    ``out[o, j, i] = x[o, idx[o, j, i], i]``."""
    cdef int axis

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int axis, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.axis, self.reuse, self.buf = axis, reuse, None

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        cdef object io = storage[<Py_ssize_t>self.ins[1]]
        if not _c_array(xo) or not _c_array(io):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo, idx = <cnp.ndarray>io
        cdef int nd = cnp.PyArray_NDIM(x), d, ax = self.axis
        cdef int isz = cnp.PyArray_ITEMSIZE(x)
        if ax >= nd or nd > MAXDIM or cnp.PyArray_NDIM(idx) != nd or isz not in (4, 8):
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp outer = 1, inner = 1, nx = cnp.PyArray_DIM(x, ax)
        cdef cnp.npy_intp k = cnp.PyArray_DIM(idx, ax), o, j, i, q
        for d in range(nd):
            if d != ax and cnp.PyArray_DIM(idx, d) != cnp.PyArray_DIM(x, d):
                return Thunk.run(self, storage, shared)
            if d < ax:
                outer *= cnp.PyArray_DIM(x, d)
            elif d > ax:
                inner *= cnp.PyArray_DIM(x, d)
        if not _indices(idx, nx):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray out = self._out(shared, nd,
                                       cnp.PyArray_DIMS(idx), cnp.PyArray_TYPE(x))
        cdef const int64_t *p = <const int64_t *>cnp.PyArray_DATA(idx)
        cdef char *src = cnp.PyArray_BYTES(x)
        cdef char *dst = cnp.PyArray_BYTES(out)
        for o in range(outer):
            for j in range(k):
                for i in range(inner):
                    q = p[(o * k + j) * inner + i]
                    if q < 0:
                        q += nx
                    q = (o * nx + q) * inner + i
                    if isz == 4:
                        (<int32_t *>dst)[(o * k + j) * inner + i] = (<int32_t *>src)[q]
                    else:
                        (<int64_t *>dst)[(o * k + j) * inner + i] = (<int64_t *>src)[q]
        storage[<Py_ssize_t>self.outs[0]] = out
        return 0


cdef class AddAtThunk(_OutThunk):
    """``AddAt`` of float32/float64 values: ``y[idx[j], ...] += v[j, ...]`` (one index array on
    the first axis, ``v`` of shape ``(len(idx),) + x.shape[1:]``) or ``y[i0, i1] += v`` (two
    index arrays of one shape on a matrix, ``v`` of that shape or one element). ``y`` is ``x``
    itself when ``into`` (a donated or dead input the linker hands over), else a copy."""
    cdef int mode
    cdef bint into

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int mode, bint reuse,
                 bint into):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.mode, self.reuse, self.into, self.buf = mode, reuse, into, None

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        cdef object vo = storage[<Py_ssize_t>self.ins[1]]
        cdef object io = storage[<Py_ssize_t>self.ins[2]]
        if not _c_array(xo) or not _c_array(vo):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo, v = <cnp.ndarray>vo, i0, i1
        cdef int typ = cnp.PyArray_TYPE(x), nd = cnp.PyArray_NDIM(x), d
        if (typ != cnp.NPY_FLOAT32 and typ != cnp.NPY_FLOAT64) or cnp.PyArray_TYPE(v) != typ \
                or nd < 1 or nd > MAXDIM:
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp row = 1, k, j, n, m, r, c
        if self.mode == 1:
            if not _c_array(io) or cnp.PyArray_NDIM(<cnp.ndarray>io) != 1:
                return Thunk.run(self, storage, shared)
            i0 = <cnp.ndarray>io
            k = cnp.PyArray_DIM(i0, 0)
            if cnp.PyArray_NDIM(v) != nd or cnp.PyArray_DIM(v, 0) != k:
                return Thunk.run(self, storage, shared)
            for d in range(1, nd):
                if cnp.PyArray_DIM(v, d) != cnp.PyArray_DIM(x, d):
                    return Thunk.run(self, storage, shared)
                row *= cnp.PyArray_DIM(x, d)
            if not _indices(i0, cnp.PyArray_DIM(x, 0)):
                return Thunk.run(self, storage, shared)
            i1 = i0
        else:
            io1 = storage[<Py_ssize_t>self.ins[3]]
            if nd != 2 or not _c_array(io) or not _c_array(io1):
                return Thunk.run(self, storage, shared)
            i0, i1 = <cnp.ndarray>io, <cnp.ndarray>io1
            k = cnp.PyArray_SIZE(i0)
            if not cnp.PyArray_SAMESHAPE(i0, i1) or (cnp.PyArray_SIZE(v) != 1 and not (
                    cnp.PyArray_SAMESHAPE(v, i0))):
                return Thunk.run(self, storage, shared)
            if not _indices(i0, cnp.PyArray_DIM(x, 0)) or not _indices(i1, cnp.PyArray_DIM(x, 1)):
                return Thunk.run(self, storage, shared)
        cdef cnp.ndarray y
        if self.into and not shared and cnp.PyArray_ISWRITEABLE(x):
            y = x
        else:
            y = self._out(shared, nd, cnp.PyArray_DIMS(x), typ)
            memcpy(cnp.PyArray_DATA(y), cnp.PyArray_DATA(x), cnp.PyArray_NBYTES(x))
        n = cnp.PyArray_DIM(x, 0)
        m = cnp.PyArray_DIM(x, 1) if nd > 1 else 1
        cdef const int64_t *p0 = <const int64_t *>cnp.PyArray_DATA(i0)
        cdef const int64_t *p1 = <const int64_t *>cnp.PyArray_DATA(i1)
        cdef bint one = cnp.PyArray_SIZE(v) == 1
        cdef float *yf = <float *>cnp.PyArray_DATA(y)
        cdef double *yd = <double *>cnp.PyArray_DATA(y)
        cdef const float *vf = <const float *>cnp.PyArray_DATA(v)
        cdef const double *vd = <const double *>cnp.PyArray_DATA(v)
        for j in range(k):
            r = p0[j] + n if p0[j] < 0 else p0[j]
            if self.mode == 1:
                if typ == cnp.NPY_FLOAT32:
                    for c in range(row):
                        yf[r * row + c] += vf[j * row + c]
                else:
                    for c in range(row):
                        yd[r * row + c] += vd[j * row + c]
            else:
                c = p1[j] + m if p1[j] < 0 else p1[j]
                if typ == cnp.NPY_FLOAT32:
                    yf[r * m + c] += vf[0 if one else j]
                else:
                    yd[r * m + c] += vd[0 if one else j]
        storage[<Py_ssize_t>self.outs[0]] = y
        return 0


cdef class AllocThunk(_OutThunk):
    """``Alloc``: an array of a static shape filled with a 0-d float or int64 value (refilled
    every call: a reader may have written into the kept buffer in place)."""
    cdef int nd
    cdef cnp.npy_intp dims[MAXDIM]

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, tuple shape, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(shape) > MAXDIM:
            raise ValueError("too many dimensions for a native fill")
        self.reuse, self.buf, self.nd = reuse, None, len(shape)
        cdef int d
        for d in range(self.nd):
            self.dims[d] = shape[d]

    cdef int run(self, list storage, bint shared) except -1:
        cdef object vo = storage[<Py_ssize_t>self.ins[0]]
        if not _c_array(vo) or cnp.PyArray_NDIM(<cnp.ndarray>vo) != 0:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray v = <cnp.ndarray>vo
        cdef int typ = cnp.PyArray_TYPE(v)
        if typ != cnp.NPY_FLOAT32 and typ != cnp.NPY_FLOAT64 and typ != cnp.NPY_INT64:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray out = self._out(shared, self.nd, self.dims,
                                       typ)
        cdef cnp.npy_intp i, n = cnp.PyArray_SIZE(out)
        cdef int isz = cnp.PyArray_ITEMSIZE(v)
        cdef char *src = cnp.PyArray_BYTES(v)
        cdef char *dst = cnp.PyArray_BYTES(out)
        cdef bint zero = True
        for i in range(isz):
            if src[i] != 0:
                zero = False
        if zero:
            memset(dst, 0, n * isz)
        elif isz == 4:
            for i in range(n):
                (<int32_t *>dst)[i] = (<int32_t *>src)[0]
        else:
            for i in range(n):
                (<int64_t *>dst)[i] = (<int64_t *>src)[0]
        storage[<Py_ssize_t>self.outs[0]] = out
        return 0


cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    Py_ssize_t PySlice_AdjustIndices(Py_ssize_t length, Py_ssize_t *start, Py_ssize_t *stop,
                                     Py_ssize_t step) noexcept nogil


cdef extern from *:
    """
    /* A view of x (its dtype, writeable flag and memory) with the given layout; x is its base. */
    static PyObject *la_strided_view(PyArrayObject *x, int nd, npy_intp *dims,
                                     npy_intp *strides, char *data) {
        PyArray_Descr *d = PyArray_DESCR(x);
        Py_INCREF(d);
        PyObject *v = PyArray_NewFromDescr(&PyArray_Type, d, nd, dims, strides, data,
                                           PyArray_FLAGS(x) & NPY_ARRAY_WRITEABLE, NULL);
        if (v == NULL) return NULL;
        Py_INCREF(x);
        if (PyArray_SetBaseObject((PyArrayObject *)v, (PyObject *)x) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        return v;
    }
    """
    object la_strided_view(cnp.ndarray x, int nd, cnp.npy_intp *dims, cnp.npy_intp *strides,
                           char *data)


cdef extern from "numpy/arrayobject.h":
    int PyArray_CopyInto(cnp.ndarray dst, cnp.ndarray src) except -1


cdef class ConcatThunk(_OutThunk):
    """``concat(xs, axis)`` of arrays of one dtype and rank: per C-contiguous input one
    ``memcpy`` per index before ``axis``; any other layout is copied into its region of the
    output through NumPy's C API. Other dtypes or mismatched shapes run ``perform`` (which
    raises NumPy's error)."""
    cdef int axis

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int axis, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.axis, self.reuse, self.buf = axis, reuse, None

    cdef int run(self, list storage, bint shared) except -1:
        cdef tuple ins = self.ins
        cdef Py_ssize_t k, n = len(ins)
        cdef object fo = storage[<Py_ssize_t>ins[0]]
        if type(fo) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>fo) > MAXDIM:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray first = <cnp.ndarray>fo, x
        cdef int nd = cnp.PyArray_NDIM(first), typ = cnp.PyArray_TYPE(first), d
        cdef int ax = self.axis
        cdef cnp.npy_intp dims[MAXDIM]
        cdef cnp.npy_intp *xd
        if ax >= nd:
            return Thunk.run(self, storage, shared)
        for d in range(nd):
            dims[d] = cnp.PyArray_DIMS(first)[d]
        dims[ax] = 0
        for k in range(n):
            xo = storage[<Py_ssize_t>ins[k]]
            if (type(xo) is not cnp.ndarray or cnp.PyArray_TYPE(<cnp.ndarray>xo) != typ
                    or cnp.PyArray_NDIM(<cnp.ndarray>xo) != nd):
                return Thunk.run(self, storage, shared)
            xd = cnp.PyArray_DIMS(<cnp.ndarray>xo)
            for d in range(nd):
                if d != ax and xd[d] != dims[d]:
                    return Thunk.run(self, storage, shared)
            dims[ax] += xd[ax]
        cdef cnp.ndarray out = self._out(shared, nd, dims, typ)
        cdef cnp.npy_intp outer = 1, inner = cnp.PyArray_ITEMSIZE(out), row, part, o
        for d in range(ax):
            outer *= dims[d]
        for d in range(ax + 1, nd):
            inner *= dims[d]
        row = dims[ax] * inner  # bytes of one index before the axis, in the output
        cdef char *dst = cnp.PyArray_BYTES(out)
        cdef char *src
        cdef cnp.npy_intp off = 0
        cdef cnp.npy_intp sub[MAXDIM]
        for k in range(n):
            x = <cnp.ndarray>storage[<Py_ssize_t>ins[k]]
            part = cnp.PyArray_DIMS(x)[ax] * inner
            if part == 0:
                continue
            if _c_array(x):
                src = cnp.PyArray_BYTES(x)
                if outer == 1:
                    memcpy(dst + off, src, part)
                else:
                    for o in range(outer):
                        memcpy(dst + o * row + off, src + o * part, part)
            else:
                for d in range(nd):
                    sub[d] = dims[d]
                sub[ax] = cnp.PyArray_DIMS(x)[ax]
                PyArray_CopyInto(la_strided_view(out, nd, sub, cnp.PyArray_STRIDES(out),
                                                 dst + off), x)
            off += part
        storage[<Py_ssize_t>self.outs[0]] = out
        return 0


# spec kinds of a basic index (`GetItem` entries "i", "s", "n"; "d" and "t", an integer
# and a slice start given as 0-d int64 inputs: `ops.index.dynamic_key`)
DEF SL_INT = 0
DEF SL_SLICE = 1
DEF SL_NEW = 2
DEF SL_DINT = 3
DEF SL_DSLICE = 4


cdef class SliceThunk(Thunk):
    """``x[key]`` for a basic key (integers, slices, new axes, and integers and slice starts
    given as 0-d int64 inputs after ``x``): a view made through the NumPy C API, no Python
    call. An integer out of bounds (or an input that is no 0-d int64 array) runs
    ``perform``, which raises."""
    cdef int n, nd_in
    cdef int kind[MAXDIM]
    cdef int slot[MAXDIM]  # the input of a "d"/"t" entry
    cdef Py_ssize_t start[MAXDIM]
    cdef Py_ssize_t stop[MAXDIM]
    cdef Py_ssize_t step[MAXDIM]

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, tuple spec):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(spec) > MAXDIM:
            raise ValueError("too many index entries for a native view")
        self.n = len(spec)
        self.nd_in = 0
        cdef int j, k = 1
        cdef Py_ssize_t big = PY_SSIZE_T_MAX
        for j, e in enumerate(spec):
            if e[0] == "i":
                self.kind[j] = SL_INT
                self.start[j] = e[1]
                self.nd_in += 1
            elif e[0] == "d" or e[0] == "t":
                self.kind[j] = SL_DINT if e[0] == "d" else SL_DSLICE
                self.slot[j] = <int>self.ins[k]
                k += 1
                if e[0] == "t":
                    self.stop[j] = e[1]  # the count
                    self.step[j] = e[2]
                self.nd_in += 1
            elif e[0] == "n":
                self.kind[j] = SL_NEW
            else:
                self.kind[j] = SL_SLICE
                self.step[j] = 1 if e[3] is None else e[3]
                if e[1] is None:
                    self.start[j] = 0 if self.step[j] > 0 else big
                else:
                    self.start[j] = e[1]
                if e[2] is None:
                    self.stop[j] = big if self.step[j] > 0 else -big - 1
                else:
                    self.stop[j] = e[2]
                self.nd_in += 1

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        if type(xo) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>xo) != self.nd_in:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo
        cdef cnp.npy_intp dims[MAXDIM]
        cdef cnp.npy_intp strides[MAXDIM]
        cdef cnp.npy_intp *xd = cnp.PyArray_DIMS(x)
        cdef cnp.npy_intp *xs = cnp.PyArray_STRIDES(x)
        cdef char *data = cnp.PyArray_BYTES(x)
        cdef int j, d = 0, od = 0
        cdef Py_ssize_t i, lo, hi, n
        for j in range(self.n):
            if self.kind[j] == SL_NEW:
                dims[od] = 1
                strides[od] = 0
                od += 1
                continue
            n = xd[d]
            if self.kind[j] == SL_INT or self.kind[j] == SL_DINT:
                if self.kind[j] == SL_INT:
                    i = self.start[j]
                elif _int64_scalar(storage[self.slot[j]], &i):
                    return Thunk.run(self, storage, shared)
                if i < 0:
                    i += n
                if i < 0 or i >= n:
                    return Thunk.run(self, storage, shared)
                data += i * xs[d]
            elif self.kind[j] == SL_DSLICE:
                # a start normalized when built (`slice.indices`), ``count`` elements by step
                if _int64_scalar(storage[self.slot[j]], &lo):
                    return Thunk.run(self, storage, shared)
                hi = lo + (self.stop[j] - 1) * self.step[j]
                if lo < 0 or lo >= n or hi < 0 or hi >= n:
                    return Thunk.run(self, storage, shared)
                dims[od] = self.stop[j]
                strides[od] = xs[d] * self.step[j]
                data += lo * xs[d]
                od += 1
            else:
                lo, hi = self.start[j], self.stop[j]
                dims[od] = PySlice_AdjustIndices(n, &lo, &hi, self.step[j])
                strides[od] = xs[d] * self.step[j]
                if dims[od] > 0:
                    data += lo * xs[d]
                od += 1
            d += 1
        storage[<Py_ssize_t>self.outs[0]] = la_strided_view(x, od, dims, strides, data)
        return 0


cdef inline int _int64_scalar(object a, Py_ssize_t* out):
    """``out[0]`` = the value of ``a``, a 0-d int64 array; 1 (nothing written) for anything
    else."""
    if (type(a) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>a) != 0
            or cnp.PyArray_TYPE(<cnp.ndarray>a) != cnp.NPY_INT64):
        return 1
    out[0] = <Py_ssize_t>(<int64_t*>cnp.PyArray_DATA(<cnp.ndarray>a))[0]
    return 0


cdef class BroadcastThunk(Thunk):
    """``broadcast_to(x, shape)``: a read-only view with stride 0 on every stretched or new
    axis, made through the NumPy C API, no Python call. A size of ``x`` that is neither 1 nor
    the target's runs ``perform``, which raises."""
    cdef int nd
    cdef cnp.npy_intp shape[MAXDIM]

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, tuple shape):
        Thunk.__init__(self, fn, ins, outs, free, node)
        if len(shape) > MAXDIM:
            raise ValueError("too many dimensions for a native view")
        self.nd = len(shape)
        cdef int j
        for j in range(self.nd):
            self.shape[j] = shape[j]

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        if type(xo) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>xo) > self.nd:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo
        cdef int xn = cnp.PyArray_NDIM(x), lead = self.nd - xn, j
        cdef cnp.npy_intp *xd = cnp.PyArray_DIMS(x)
        cdef cnp.npy_intp *xs = cnp.PyArray_STRIDES(x)
        cdef cnp.npy_intp strides[MAXDIM]
        for j in range(self.nd):
            if j < lead:
                strides[j] = 0
            elif xd[j - lead] == self.shape[j]:
                strides[j] = 0 if self.shape[j] == 1 else xs[j - lead]
            elif xd[j - lead] == 1:
                strides[j] = 0
            else:
                return Thunk.run(self, storage, shared)
        v = la_strided_view(x, self.nd, self.shape, strides, cnp.PyArray_BYTES(x))
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>v, cnp.NPY_ARRAY_WRITEABLE)
        storage[<Py_ssize_t>self.outs[0]] = v
        return 0


cdef class DiagonalThunk(Thunk):
    """``np.diagonal(x, offset, -2, -1)``: a read-only view whose last axis steps by the sum
    of the last two strides, made through the NumPy C API, no Python call."""
    cdef Py_ssize_t offset

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, Py_ssize_t offset):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.offset = offset

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xo = storage[<Py_ssize_t>self.ins[0]]
        if (type(xo) is not cnp.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>xo) < 2
                or cnp.PyArray_NDIM(<cnp.ndarray>xo) > MAXDIM):
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray x = <cnp.ndarray>xo
        cdef int nd = cnp.PyArray_NDIM(x), j
        cdef cnp.npy_intp *xd = cnp.PyArray_DIMS(x)
        cdef cnp.npy_intp *xs = cnp.PyArray_STRIDES(x)
        cdef cnp.npy_intp dims[MAXDIM]
        cdef cnp.npy_intp strides[MAXDIM]
        cdef cnp.npy_intp n = xd[nd - 2], m = xd[nd - 1], k = self.offset, size
        cdef char *data = cnp.PyArray_BYTES(x)
        for j in range(nd - 2):
            dims[j], strides[j] = xd[j], xs[j]
        if k >= 0:
            size = min(n, m - k)
        else:
            size = min(n + k, m)
        if size > 0:
            data += (k * xs[nd - 1]) if k >= 0 else (-k * xs[nd - 2])
        else:
            size = 0
        dims[nd - 2] = size
        strides[nd - 2] = xs[nd - 2] + xs[nd - 1]
        v = la_strided_view(x, nd - 1, dims, strides, data)
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>v, cnp.NPY_ARRAY_WRITEABLE)
        storage[<Py_ssize_t>self.outs[0]] = v
        return 0
