# Included by _vm.pyx (before _blas.pxi): real gemm through NumPy's own OpenBLAS when
# `native.py` finds it (``set_gemm64``: the 64-bit-integer Fortran entry points of the library
# NumPy's wheel ships), else SciPy's (``scipy.linalg.cython_blas``). Measured side by side
# through the same Fortran interface, 1 thread: NumPy's OpenBLAS 0.3.31 took 0.29 ms for a
# (10 x 784) @ (784 x 500) float32 product where SciPy's 0.3.30 took 0.48 ms (fig1's mlp500
# forward product at minibatch 10), and ~10 % less at minibatch 60.
#
# Few-row float32 products on several threads are split into equal blocks of the long side,
# each computed single-threaded by one of OpenBLAS's own threads through its batch interface
# (``cblas_sgemm_batch``; blocks are strided sub-matrices, no copies): OpenBLAS threads such a
# product poorly ((10 x 784) @ (784 x 500): 27 GFLOP/s on 1 thread, 34 on 2).

from libc.stdint cimport int64_t as _i64

ctypedef void (*_sgemm64_t)(char *, char *, _i64 *, _i64 *, _i64 *, float *, float *, _i64 *,
                            float *, _i64 *, float *, float *, _i64 *) noexcept nogil
ctypedef void (*_dgemm64_t)(char *, char *, _i64 *, _i64 *, _i64 *, double *, double *,
                            _i64 *, double *, _i64 *, double *, double *, _i64 *) noexcept nogil
# gemv(trans, m, n, alpha, a, lda, x, incx, beta, y, incy)
ctypedef void (*_sgemv64_t)(char *, _i64 *, _i64 *, float *, float *, _i64 *, float *, _i64 *,
                            float *, float *, _i64 *) noexcept nogil
ctypedef void (*_dgemv64_t)(char *, _i64 *, _i64 *, double *, double *, _i64 *, double *,
                            _i64 *, double *, double *, _i64 *) noexcept nogil
# ger(m, n, alpha, x, incx, y, incy, a, lda): a += alpha * x y^T, a column-major m x n
ctypedef void (*_sger64_t)(_i64 *, _i64 *, float *, float *, _i64 *, float *, _i64 *, float *,
                           _i64 *) noexcept nogil
ctypedef void (*_dger64_t)(_i64 *, _i64 *, double *, double *, _i64 *, double *, _i64 *,
                           double *, _i64 *) noexcept nogil
# cblas_sgemm_batch(order, transa[], transb[], m[], n[], k[], alpha[], a[], lda[], b[], ldb[],
#                   beta[], c[], ldc[], group_count, group_size[]) with 64-bit integers
ctypedef void (*_sbatch64_t)(int, int *, int *, _i64 *, _i64 *, _i64 *, float *, float **,
                             _i64 *, float **, _i64 *, float *, float **, _i64 *, _i64,
                             _i64 *) noexcept nogil

cdef extern from *:
    """
    #include <dlfcn.h>
    /* The symbol `name` of the shared library that holds `addr` (NULL if none). */
    static void *la_sym_beside(void *addr, const char *name) {
        Dl_info info;
        void *h, *p;
        if (!addr || !dladdr(addr, &info) || !info.dli_fname) return NULL;
        h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
        if (!h) return NULL;
        p = dlsym(h, name);
        dlclose(h);  /* RTLD_NOLOAD took a reference; the library stays loaded */
        return p;
    }
    """
    void *la_sym_beside(void *addr, const char *name)

cdef _sgemm64_t g_sgemm64 = NULL
cdef _dgemm64_t g_dgemm64 = NULL
cdef _sbatch64_t g_sbatch64 = NULL
cdef _sgemv64_t g_sgemv64 = NULL
cdef _dgemv64_t g_dgemv64 = NULL
cdef _sger64_t g_sger64 = NULL
cdef _dger64_t g_dger64 = NULL
#: rank-1 updates run through ger so far (`ger_calls`: tests check the path ran)
cdef _i64 g_ger_calls = 0
#: split few-row float32 products between threads (`set_gemm_split`)
cdef bint g_split = True
#: products split so far (`gemm_split_calls`: tests check the path ran)
cdef _i64 g_split_calls = 0

#: a product is split when its short side or its reduction has at most this many elements
DEF SPLIT_FEW = 64
#: ... and each block has more than this much work (m * n * k). OpenBLAS 0.3.31's batch
#: interface crashes (a null routine on a worker thread) for a block its small-matrix kernels
#: would take, which every architecture's permit caps at m * n * k <= 100^3
DEF SPLIT_MIN_BLOCK = 1 << 20

DEF CBLAS_COL_MAJOR = 102
DEF CBLAS_NO_TRANS = 111
DEF CBLAS_TRANS = 112


def set_gemm64(size_t sgemm_addr, size_t dgemm_addr):
    """Use these ``sgemm``/``dgemm`` (Fortran interface, 64-bit integers; addresses, 0 for
    SciPy's) for float32/float64 matrix products."""
    global g_sgemm64, g_dgemm64, g_sbatch64, g_sgemv64, g_dgemv64, g_sger64, g_dger64
    g_sgemm64 = <_sgemm64_t>sgemm_addr
    g_dgemm64 = <_dgemm64_t>dgemm_addr
    g_sbatch64 = <_sbatch64_t>la_sym_beside(<void *>sgemm_addr, b"scipy_cblas_sgemm_batch64_")
    # gemv from the same library: two OpenBLAS builds in one process each keep a pool of
    # spinning threads, and alternating between them (a deep MLP at minibatch 1: gemv forward,
    # gemm updates) made a 2-thread step 5x slower than a 1-thread one on 2 cores
    g_sgemv64 = <_sgemv64_t>la_sym_beside(<void *>sgemm_addr, b"scipy_sgemv_64_")
    g_dgemv64 = <_dgemv64_t>la_sym_beside(<void *>dgemm_addr, b"scipy_dgemv_64_")
    # rank-1 updates (the weight gradient at minibatch 1) through ger: gemm with a reduction
    # of 1 took 417 us for a 1000 x 1000 float32 update where ger took 179 (2 threads)
    g_sger64 = <_sger64_t>la_sym_beside(<void *>sgemm_addr, b"scipy_sger_64_")
    g_dger64 = <_dger64_t>la_sym_beside(<void *>dgemm_addr, b"scipy_dger_64_")


def set_gemm_split(bint on):
    """Split few-row float32 products into blocks run on OpenBLAS's threads (True, where
    NumPy's OpenBLAS has a batch interface and more than one thread is set) or leave them to
    gemm's own threading; returns whether splitting was on (tests and A/B timings)."""
    global g_split
    cdef bint was = g_split
    g_split = on
    return was


def ger_calls():
    """How many rank-1 updates have run through NumPy's OpenBLAS ger since import."""
    return g_ger_calls


def gemm_split_calls():
    """How many products have been split into blocks since import."""
    return g_split_calls


def gemm_split_available():
    """Whether float32 products can be split into blocks (NumPy's OpenBLAS has
    ``cblas_sgemm_batch`` and it is the gemm in use)."""
    return g_sbatch64 != NULL and g_sgemm64 != NULL


cdef inline bint _gemm64(int typenum, char ta, char tb, int m, int n, int k, char *alpha,
                         char *a, int lda, char *b, int ldb, char *beta, char *c,
                         int ldc) noexcept nogil:
    """`_gemm_ab` through the 64-bit entry points when set; False: not handled."""
    cdef _i64 m8 = m, n8 = n, k8 = k, lda8 = lda, ldb8 = ldb, ldc8 = ldc
    if typenum == cnp.NPY_FLOAT and g_sgemm64 != NULL:
        if not _sgemm_split(ta, tb, m8, n8, k8, <float *>alpha, <float *>a, lda8,
                            <float *>b, ldb8, <float *>beta, <float *>c, ldc8):
            g_sgemm64(&ta, &tb, &m8, &n8, &k8, <float *>alpha, <float *>a, &lda8,
                      <float *>b, &ldb8, <float *>beta, <float *>c, &ldc8)
        return True
    if typenum == cnp.NPY_DOUBLE and g_dgemm64 != NULL:
        g_dgemm64(&ta, &tb, &m8, &n8, &k8, <double *>alpha, <double *>a, &lda8, <double *>b,
                  &ldb8, <double *>beta, <double *>c, &ldc8)
        return True
    return False


DEF SPLIT_MAX_THREADS = 64


cdef bint _sgemm_split(char ta, char tb, _i64 m, _i64 n, _i64 k, float *alpha, float *a,
                       _i64 lda, float *b, _i64 ldb, float *beta, float *c,
                       _i64 ldc) noexcept nogil:
    """Column-major ``C (m x n) = alpha * op(A) @ op(B) + beta * C`` as ``g_threads`` equal
    blocks of C's longer side (m: rows of op(A); n: columns of op(B)) in one batch call, plus
    the few rows/columns left over by one plain gemm. False: not split (one thread, a large
    or square product, too little work per block, no batch interface)."""
    global g_split_calls
    cdef _i64 nt = g_threads
    if not g_split or g_sbatch64 == NULL or nt < 2:
        return False
    if nt > SPLIT_MAX_THREADS:
        nt = SPLIT_MAX_THREADS
    if not (m <= SPLIT_FEW or n <= SPLIT_FEW or k <= SPLIT_FEW):
        return False
    cdef bint along_m = m > n
    cdef _i64 size = m if along_m else n
    cdef _i64 s = size // nt
    if s < 1 or s * (n if along_m else m) * k <= SPLIT_MIN_BLOCK:
        return False
    cdef float *pa[SPLIT_MAX_THREADS]
    cdef float *pb[SPLIT_MAX_THREADS]
    cdef float *pc[SPLIT_MAX_THREADS]
    # a block's offset in A (split along m) or B (along n), per element of the split side
    cdef _i64 step = (1 if ta == b'N' else lda) if along_m else (ldb if tb == b'N' else 1)
    cdef _i64 cstep = 1 if along_m else ldc
    cdef _i64 t
    for t in range(nt):
        pa[t] = a + t * s * step if along_m else a
        pb[t] = b if along_m else b + t * s * step
        pc[t] = c + t * s * cstep
    cdef int cta = CBLAS_NO_TRANS if ta == b'N' else CBLAS_TRANS
    cdef int ctb = CBLAS_NO_TRANS if tb == b'N' else CBLAS_TRANS
    cdef _i64 bm = s if along_m else m, bn = n if along_m else s
    g_split_calls += 1
    g_sbatch64(CBLAS_COL_MAJOR, &cta, &ctb, &bm, &bn, &k, alpha, pa, &lda, pb, &ldb, beta, pc,
               &ldc, 1, &nt)
    cdef _i64 done = nt * s, rest = size - nt * s
    if rest:
        if along_m:
            g_sgemm64(&ta, &tb, &rest, &n, &k, alpha, a + done * step, &lda, b, &ldb, beta,
                      c + done, &ldc)
        else:
            g_sgemm64(&ta, &tb, &m, &rest, &k, alpha, a, &lda, b + done * step, &ldb, beta,
                      c + done * ldc, &ldc)
    return True
