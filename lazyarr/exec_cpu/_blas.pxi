# Included by _vm.pyx: matrix products through scipy.linalg.cython_blas (no Python call).
#
# BLAS is column-major; a row-major C = A @ B is computed as C^T = B^T @ A^T. Each operand is
# passed as stored, with a transpose flag and a leading dimension read from its strides, so
# transposed views need no copy; other layouts (negative or non-unit inner strides) are copied.

from scipy.linalg.cython_blas cimport sgemm, dgemm, cgemm, zgemm


cdef inline bint _blas_layout(cnp.npy_intp sr, cnp.npy_intp sc, cnp.npy_intp r,
                              cnp.npy_intp c, char *trans, int *ld):
    """Element strides (sr, sc) of a logical r x c matrix: how BLAS reads its transpose
    (column-major c x r). False if BLAS cannot read it in place."""
    if (sc == 1 or c == 1) and (sr >= c or r == 1) and sr >= 0:
        trans[0] = b'N'
        ld[0] = <int>(sr if (r > 1 and sr >= 1) else (c if c > 1 else 1))
        return True
    if (sr == 1 or r == 1) and (sc >= r or c == 1) and sc >= 0:
        trans[0] = b'T'
        ld[0] = <int>(sc if (c > 1 and sc >= 1) else (r if r > 1 else 1))
        return True
    return False


cdef class MatMulThunk(Thunk):
    """``a @ b`` (NumPy ``matmul`` semantics) for float32/64 and complex64/128 through gemm,
    batched over broadcast leading axes by a Cython loop."""
    cdef int typenum
    cdef bint reuse
    cdef object buf

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int typenum, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.typenum = typenum
        self.reuse = reuse
        self.buf = None

    cdef int run(self, list storage, bint shared) except -1:
        cdef object xa = storage[<Py_ssize_t>self.ins[0]]
        cdef object xb = storage[<Py_ssize_t>self.ins[1]]
        if type(xa) is not cnp.ndarray or type(xb) is not cnp.ndarray:
            return Thunk.run(self, storage, shared)
        cdef cnp.ndarray a = <cnp.ndarray>xa
        cdef cnp.ndarray b = <cnp.ndarray>xb
        if not (_plain(a, self.typenum) and _plain(b, self.typenum)):
            return Thunk.run(self, storage, shared)
        cdef int nda = cnp.PyArray_NDIM(a), ndb = cnp.PyArray_NDIM(b)
        if nda == 0 or ndb == 0 or nda > MAXDIM or ndb > MAXDIM:
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
        cdef cnp.npy_intp *da = cnp.PyArray_DIMS(a)
        cdef cnp.npy_intp *db = cnp.PyArray_DIMS(b)
        cdef cnp.npy_intp *sa = cnp.PyArray_STRIDES(a)
        cdef cnp.npy_intp *sb = cnp.PyArray_STRIDES(b)
        cdef cnp.npy_intp m, k, n, kb, sam, sak, sbk, sbn
        cdef int d
        for d in range(nda):
            if sa[d] % isz:
                return Thunk.run(self, storage, shared)
        for d in range(ndb):
            if sb[d] % isz:
                return Thunk.run(self, storage, shared)
        # logical (m, k) @ (k, n); 1-d operands get a unit axis
        if nda == 1:
            m, k, sam, sak = 1, da[0], 0, sa[0] // isz
        else:
            m, k, sam, sak = da[nda - 2], da[nda - 1], sa[nda - 2] // isz, sa[nda - 1] // isz
        if ndb == 1:
            kb, n, sbk, sbn = db[0], 1, sb[0] // isz, 0
        else:
            kb, n, sbk, sbn = db[ndb - 2], db[ndb - 1], sb[ndb - 2] // isz, sb[ndb - 1] // isz
        if kb != k:
            return Thunk.run(self, storage, shared)
        cdef char ta, tb
        cdef int lda, ldb
        if not (_blas_layout(sam, sak, m, k, &ta, &lda) and _blas_layout(sbk, sbn, k, n, &tb, &ldb)):
            if not _blas_layout(sam, sak, m, k, &ta, &lda):
                a = np.ascontiguousarray(a)
            if not _blas_layout(sbk, sbn, k, n, &tb, &ldb):
                b = np.ascontiguousarray(b)
        return self._run2(storage, a, b, shared)

    cdef int _run2(self, list storage, cnp.ndarray a, cnp.ndarray b, bint shared) except -1:
        cdef int nda = cnp.PyArray_NDIM(a), ndb = cnp.PyArray_NDIM(b)
        cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
        cdef cnp.npy_intp *da = cnp.PyArray_DIMS(a)
        cdef cnp.npy_intp *db = cnp.PyArray_DIMS(b)
        cdef cnp.npy_intp *sa = cnp.PyArray_STRIDES(a)
        cdef cnp.npy_intp *sb = cnp.PyArray_STRIDES(b)
        cdef cnp.npy_intp m, k, n, sam, sak, sbk, sbn
        if nda == 1:
            m, k, sam, sak = 1, da[0], 0, sa[0] // isz
        else:
            m, k, sam, sak = da[nda - 2], da[nda - 1], sa[nda - 2] // isz, sa[nda - 1] // isz
        if ndb == 1:
            n, sbk, sbn = 1, sb[0] // isz, 0
        else:
            n, sbk, sbn = db[ndb - 1], sb[ndb - 2] // isz, sb[ndb - 1] // isz
        cdef char ta, tb
        cdef int lda, ldb
        _blas_layout(sam, sak, m, k, &ta, &lda)
        _blas_layout(sbk, sbn, k, n, &tb, &ldb)
        # batch axes (broadcast) and the output shape
        cdef int nba = nda - 2 if nda > 2 else 0
        cdef int nbb = ndb - 2 if ndb > 2 else 0
        cdef int nb = nba if nba > nbb else nbb
        cdef cnp.npy_intp oshape[MAXDIM]
        cdef cnp.npy_intp bsa[MAXDIM]
        cdef cnp.npy_intp bsb[MAXDIM]
        cdef int d, od = 0, ia, ib
        cdef cnp.npy_intp batch = 1, sz
        for d in range(nb):
            ia = d - (nb - nba)
            ib = d - (nb - nbb)
            sz = 1
            bsa[d] = 0
            bsb[d] = 0
            if ia >= 0 and da[ia] != 1:
                sz = da[ia]
                bsa[d] = sa[ia]
            if ib >= 0 and db[ib] != 1:
                if sz != 1 and db[ib] != sz:
                    return Thunk.run(self, storage, shared)
                sz = db[ib]
                bsb[d] = sb[ib]
            oshape[d] = sz
            batch *= sz
        od = nb
        if nda > 1:
            oshape[od] = m
            od += 1
        if ndb > 1:
            oshape[od] = n
            od += 1
        cdef cnp.ndarray c = None
        if (self.reuse and not shared and self.buf is not None
                and _same_shape(<cnp.ndarray>self.buf, od, oshape)):
            c = <cnp.ndarray>self.buf
        else:
            c = cnp.PyArray_EMPTY(od, oshape, self.typenum, 0)
            if self.reuse and not shared:
                self.buf = c
        cdef char *pa = <char *>cnp.PyArray_DATA(a)
        cdef char *pb = <char *>cnp.PyArray_DATA(b)
        cdef char *pc = <char *>cnp.PyArray_DATA(c)
        cdef cnp.npy_intp mn = m * n, t, rem, oa, ob, idx
        if mn == 0:
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        if k == 0:
            memset(pc, 0, batch * mn * isz)
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        cdef int im = <int>m, ik = <int>k, inn = <int>n, ldc = <int>n
        with nogil:
            for t in range(batch):
                rem = t
                oa = 0
                ob = 0
                for d in range(nb - 1, -1, -1):
                    idx = rem % oshape[d]
                    rem = rem // oshape[d]
                    oa = oa + idx * bsa[d]
                    ob = ob + idx * bsb[d]
                _gemm(self.typenum, tb, ta, inn, im, ik, pb + ob, ldb, pa + oa, lda,
                      pc + t * mn * isz, ldc)
        storage[<Py_ssize_t>self.outs[0]] = c
        return 0


cdef float _f1 = 1.0, _f0 = 0.0
cdef double _d1 = 1.0, _d0 = 0.0
cdef float complex _c1 = 1.0, _c0 = 0.0
cdef double complex _z1 = 1.0, _z0 = 0.0


cdef inline void _gemm(int typenum, char ta, char tb, int m, int n, int k, char *a, int lda,
                       char *b, int ldb, char *c, int ldc) noexcept nogil:
    """Column-major ``C(m x n) = op(A) @ op(B)``."""
    if typenum == cnp.NPY_FLOAT:
        sgemm(&ta, &tb, &m, &n, &k, &_f1, <float *>a, &lda, <float *>b, &ldb, &_f0,
              <float *>c, &ldc)
    elif typenum == cnp.NPY_DOUBLE:
        dgemm(&ta, &tb, &m, &n, &k, &_d1, <double *>a, &lda, <double *>b, &ldb, &_d0,
              <double *>c, &ldc)
    elif typenum == cnp.NPY_CFLOAT:
        cgemm(&ta, &tb, &m, &n, &k, &_c1, <float complex *>a, &lda, <float complex *>b, &ldb,
              &_c0, <float complex *>c, &ldc)
    else:
        zgemm(&ta, &tb, &m, &n, &k, &_z1, <double complex *>a, &lda, <double complex *>b,
              &ldb, &_z0, <double complex *>c, &ldc)
