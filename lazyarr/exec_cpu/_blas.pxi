# Included by _vm.pyx: matrix products through scipy.linalg.cython_blas (no Python call):
# gemm for matrix products (batched by a Cython loop), gemv for matrix-vector ones, and the
# Gemm/Gemv nodes (beta*c + alpha*a@b) with beta accumulating into the output buffer; large
# float32 minibatch-1 products and `DotUpdate` nodes through the OpenMP kernels of
# `exec_cpu/dot_update.py` (function pointers set by `set_row_kernels`).
#
# BLAS is column-major; a row-major C = A @ B is computed as C^T = B^T @ A^T. Each operand is
# passed as stored, with a transpose flag and a leading dimension read from its strides, so
# transposed views need no copy; other layouts (negative or non-unit inner strides) are copied.

from scipy.linalg.cython_blas cimport sgemm, dgemm, cgemm, zgemm, sgemv, dgemv, cgemv, zgemv

#: products of at most this many rows with a reduction at least as long as their rows are
#: computed transposed: for (20 x 1000) @ (1000 x 200) float32, 1 thread, OpenBLAS took
#: ~230 us that way against ~430 us as C^T = B^T A^T (NumPy's matmul, loaded 2-core machine)
DEF FEW_ROWS = 32

#: OpenBLAS runs a gemm of fewer multiply-adds on the calling thread (its SMP_THRESHOLD_MIN
#: times GEMM_MULTITHREAD_THRESHOLD: 65536 * 4)
DEF BLAS_GEMM_THREADED = 1 << 18

#: a kernel splits its rows (columns) across the threads from this many elements of W on
DEF ROW_PAR = 1 << 16


cdef inline bint _blas_layout(cnp.npy_intp sr, cnp.npy_intp sc, cnp.npy_intp r,
                              cnp.npy_intp c, char *trans, int *ld):
    """Element strides (sr, sc) of a logical r x c matrix: how BLAS reads its transpose
    (column-major c x r). False if BLAS cannot read it in place. The stride of an axis of
    size 1 is never read, whatever its sign (a flipped 1 x 1 matrix has strides -1, -1)."""
    if (sc == 1 or c == 1) and (sr >= c or r == 1):
        trans[0] = b'N'
        ld[0] = <int>(sr if (r > 1 and sr >= 1) else (c if c > 1 else 1))
        return True
    if (sr == 1 or r == 1) and (sc >= r or c == 1):
        trans[0] = b'T'
        ld[0] = <int>(sc if (c > 1 and sc >= 1) else (r if r > 1 else 1))
        return True
    return False


cdef class MatMulThunk(Thunk):
    """``a @ b`` (NumPy ``matmul`` semantics) for float32/64 and complex64/128 through gemm,
    batched over broadcast leading axes by a Cython loop; matrix-vector products through gemv.
    """
    cdef int typenum
    cdef bint reuse
    cdef object buf
    cdef object tmp   # the transposed product of few-row products
    cdef public bint few_par  # see `g_few_par`

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int typenum, bint reuse):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.typenum = typenum
        self.reuse = reuse
        self.buf = None
        self.tmp = None
        self.few_par = True

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes1(self.buf) + _nbytes1(self.tmp)

    cdef void drop_kept(self):
        self.buf = None
        self.tmp = None

    cdef int run(self, list storage, bint shared) except -1:
        global g_few_par
        g_few_par = self.few_par
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
            # a fresh C-ordered copy (ascontiguousarray returns an array NumPy calls
            # contiguous as it is, whatever the strides of its size-1 axes)
            if not _blas_layout(sam, sak, m, k, &ta, &lda):
                a = np.array(a, order="C", copy=True)
            if not _blas_layout(sbk, sbn, k, n, &tb, &ldb):
                b = np.array(b, order="C", copy=True)
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
        cdef char *pt
        cdef object tmp
        cdef cnp.npy_intp mn = m * n, t, rem, oa, ob, idx
        if mn == 0:
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        if k == 0:
            memset(pc, 0, batch * mn * isz)
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        if nb == 0 and nda + ndb == 3:  # matrix-vector: gemv
            if nda == 2:
                _matvec(self.typenum, a, True, b, _one(self.typenum), _zero(self.typenum), pc)
            else:
                _matvec(self.typenum, b, False, a, _one(self.typenum), _zero(self.typenum), pc)
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        if nb == 0 and nda == 2 and ndb == 2 and m == 1:  # a row times a matrix: gemv, no packing
            _matvec(self.typenum, b, False, a[0], _one(self.typenum), _zero(self.typenum), pc)
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        cdef int im = <int>m, ik = <int>k, inn = <int>n, ldc = <int>n
        cdef bint done = False
        if nb == 0 and g_fewmm != NULL and m <= 16:
            with nogil:
                done = _fewmm(self.typenum, m, n, k, _one(self.typenum), pa, sam, sak, pb, sbk,
                              sbn, _zero(self.typenum), pc, n)
        if done:
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
        if (nb == 0 and 2 <= m <= FEW_ROWS and k >= n and n >= 64
                and (self.typenum == cnp.NPY_FLOAT or self.typenum == cnp.NPY_DOUBLE)):
            # few rows, a long reduction (``dlogits @ V.T``): BLAS computes the transposed
            # product (the small operand on BLAS's M side), then a transposing copy
            tmp = self.tmp
            if shared or tmp is None or cnp.PyArray_SIZE(<cnp.ndarray>tmp) != mn \
                    or cnp.PyArray_TYPE(<cnp.ndarray>tmp) != self.typenum:
                tmp = cnp.PyArray_EMPTY(1, &mn, self.typenum, 0)
                if not shared:
                    self.tmp = tmp
            pt = <char *>cnp.PyArray_DATA(<cnp.ndarray>tmp)
            with nogil:
                _gemm(self.typenum, _flip(ta), _flip(tb), im, inn, ik, pa, lda, pb, ldb, pt, im)
                _transpose_copy(self.typenum, pt, pc, m, n)
            storage[<Py_ssize_t>self.outs[0]] = c
            return 0
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


cdef inline char _flip(char t) noexcept nogil:
    return b'N' if t == b'T' else b'T'


cdef inline void _transpose_copy(int typenum, const char *src, char *dst, cnp.npy_intp m,
                                 cnp.npy_intp n) noexcept nogil:
    """Row-major ``dst (m x n)`` from column-major ``src (m x n)``: ``dst[i, j] = src[j*m + i]``
    (float32 or float64)."""
    cdef cnp.npy_intp i, j
    cdef const float *sf
    cdef float *df
    cdef const double *sd
    cdef double *dd
    if typenum == cnp.NPY_FLOAT:
        sf, df = <const float *>src, <float *>dst
        for j in range(n):
            for i in range(m):
                df[i * n + j] = sf[j * m + i]
    else:
        sd, dd = <const double *>src, <double *>dst
        for j in range(n):
            for i in range(m):
                dd[i * n + j] = sd[j * m + i]


cdef float _f1 = 1.0, _f0 = 0.0
cdef double _d1 = 1.0, _d0 = 0.0
cdef float complex _c1 = 1.0, _c0 = 0.0
cdef double complex _z1 = 1.0, _z0 = 0.0


cdef inline char *_one(int typenum) noexcept nogil:
    if typenum == cnp.NPY_FLOAT:
        return <char *>&_f1
    if typenum == cnp.NPY_DOUBLE:
        return <char *>&_d1
    if typenum == cnp.NPY_CFLOAT:
        return <char *>&_c1
    return <char *>&_z1


cdef inline char *_zero(int typenum) noexcept nogil:
    if typenum == cnp.NPY_FLOAT:
        return <char *>&_f0
    if typenum == cnp.NPY_DOUBLE:
        return <char *>&_d0
    if typenum == cnp.NPY_CFLOAT:
        return <char *>&_c0
    return <char *>&_z0


cdef inline void _gemm(int typenum, char ta, char tb, int m, int n, int k, char *a, int lda,
                       char *b, int ldb, char *c, int ldc) noexcept nogil:
    """Column-major ``C(m x n) = op(A) @ op(B)``."""
    _gemm_ab(typenum, ta, tb, m, n, k, _one(typenum), a, lda, b, ldb, _zero(typenum), c, ldc)


cdef inline void _gemm_ab(int typenum, char ta, char tb, int m, int n, int k, char *alpha,
                          char *a, int lda, char *b, int ldb, char *beta, char *c,
                          int ldc) noexcept nogil:
    """Column-major ``C(m x n) = alpha * op(A) @ op(B) + beta * C`` (scalars of the dtype)."""
    # as row-major C^T (n x m) = op(B)^T @ op(A)^T: the few-rows kernels' terms
    if g_fewmm != NULL and _fewmm(
            typenum, n, m, k, alpha, b, ldb if tb == b'N' else 1, 1 if tb == b'N' else ldb,
            a, lda if ta == b'N' else 1, 1 if ta == b'N' else lda, beta, c, ldc):
        return
    _blas_threaded(<double>m * n * k, BLAS_GEMM_THREADED)
    if _gemm64(typenum, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # _blas64.pxi
        return
    if typenum == cnp.NPY_FLOAT:
        sgemm(&ta, &tb, &m, &n, &k, <float *>alpha, <float *>a, &lda, <float *>b, &ldb,
              <float *>beta, <float *>c, &ldc)
    elif typenum == cnp.NPY_DOUBLE:
        dgemm(&ta, &tb, &m, &n, &k, <double *>alpha, <double *>a, &lda, <double *>b, &ldb,
              <double *>beta, <double *>c, &ldc)
    elif typenum == cnp.NPY_CFLOAT:
        cgemm(&ta, &tb, &m, &n, &k, <float complex *>alpha, <float complex *>a, &lda,
              <float complex *>b, &ldb, <float complex *>beta, <float complex *>c, &ldc)
    else:
        zgemm(&ta, &tb, &m, &n, &k, <double complex *>alpha, <double complex *>a, &lda,
              <double complex *>b, &ldb, <double complex *>beta, <double complex *>c, &ldc)


cdef inline void _gemv(int typenum, char tr, int m, int n, char *alpha, char *a, int lda,
                       char *x, int incx, char *beta, char *y) noexcept nogil:
    """Column-major ``y = alpha * op(A) @ x + beta * y``, A of m x n, y contiguous."""
    cdef int one = 1
    cdef _i64 m8 = m, n8 = n, lda8 = lda, incx8 = incx, one8 = 1
    _blas_threaded(<double>m * n, ROW_PAR)
    if typenum == cnp.NPY_FLOAT:
        if g_sgemv64 != NULL:  # the library real gemm runs in (`_blas64.pxi`)
            g_sgemv64(&tr, &m8, &n8, <float *>alpha, <float *>a, &lda8, <float *>x, &incx8,
                      <float *>beta, <float *>y, &one8)
        else:
            sgemv(&tr, &m, &n, <float *>alpha, <float *>a, &lda, <float *>x, &incx,
                  <float *>beta, <float *>y, &one)
    elif typenum == cnp.NPY_DOUBLE:
        if g_dgemv64 != NULL:
            g_dgemv64(&tr, &m8, &n8, <double *>alpha, <double *>a, &lda8, <double *>x, &incx8,
                      <double *>beta, <double *>y, &one8)
        else:
            dgemv(&tr, &m, &n, <double *>alpha, <double *>a, &lda, <double *>x, &incx,
                  <double *>beta, <double *>y, &one)
    elif typenum == cnp.NPY_CFLOAT:
        cgemv(&tr, &m, &n, <float complex *>alpha, <float complex *>a, &lda,
              <float complex *>x, &incx, <float complex *>beta, <float complex *>y, &one)
    else:
        zgemv(&tr, &m, &n, <double complex *>alpha, <double complex *>a, &lda,
              <double complex *>x, &incx, <double complex *>beta, <double complex *>y, &one)


cdef inline bint _vec_inc(cnp.npy_intp stride, cnp.npy_intp isz, cnp.npy_intp k,
                          char **p, int *inc) noexcept:
    """BLAS increment for a vector of ``k`` elements with byte ``stride`` at ``p[0]`` (moved
    to the lowest address for a negative increment, as BLAS expects). False: copy it."""
    if k <= 1:
        inc[0] = 1
        return True
    if stride == 0 or stride % isz:
        return False
    inc[0] = <int>(stride // isz)
    if stride < 0:
        p[0] = p[0] + (k - 1) * stride
    return True


cdef int _matvec(int typenum, cnp.ndarray a, bint a_left, cnp.ndarray x, char *alpha,
                 char *beta, char *py) except -1:
    """``y = alpha * (a @ x) + beta * y`` (``a_left``) or ``alpha * (x @ a) + beta * y``, for a
    2-d ``a`` (k >= 1) and a 1-d ``x``, through gemv; ``a`` is read in place when BLAS can."""
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp k = cnp.PyArray_DIMS(a)[1] if a_left else cnp.PyArray_DIMS(a)[0]
    cdef int incx
    cdef char *px = <char *>cnp.PyArray_DATA(x)
    if not _vec_inc(cnp.PyArray_STRIDES(x)[0], isz, k, &px, &incx):
        x = np.ascontiguousarray(x)
        px = <char *>cnp.PyArray_DATA(x)
        incx = 1
    return _matvec_p(typenum, a, a_left, px, incx, alpha, beta, py)


cdef int _matvec_p(int typenum, cnp.ndarray a, bint a_left, char *px, int incx, char *alpha,
                   char *beta, char *py) except -1:
    """`_matvec` with the vector given as a pointer (at its lowest address) and a BLAS
    increment."""
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp r = cnp.PyArray_DIMS(a)[0], c = cnp.PyArray_DIMS(a)[1]
    cdef cnp.npy_intp sr = cnp.PyArray_STRIDES(a)[0] // isz, sc = cnp.PyArray_STRIDES(a)[1] // isz
    cdef char t
    cdef int ld
    if (cnp.PyArray_STRIDES(a)[0] % isz or cnp.PyArray_STRIDES(a)[1] % isz
            or not _blas_layout(sr, sc, r, c, &t, &ld)):
        a = np.ascontiguousarray(a)
        sr, sc = c, 1
        _blas_layout(sr, sc, r, c, &t, &ld)
    # BLAS sees A stored as column-major: 'N' layout -> (c x r) with ld, 'T' -> (r x c)
    cdef char tr
    cdef int bm, bn
    if t == b'N':
        bm, bn = <int>c, <int>r
        tr = b'T' if a_left else b'N'
    else:
        bm, bn = <int>r, <int>c
        tr = b'N' if a_left else b'T'
    cdef char *pa = <char *>cnp.PyArray_DATA(a)
    if r * c >= NOGIL_MIN:
        with nogil:
            _gemv(typenum, tr, bm, bn, alpha, pa, ld, px, incx, beta, py)
    else:  # releasing the GIL costs more than a tiny product
        _gemv(typenum, tr, bm, bn, alpha, pa, ld, px, incx, beta, py)
    return 0


cdef inline bint _scalar_is_zero(char *p, int typenum) noexcept nogil:
    if typenum == cnp.NPY_FLOAT:
        return (<float *>p)[0] == 0
    if typenum == cnp.NPY_DOUBLE:
        return (<double *>p)[0] == 0
    if typenum == cnp.NPY_CFLOAT:
        return (<float *>p)[0] == 0 and (<float *>p)[1] == 0
    return (<double *>p)[0] == 0 and (<double *>p)[1] == 0


cdef inline bint _plain_alpha(char *p, int typenum) noexcept nogil:
    """A finite, nonzero ``alpha``: BLAS skips the product for 0 (0 * inf is NaN) and a
    scaled operand meets an inf as ``inf * 0``, unlike ``alpha * (a @ b)``."""
    cdef double r, i = 0
    if typenum == cnp.NPY_FLOAT:
        r = (<float *>p)[0]
    elif typenum == cnp.NPY_DOUBLE:
        r = (<double *>p)[0]
    elif typenum == cnp.NPY_CFLOAT:
        r, i = (<float *>p)[0], (<float *>p)[1]
    else:
        r, i = (<double *>p)[0], (<double *>p)[1]
    return (r != 0 or i != 0) and r - r == 0 and i - i == 0


cdef inline void _fill(char *dst, const char *src, cnp.npy_intp n,
                       cnp.npy_intp isz) noexcept nogil:
    """``n`` copies of one ``isz``-byte block (an element, or a whole row)."""
    cdef cnp.npy_intp i
    for i in range(n):
        memcpy(dst + i * isz, src, isz)


ctypedef void (*dot_update_fn)(cnp.npy_intp M, cnp.npy_intp N, float *W, cnp.npy_intp ldw,
                               const float *g, const float *d, float alpha, const float *a,
                               cnp.npy_intp inca, float *dx, int nthreads,
                               cnp.npy_intp par) noexcept nogil
ctypedef void (*rowmv_mt_fn)(cnp.npy_intp K, cnp.npy_intp N, const float *x, cnp.npy_intp incx,
                             const float *W, cnp.npy_intp ldw, float alpha, float beta,
                             float *y, int nthreads, cnp.npy_intp par) noexcept nogil
ctypedef void (*rank1_mt_fn)(cnp.npy_intp M, cnp.npy_intp N, float alpha, const float *a,
                             cnp.npy_intp inca, const float *d, float *W, cnp.npy_intp ldw,
                             int nthreads, cnp.npy_intp par) noexcept nogil
ctypedef int (*rank1_rowmv_fn)(cnp.npy_intp K, cnp.npy_intp N, float alpha, const float *a,
                               cnp.npy_intp inca, const float *d, float *W, cnp.npy_intp ldw,
                               const float *xn, cnp.npy_intp incx, float *P, int nthreads,
                               cnp.npy_intp par) noexcept nogil
ctypedef void (*rowmv_finish_fn)(cnp.npy_intp N, float alpha, float beta, const float *P,
                                 float *y) noexcept nogil
ctypedef int (*fewmm_fn)(cnp.npy_intp M, cnp.npy_intp N, cnp.npy_intp K, float alpha,
                        const float *A, cnp.npy_intp sam, cnp.npy_intp sak, const float *B,
                        cnp.npy_intp sbk, cnp.npy_intp sbn, float beta, float *C,
                        cnp.npy_intp ldc, int nthreads, cnp.npy_intp par) noexcept nogil

#: the OpenMP float32 kernels of minibatch-1 steps (`exec_cpu/dot_update.py`; NULL: none)
cdef dot_update_fn g_dot_update = NULL
cdef rowmv_mt_fn g_rowmv_mt = NULL
cdef rank1_mt_fn g_rank1_mt = NULL
cdef rank1_rowmv_fn g_rank1_rowmv = NULL
cdef rowmv_finish_fn g_rowmv_finish = NULL
#: float32 products of few rows, few columns or a short reduction (`exec_cpu/few_rows.py`;
#: NULL: none, or a CPU without AVX-512), and the one in use (NULL: `set_few_kernels` off)
cdef fewmm_fn g_fewmm_built = NULL
cdef fewmm_fn g_fewmm = NULL
cdef bint g_few_on = True
#: the running product's program may run the kernels on OpenMP threads (`few_par` of its
#: thunk): False where other products of the program run on OpenBLAS's threads, whose pool
#: spins between calls (each pool's spinning threads took the cores from the other's: fig1's
#: mlp500 b60 step went from 0.3 to 3 ms); then the kernels take only products too small to
#: split, on one thread
cdef bint g_few_par = True

#: they take 1-row products and rank-1 updates of at least this many elements (`Gemm`)
cdef cnp.npy_intp g_row_min = 1 << 17


def row_par():
    """Products (m * n * k multiply-adds) from which the OpenMP kernels use several threads."""
    return ROW_PAR


#: CLOCK_MONOTONIC seconds until which OpenBLAS's pool may still spin after a product it ran
#: on its threads (any program's), and for how long after one: the OpenMP kernels take one
#: thread meanwhile. Beside the spinning pool, a 10x784 @ 784x500 product on the few-rows
#: kernels' 2 threads took 30-80 us or 1.3-1.6 ms (a scheduler's time slice) 0-6 ms after a
#: 1000-row product, against 23 us alone and 41 us on one thread; fig1's mlp500 b10 compiled
#: step with a 1000-row evaluation every 20 steps: 1.23 ms a step with no window, 0.31-0.34 ms
#: with 0.05-0.2 s, 0.25-0.29 ms on BLAS alone; every 100 steps 0.43-0.47 / 0.15-0.19 /
#: 0.14-0.15 ms (10 ms: 0.22-0.25)
cdef double g_blas_spin_until = 0.0
cdef double g_blas_spin_s = 0.2


def set_blas_spin(double seconds):
    """How long after a product on OpenBLAS's threads the OpenMP kernels take one thread (0:
    never); returns the previous value (A/B timings)."""
    global g_blas_spin_s, g_blas_spin_until
    cdef double was = g_blas_spin_s
    g_blas_spin_s = seconds
    g_blas_spin_until = 0.0
    return was


cdef inline void _blas_threaded(double work, double least) noexcept nogil:
    """Note a BLAS call of ``work`` multiply-adds: from ``least`` on (a gemm from
    `BLAS_GEMM_THREADED`, a gemv or ger from `ROW_PAR`), with several threads, OpenBLAS runs it
    on its pool, which then spins for a while. (fig1's deep1000x3 b10 step declines one
    10x10 @ 10x1000 product to BLAS; taken for threaded, it left every step's kernels one
    thread: 19.1k -> 11.0k ex/s.)"""
    global g_blas_spin_until
    if g_threads > 1 and work >= least and g_blas_spin_s > 0.0:
        g_blas_spin_until = _now() + g_blas_spin_s


def blas_gemm_threaded():
    """The fewest multiply-adds of a gemm OpenBLAS runs on its threads (`BLAS_GEMM_THREADED`)."""
    return BLAS_GEMM_THREADED


def openmp_threads_now():
    """The threads an OpenMP kernel would take now (tests: 1 just after a product on
    OpenBLAS's threads)."""
    return _omp_threads()


cdef inline int _omp_threads() noexcept nogil:
    """Threads for an OpenMP kernel now: `g_threads`, or 1 while OpenBLAS's pool spins or
    the running program's governor keeps its kernels to one (`LinearProgram._run`)."""
    if g_threads > 1 and (g_gov_one or (
            g_blas_spin_until > 0.0 and _now() < g_blas_spin_until)):
        return 1
    return g_threads


cdef inline int _par_threads(double work) noexcept nogil:
    """`_omp_threads` for a kernel call of ``work`` (its measure against `ROW_PAR`, from which
    the kernels split it), counted in `g_par_offers` where several threads may take it: the
    programs making such calls are the governor's."""
    global g_par_offers
    if work >= ROW_PAR:
        g_par_offers += 1
    return _omp_threads()


#: the threads last offered to a generated elementwise or reduce kernel large enough to
#: release the GIL (tests)
cdef int g_last_kernel_threads = 0


cdef inline int _kernel_threads() noexcept nogil:
    """`_omp_threads` for a generated elementwise or reduce kernel: they too share the cores
    with a spinning OpenBLAS pool (a 400x400 product then tanh/exp over 2M float32 elements:
    3.0-4.1 ms a call on 2 threads, 2.3 ms on one)."""
    global g_last_kernel_threads, g_par_offers
    g_par_offers += 1
    g_last_kernel_threads = _omp_threads()
    return g_last_kernel_threads


def last_kernel_threads():
    """The threads last offered to a generated elementwise or reduce kernel that ran without
    the GIL (0 before any)."""
    return g_last_kernel_threads


def set_row_kernels(size_t dot_update, size_t rowmv, size_t rank1, size_t rank1_rowmv=0,
                    size_t rowmv_finish=0, size_t fewmm=0):
    """Addresses of the OpenMP float32 kernels (`DotUpdate`, a row times a matrix, a rank-1
    update, a rank-1 update with the next step's row product, that product's scaling, products
    of few rows, few columns or a short reduction; 0: none) built by `exec_cpu/dot_update.py`
    and `exec_cpu/few_rows.py`."""
    global g_dot_update, g_rowmv_mt, g_rank1_mt, g_rank1_rowmv, g_rowmv_finish, g_fewmm
    global g_fewmm_built
    g_fewmm_built = <fewmm_fn>fewmm
    g_fewmm = g_fewmm_built if g_few_on else NULL
    g_dot_update = <dot_update_fn>dot_update
    g_rowmv_mt = <rowmv_mt_fn>rowmv
    g_rank1_mt = <rank1_mt_fn>rank1
    g_rank1_rowmv = <rank1_rowmv_fn>rank1_rowmv
    g_rowmv_finish = <rowmv_finish_fn>rowmv_finish


cdef Py_ssize_t g_row_calls = 0
cdef Py_ssize_t g_ahead_calls = 0
cdef Py_ssize_t g_few_calls = 0


def few_kernel_calls():
    """How many products the few-rows kernels (`exec_cpu/few_rows.py`) have run (tests count
    the path)."""
    return g_few_calls


def set_few_kernels(bint on):
    """Use (True, where built for this CPU) or bypass the few-rows kernels; returns whether
    they were on (tests and A/B timings)."""
    global g_few_on, g_fewmm
    cdef bint was = g_few_on
    g_few_on = on
    g_fewmm = g_fewmm_built if on else NULL
    return was


def few_kernels_available():
    """Whether the few-rows kernels are built for this CPU (on or off)."""
    return g_fewmm_built != NULL


def few_kernels_in_use():
    """Whether products run the few-rows kernels now: built for this CPU and on."""
    return g_fewmm != NULL


cdef inline bint _fewmm(int typenum, cnp.npy_intp m, cnp.npy_intp n, cnp.npy_intp k,
                        const char *alpha, const char *a, cnp.npy_intp sam, cnp.npy_intp sak,
                        const char *b, cnp.npy_intp sbk, cnp.npy_intp sbn, const char *beta,
                        char *c, cnp.npy_intp ldc) noexcept nogil:
    """Row-major float32 ``c (m x n, row stride ldc) = alpha * a (m x k) @ b (k x n) + beta * c``
    (element strides) through the few-rows kernels; False where they decline (nothing
    written)."""
    global g_few_calls
    if g_fewmm == NULL or typenum != cnp.NPY_FLOAT:
        return False
    if not g_few_par and m * n * k >= ROW_PAR:
        return False  # BLAS's threads, as the program's other products
    if not g_fewmm(m, n, k, (<const float *>alpha)[0], <const float *>a, sam, sak,
                   <const float *>b, sbk, sbn, (<const float *>beta)[0], <float *>c, ldc,
                   _par_threads(<double>m * n * k) if g_few_par else 1, ROW_PAR):
        return False
    g_few_calls += 1
    return True


def row_kernel_calls():
    """How many products the OpenMP row kernels have run (tests count the path)."""
    return g_row_calls


def ahead_calls():
    """How many row products a rank-1 update computed ahead for the next loop step and that
    step then used (tests count the path)."""
    return g_ahead_calls


def row_min():
    """The smallest float32 1-row product or rank-1 update (elements) the OpenMP row kernels
    take (`set_row_min`)."""
    return g_row_min


def set_row_min(cnp.npy_intp n):
    """Smallest 1-row product or rank-1 update (elements) a float32 `Gemm` runs through the
    OpenMP kernels instead of BLAS (a huge value: never); returns the previous one (A/B)."""
    global g_row_min
    cdef cnp.npy_intp was = g_row_min
    g_row_min = n
    return was


cdef class Deferred  # _defer.pxi


cdef class GemmThunk(Thunk):
    """``Gemm``/``Gemv`` nodes (``beta*c + alpha*(a @ b)``) through BLAS gemm/gemv with beta
    accumulating into the output: ``c``'s own buffer when ``c`` dies here (``inplace``), else a
    (reused) buffer ``c`` is copied into. ``beta == 0`` with a non-finite ``c`` (IEEE wants NaN
    where BLAS would ignore ``c``) and empty operands run the NumPy ``perform``."""
    cdef int typenum
    cdef public bint vec
    cdef bint reuse
    cdef public bint inplace
    cdef object buf
    # a loop's look-ahead (`feed`): on a rank-1 update, the product thunk it computes the next
    # step's row for and where that row's data lies; on that product, the sums and what they
    # were computed from (checked before use)
    cdef GemmThunk fed
    cdef const char *next_a
    cdef cnp.npy_intp next_inc
    cdef object ahead
    cdef bint ahead_ready
    cdef Deferred defer
    cdef const char *ahead_a
    cdef const char *ahead_w
    cdef cnp.npy_intp ahead_inc, ahead_k
    cdef public bint few_par  # see `g_few_par`

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, int typenum, bint vec,
                 bint reuse, bint inplace):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.typenum = typenum
        self.vec = vec
        self.reuse = reuse
        self.inplace = inplace
        self.buf = None
        self.fed = None
        self.next_a = NULL
        self.ahead = None
        self.ahead_ready = False
        self.defer = None
        self.few_par = True

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes1(self.buf)

    cdef void drop_kept(self):
        self.buf = None

    def feed(self, GemmThunk product):
        """Let this rank-1 update of ``W`` also compute ``x @ W`` (the updated ``W``) for
        ``product``'s next run, ``x`` the row `set_next` names (a loop whose next step starts
        with that product); None: stop. The product takes the sums only where they were
        computed from the very ``x`` and ``W`` buffers it is given, and as it would have."""
        self.next_a = NULL
        if self.fed is not None:
            self.fed.ahead = None
            self.fed.ahead_ready = False
        self.fed = product
        if product is not None:
            product.ahead_ready = False

    def set_next(self, size_t addr, cnp.npy_intp inc):
        """The next step's row: float32 data at ``addr``, ``inc`` elements apart (0: none)."""
        self.next_a = <const char *>addr
        self.next_inc = inc

    cdef int run(self, list storage, bint shared) except -1:
        global g_row_calls, g_ahead_calls, g_few_par
        g_few_par = self.few_par
        cdef PyObject *xs[5]
        cdef object o
        cdef int j
        cdef bint ready = self.ahead_ready and not shared
        if not shared:
            self.ahead_ready = False
            if self.defer is not None and self.defer.take(self, storage):
                return 0
        for j in range(5):
            o = storage[<Py_ssize_t>self.ins[j]]
            if type(o) is not cnp.ndarray or not _plain(<cnp.ndarray>o, self.typenum):
                return Thunk.run(self, storage, shared)
            xs[j] = <PyObject *>o   # storage keeps it alive
        cdef cnp.ndarray c = <cnp.ndarray>xs[0], al = <cnp.ndarray>xs[1]
        cdef cnp.ndarray a = <cnp.ndarray>xs[2], b = <cnp.ndarray>xs[3]
        cdef cnp.ndarray be = <cnp.ndarray>xs[4]
        cdef cnp.npy_intp m = cnp.PyArray_DIMS(a)[0], k = cnp.PyArray_DIMS(a)[1], n
        n = 1 if self.vec else cnp.PyArray_DIMS(b)[1]
        if cnp.PyArray_DIMS(b)[0] != k:  # sizes known only now (a mask's result)
            raise ValueError(f"matmul: the inner sizes of the operands differ: "
                             f"{(<object>a).shape} and {(<object>b).shape}")
        if m == 0 or k == 0 or n == 0:
            return Thunk.run(self, storage, shared)
        cdef char *palpha = <char *>cnp.PyArray_DATA(al)
        cdef char *pbeta = <char *>cnp.PyArray_DATA(be)
        cdef bint beta0 = _scalar_is_zero(pbeta, self.typenum)
        if (beta0 and not np.isfinite(c).all()) or not _plain_alpha(palpha, self.typenum):
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp oshape[2]
        oshape[0] = m
        oshape[1] = n
        cdef int ond = 1 if self.vec else 2
        cdef cnp.ndarray out = None
        if (self.inplace and not shared and cnp.PyArray_NDIM(c) == ond
                and _same_shape(c, ond, oshape) and cnp.PyArray_IS_C_CONTIGUOUS(c)
                and cnp.PyArray_ISWRITEABLE(c)):
            out = c
        else:
            if (self.reuse and not shared and self.buf is not None
                    and _same_shape(<cnp.ndarray>self.buf, ond, oshape)):
                out = <cnp.ndarray>self.buf
            else:
                out = _target(storage, <Py_ssize_t>self.outs[0], ond, oshape, self.typenum)
                if out is None:
                    out = cnp.PyArray_EMPTY(ond, oshape, self.typenum, 0)
                    if self.reuse and not shared:
                        self.buf = out
            if not beta0:
                if (cnp.PyArray_SIZE(c) == m * n and cnp.PyArray_IS_C_CONTIGUOUS(c)
                        and cnp.PyArray_TYPE(c) == self.typenum):
                    memcpy(cnp.PyArray_DATA(out), cnp.PyArray_DATA(c),
                           m * n * cnp.PyArray_ITEMSIZE(out))
                elif cnp.PyArray_SIZE(c) == 1 and cnp.PyArray_TYPE(c) == self.typenum:
                    # a scalar accumulator (-0.0 under a bare product): BLAS beta = 0 would
                    # lose the sign of zero results, so fill it in
                    _fill(cnp.PyArray_BYTES(out), cnp.PyArray_BYTES(c), m * n, cnp.PyArray_ITEMSIZE(out))
                elif (not self.vec and cnp.PyArray_SIZE(c) == n and cnp.PyArray_IS_C_CONTIGUOUS(c)
                      and cnp.PyArray_TYPE(c) == self.typenum and cnp.PyArray_NDIM(c) <= 2
                      and cnp.PyArray_DIMS(c)[0] == (n if cnp.PyArray_NDIM(c) == 1 else 1)):
                    # a bias row broadcast down the rows (``h @ V + c``): one memcpy per row
                    _fill(cnp.PyArray_BYTES(out), cnp.PyArray_BYTES(c), m,
                          n * cnp.PyArray_ITEMSIZE(out))
                else:  # broadcast or strided c
                    np.copyto(out, c)
        storage[<Py_ssize_t>self.outs[0]] = out
        cdef char *pc = <char *>cnp.PyArray_DATA(out)
        if self.vec:
            return _matvec(self.typenum, a, True, b, palpha, pbeta, pc)
        cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
        cdef char *px
        cdef int incx
        cdef cnp.npy_intp r
        # (rows one by one where the few-rows kernels would not take the product: `_fewmm`)
        if ((m == 1 or (m <= g_small_rows and k >= 8 and (
                g_fewmm == NULL or not (g_few_par or m * n * k < ROW_PAR))))
                and _small_rowmv(self.typenum, k, n, b)
                and cnp.PyArray_STRIDES(a)[1] % 4 == 0 and cnp.PyArray_STRIDES(a)[0] % 4 == 0):
            # a row, or a few rows one by one, times a narrow matrix (in L1)
            for r in range(m):
                la_rowmv_f32(k, n, <const float *>(cnp.PyArray_BYTES(a)
                                                   + r * cnp.PyArray_STRIDES(a)[0]),
                             cnp.PyArray_STRIDES(a)[1] // 4,
                             <const float *>cnp.PyArray_DATA(b),
                             cnp.PyArray_STRIDES(b)[0] // 4, (<float *>palpha)[0],
                             0.0 if beta0 else (<float *>pbeta)[0], <float *>pc + r * n)
            return 0
        if (k == 1 and self.next_a != NULL and not shared and self.typenum == cnp.NPY_FLOAT
                and m * n >= g_row_min and (<float *>pbeta)[0] == 1.0
                and cnp.PyArray_STRIDES(b)[1] == 4 and cnp.PyArray_STRIDES(a)[0] % 4 == 0
                and g_rank1_rowmv != NULL and g_rowmv_finish != NULL
                and self._ahead(m, n, a, b, palpha, pc)):
            # a loop's rank-1 update that also computes the next step's row product (`feed`)
            g_row_calls += 1
            return 0
        if (k == 1 and _small_rank1(self.typenum, m, n, b) and (<float *>pbeta)[0] == 1.0
                and cnp.PyArray_STRIDES(a)[0] % 4 == 0):
            # a rank-1 update (the weight gradient at minibatch 1), out already holds c
            la_rank1_f32(m, n, (<float *>palpha)[0], <const float *>cnp.PyArray_DATA(a),
                         cnp.PyArray_STRIDES(a)[0] // 4, <const float *>cnp.PyArray_DATA(b),
                         <float *>pc, n)
            return 0
        if (m == 1 and g_rowmv_mt != NULL and self.typenum == cnp.NPY_FLOAT
                and k * n >= g_row_min and cnp.PyArray_STRIDES(b)[1] == 4
                and cnp.PyArray_STRIDES(b)[0] % 4 == 0 and cnp.PyArray_STRIDES(a)[1] % 4 == 0):
            # a row times a large matrix on OpenMP threads, no OpenBLAS pool woken (its
            # spinning threads took the cores from the OpenMP kernels of the same step)
            if (ready and self.ahead_a == cnp.PyArray_DATA(a)
                    and self.ahead_w == cnp.PyArray_DATA(b) and self.ahead_k == k
                    and self.ahead_inc == cnp.PyArray_STRIDES(a)[1] // 4
                    and cnp.PyArray_STRIDES(b)[0] == 4 * n
                    and cnp.PyArray_DIMS(<cnp.ndarray>self.ahead)[0] == n):
                # the last step's update computed this product already
                g_rowmv_finish(n, (<float *>palpha)[0], 0.0 if beta0 else (<float *>pbeta)[0],
                               <const float *>cnp.PyArray_DATA(<cnp.ndarray>self.ahead),
                               <float *>pc)
                g_ahead_calls += 1
                return 0
            with nogil:
                g_rowmv_mt(k, n, <const float *>cnp.PyArray_DATA(a),
                           cnp.PyArray_STRIDES(a)[1] // 4, <const float *>cnp.PyArray_DATA(b),
                           cnp.PyArray_STRIDES(b)[0] // 4, (<float *>palpha)[0],
                           0.0 if beta0 else (<float *>pbeta)[0], <float *>pc,
                           _par_threads(<double>k * n), ROW_PAR)
            g_row_calls += 1
            return 0
        if (k == 1 and g_rank1_mt != NULL and self.typenum == cnp.NPY_FLOAT
                and m * n >= g_row_min and (<float *>pbeta)[0] == 1.0
                and cnp.PyArray_STRIDES(b)[1] == 4 and cnp.PyArray_STRIDES(a)[0] % 4 == 0):
            with nogil:
                g_rank1_mt(m, n, (<float *>palpha)[0], <const float *>cnp.PyArray_DATA(a),
                           cnp.PyArray_STRIDES(a)[0] // 4, <const float *>cnp.PyArray_DATA(b),
                           <float *>pc, n, _par_threads(<double>m * n), ROW_PAR)
            g_row_calls += 1
            return 0
        if k == 1 and _ger(self.typenum, m, n, a, b, palpha, pbeta, pc):
            return 0
        if m == 1:  # a row times a matrix: gemv reads b in place, gemm would pack it
            px = <char *>cnp.PyArray_DATA(a)
            if _vec_inc(cnp.PyArray_STRIDES(a)[1], isz, k, &px, &incx):
                return _matvec_p(self.typenum, b, False, px, incx, palpha, pbeta, pc)
            return _matvec(self.typenum, b, False, a[0], palpha, pbeta, pc)
        # row-major out (m x n) = a @ b is column-major out^T (n x m) = b^T @ a^T
        cdef char ta, tb
        cdef int lda, ldb
        if not _strides_ok(a, isz) or not _blas_layout(
                cnp.PyArray_STRIDES(a)[0] // isz, cnp.PyArray_STRIDES(a)[1] // isz, m, k,
                &ta, &lda):
            a = np.ascontiguousarray(a)
            _blas_layout(k, 1, m, k, &ta, &lda)
        if not _strides_ok(b, isz) or not _blas_layout(
                cnp.PyArray_STRIDES(b)[0] // isz, cnp.PyArray_STRIDES(b)[1] // isz, k, n,
                &tb, &ldb):
            b = np.ascontiguousarray(b)
            _blas_layout(n, 1, k, n, &tb, &ldb)
        cdef char *pa = <char *>cnp.PyArray_DATA(a)
        cdef char *pb = <char *>cnp.PyArray_DATA(b)
        cdef int im = <int>m, ik = <int>k, inn = <int>n
        with nogil:
            _gemm_ab(self.typenum, tb, ta, inn, im, ik, palpha, pb, ldb, pa, lda, pbeta, pc,
                     inn)
        return 0


    cdef bint _ahead(self, cnp.npy_intp m, cnp.npy_intp n, cnp.ndarray a, cnp.ndarray b,
                     char *palpha, char *pc) except -1:
        """The rank-1 update ``pc (m x n) += alpha * a @ b`` and the fed product's next row
        times the result, in one pass (`feed`); False where the kernel declines (nothing
        done)."""
        cdef GemmThunk f = self.fed
        if f.ahead is None or cnp.PyArray_DIMS(<cnp.ndarray>f.ahead)[0] != n:
            f.ahead = cnp.PyArray_EMPTY(1, &n, cnp.NPY_FLOAT, 0)
        cdef float *pp = <float *>cnp.PyArray_DATA(<cnp.ndarray>f.ahead)
        cdef const float *pa = <const float *>cnp.PyArray_DATA(a)
        cdef const float *pb = <const float *>cnp.PyArray_DATA(b)
        cdef const float *px = <const float *>self.next_a
        cdef cnp.npy_intp inca = cnp.PyArray_STRIDES(a)[0] // 4, incx = self.next_inc
        cdef float alpha = (<float *>palpha)[0]
        cdef int done
        with nogil:
            done = g_rank1_rowmv(m, n, alpha, pa, inca, pb, <float *>pc, n, px, incx, pp,
                                 _par_threads(<double>m * n), ROW_PAR)
        if not done:
            return False
        f.ahead_ready = True
        f.ahead_a = self.next_a
        f.ahead_w = pc
        f.ahead_inc = incx
        f.ahead_k = m
        return True


#: smallest update (elements) ger takes. Between gemm calls, ger made fig1's mlp500 b1 step
#: 2x slower (its 784x500 update 68 -> 155 us, the next gemv 28 -> 77 us), though alone on an
#: in-cache matrix it beat gemm (55 vs 72 us); deep1000x3 b1's updates (784x1000, 1000x1000)
#: went 375/455 -> 280/370 us and the step 2.10 -> 1.88 ms (2 threads)
DEF GER_MIN = 1 << 19


cdef bint _ger(int typenum, cnp.npy_intp m, cnp.npy_intp n, cnp.ndarray a, cnp.ndarray b,
               char *alpha, char *beta, char *pc) noexcept:
    """A real rank-1 update ``c += alpha * a @ b`` (``a``: m x 1, ``b``: 1 x n, ``c`` C-contiguous
    m x n already holding c, beta == 1) through NumPy's OpenBLAS ger; False where it does not
    apply (then gemm runs)."""
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp sa = cnp.PyArray_STRIDES(a)[0], sb = cnp.PyArray_STRIDES(b)[1]
    if m * n < GER_MIN or sa <= 0 or sb <= 0 or sa % isz or sb % isz:
        return False
    # row-major c (m x n) is column-major c^T (n x m): c^T += alpha * b^T a^T
    cdef _i64 m8 = n, n8 = m, ib = sb // isz, ia = sa // isz, ld = n
    global g_ger_calls
    _blas_threaded(<double>m * n, ROW_PAR)
    if typenum == cnp.NPY_FLOAT and g_sger64 != NULL and (<float *>beta)[0] == 1.0:
        with nogil:
            g_sger64(&m8, &n8, <float *>alpha, <float *>cnp.PyArray_DATA(b), &ib,
                     <float *>cnp.PyArray_DATA(a), &ia, <float *>pc, &ld)
        g_ger_calls += 1
        return True
    if typenum == cnp.NPY_DOUBLE and g_dger64 != NULL and (<double *>beta)[0] == 1.0:
        with nogil:
            g_dger64(&m8, &n8, <double *>alpha, <double *>cnp.PyArray_DATA(b), &ib,
                     <double *>cnp.PyArray_DATA(a), &ia, <double *>pc, &ld)
        g_ger_calls += 1
        return True
    return False


cdef inline bint _strides_ok(cnp.ndarray a, cnp.npy_intp isz):
    return cnp.PyArray_STRIDES(a)[0] % isz == 0 and cnp.PyArray_STRIDES(a)[1] % isz == 0


cdef class DotUpdateThunk(Thunk):
    """`DotUpdate` nodes (``dx = g @ W.T`` and ``W + alpha * (a @ d)`` in one pass over ``W``,
    rows split across the threads) through `g_dot_update` (``exec_cpu/dot_update.py``):
    float32, ``W`` with unit column stride, ``d``/``g`` contiguous rows. The update goes into
    ``W``'s own buffer when ``W`` dies here (``inplace``), else into a (reused) copy of ``W``.
    Without the kernel (no C compiler) BLAS runs gemv, then ger or gemm, into the same buffer;
    other dtypes and layouts run the NumPy ``perform``."""
    cdef bint reuse_dx, reuse_w
    cdef public bint inplace
    cdef object dxbuf, wbuf

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, bint reuse_dx,
                 bint reuse_w, bint inplace):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.reuse_dx = reuse_dx
        self.reuse_w = reuse_w
        self.inplace = inplace
        self.dxbuf = None
        self.wbuf = None

    cdef Py_ssize_t kept_bytes(self):
        return _nbytes1(self.dxbuf) + _nbytes1(self.wbuf)

    cdef void drop_kept(self):
        self.dxbuf = None
        self.wbuf = None

    cdef int run(self, list storage, bint shared) except -1:
        cdef PyObject *xs[5]
        cdef object o
        cdef int j
        for j in range(5):
            o = storage[<Py_ssize_t>self.ins[j]]
            if type(o) is not cnp.ndarray or not _plain(<cnp.ndarray>o, cnp.NPY_FLOAT):
                return Thunk.run(self, storage, shared)
            xs[j] = <PyObject *>o   # storage keeps it alive
        cdef cnp.ndarray w = <cnp.ndarray>xs[0], al = <cnp.ndarray>xs[1]
        cdef cnp.ndarray a = <cnp.ndarray>xs[2], d = <cnp.ndarray>xs[3]
        cdef cnp.ndarray g = <cnp.ndarray>xs[4]
        if (cnp.PyArray_NDIM(w) != 2 or cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_NDIM(d) != 2
                or cnp.PyArray_NDIM(g) != 2 or cnp.PyArray_NDIM(al) != 0):
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp m = cnp.PyArray_DIMS(w)[0], n = cnp.PyArray_DIMS(w)[1]
        cdef cnp.npy_intp *sw = cnp.PyArray_STRIDES(w)
        cdef cnp.npy_intp sa = cnp.PyArray_STRIDES(a)[0]
        if (m == 0 or n == 0 or cnp.PyArray_DIMS(a)[0] != m or cnp.PyArray_DIMS(d)[1] != n
                or cnp.PyArray_DIMS(g)[1] != n or (n > 1 and sw[1] != 4) or sw[0] % 4
                or sa % 4 or (n > 1 and (cnp.PyArray_STRIDES(d)[1] != 4
                                         or cnp.PyArray_STRIDES(g)[1] != 4))
                or (g_dot_update == NULL and sa < 4)):  # BLAS wants a positive increment
            return Thunk.run(self, storage, shared)
        cdef cnp.npy_intp shape[2]
        shape[0] = 1
        shape[1] = m
        cdef cnp.ndarray dx
        if (self.reuse_dx and not shared and self.dxbuf is not None
                and _same_shape(<cnp.ndarray>self.dxbuf, 2, shape)):
            dx = <cnp.ndarray>self.dxbuf
        else:
            dx = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT, 0)
            if self.reuse_dx and not shared:
                self.dxbuf = dx
        shape[0] = m
        shape[1] = n
        cdef cnp.ndarray out
        if (self.inplace and not shared and cnp.PyArray_IS_C_CONTIGUOUS(w)
                and cnp.PyArray_ISWRITEABLE(w)):
            out = w
        else:
            if (self.reuse_w and not shared and self.wbuf is not None
                    and _same_shape(<cnp.ndarray>self.wbuf, 2, shape)):
                out = <cnp.ndarray>self.wbuf
            else:
                out = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT, 0)
                if self.reuse_w and not shared:
                    self.wbuf = out
            if cnp.PyArray_IS_C_CONTIGUOUS(w):
                memcpy(cnp.PyArray_DATA(out), cnp.PyArray_DATA(w), m * n * 4)
            else:
                np.copyto(out, w)
        # out holds W now: the kernel reads each row before it updates it
        cdef float *pw = <float *>cnp.PyArray_DATA(out)
        cdef const float *pg = <const float *>cnp.PyArray_DATA(g)
        cdef const float *pd = <const float *>cnp.PyArray_DATA(d)
        cdef const float *pa = <const float *>cnp.PyArray_DATA(a)
        cdef float alpha = (<float *>cnp.PyArray_DATA(al))[0]
        cdef float *pdx = <float *>cnp.PyArray_DATA(dx)
        storage[<Py_ssize_t>self.outs[0]] = dx
        storage[<Py_ssize_t>self.outs[1]] = out
        if g_dot_update == NULL:  # no kernel (no C compiler): gemv, then ger or gemm, in place
            _matvec_p(cnp.NPY_FLOAT, out, True, <char *>pg, 1, _one(cnp.NPY_FLOAT),
                      _zero(cnp.NPY_FLOAT), <char *>pdx)
            if not _ger(cnp.NPY_FLOAT, m, n, a, d, <char *>&alpha, _one(cnp.NPY_FLOAT),
                        <char *>pw):
                # column-major out^T (n x m) += alpha * d^T (n x 1) @ a^T (1 x m)
                with nogil:
                    _gemm_ab(cnp.NPY_FLOAT, b'N', b'N', <int>n, <int>m, 1, <char *>&alpha,
                             <char *>pd, <int>n, <char *>pa, <int>(sa // 4),
                             _one(cnp.NPY_FLOAT), <char *>pw, <int>n)
            return 0
        if m * n >= NOGIL_MIN:
            with nogil:
                g_dot_update(m, n, pw, n, pg, pd, alpha, pa, sa // 4, pdx,
                             _par_threads(<double>m * n), ROW_PAR)
        else:
            g_dot_update(m, n, pw, n, pg, pd, alpha, pa, sa // 4, pdx, 1, ROW_PAR)
        global g_row_calls
        g_row_calls += 1
        return 0
