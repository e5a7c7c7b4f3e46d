# Included by _vm.pyx (before _blas.pxi): real gemm through NumPy's own OpenBLAS when
# `native.py` finds it (``set_gemm64``: the 64-bit-integer Fortran entry points of the library
# NumPy's wheel ships), else SciPy's (``scipy.linalg.cython_blas``). Measured side by side
# through the same Fortran interface, 1 thread: NumPy's OpenBLAS 0.3.31 took 0.29 ms for a
# (10 x 784) @ (784 x 500) float32 product where SciPy's 0.3.30 took 0.48 ms (fig1's mlp500
# forward product at minibatch 10), and ~10 % less at minibatch 60.

from libc.stdint cimport int64_t as _i64

ctypedef void (*_sgemm64_t)(char *, char *, _i64 *, _i64 *, _i64 *, float *, float *, _i64 *,
                            float *, _i64 *, float *, float *, _i64 *) noexcept nogil
ctypedef void (*_dgemm64_t)(char *, char *, _i64 *, _i64 *, _i64 *, double *, double *,
                            _i64 *, double *, _i64 *, double *, double *, _i64 *) noexcept nogil

cdef _sgemm64_t g_sgemm64 = NULL
cdef _dgemm64_t g_dgemm64 = NULL


def set_gemm64(size_t sgemm_addr, size_t dgemm_addr):
    """Use these ``sgemm``/``dgemm`` (Fortran interface, 64-bit integers; addresses, 0 for
    SciPy's) for float32/float64 matrix products."""
    global g_sgemm64, g_dgemm64
    g_sgemm64 = <_sgemm64_t>sgemm_addr
    g_dgemm64 = <_dgemm64_t>dgemm_addr


cdef inline bint _gemm64(int typenum, char ta, char tb, int m, int n, int k, char *alpha,
                         char *a, int lda, char *b, int ldb, char *beta, char *c,
                         int ldc) noexcept nogil:
    """`_gemm_ab` through the 64-bit entry points when set; False: not handled."""
    cdef _i64 m8 = m, n8 = n, k8 = k, lda8 = lda, ldb8 = ldb, ldc8 = ldc
    if typenum == cnp.NPY_FLOAT and g_sgemm64 != NULL:
        g_sgemm64(&ta, &tb, &m8, &n8, &k8, <float *>alpha, <float *>a, &lda8, <float *>b,
                  &ldb8, <float *>beta, <float *>c, &ldc8)
        return True
    if typenum == cnp.NPY_DOUBLE and g_dgemm64 != NULL:
        g_dgemm64(&ta, &tb, &m8, &n8, &k8, <double *>alpha, <double *>a, &lda8, <double *>b,
                  &ldb8, <double *>beta, <double *>c, &ldc8)
        return True
    return False
