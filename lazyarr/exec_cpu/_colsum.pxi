# Included by _vm.pyx (before `ReduceThunk`): sums and means of a C-contiguous float array
# over its leading axes (``x.sum(0)``, a bias gradient), row by row into per-column
# accumulators. The generated reduction kernels reduce one strided column per output element:
# (60 x 500) float32 over axis 0 took ~63 us that way, ~11 here. Built with the module (no
# compiler at run time: a column path in every generated kernel cost ~15 ms of compiler each,
# against fig1's 0.5 s cold-compile target). Float sums accumulate in double, as the kernels do.

cdef extern from *:
    """
    #define LA_COLS_BLOCK 1024
    /* out[j] = sum over i < R of x[i*K + j] (divided by R for a mean), j < K. */
    static void la_colsum_f32(int64_t R, int64_t K, const float *x, float *out, int mean) {
        double acc[LA_COLS_BLOCK];
        for (int64_t j0 = 0; j0 < K; j0 += LA_COLS_BLOCK) {
            const int64_t len = K - j0 < LA_COLS_BLOCK ? K - j0 : LA_COLS_BLOCK;
            for (int64_t j = 0; j < len; j++) acc[j] = 0.0;
            for (int64_t i = 0; i < R; i++) {
                const float *row = x + i * K + j0;
                for (int64_t j = 0; j < len; j++) acc[j] += (double)row[j];
            }
            for (int64_t j = 0; j < len; j++)
                out[j0 + j] = (float)(mean ? acc[j] / (double)R : acc[j]);
        }
    }
    static void la_colsum_f64(int64_t R, int64_t K, const double *x, double *out, int mean) {
        double acc[LA_COLS_BLOCK];
        for (int64_t j0 = 0; j0 < K; j0 += LA_COLS_BLOCK) {
            const int64_t len = K - j0 < LA_COLS_BLOCK ? K - j0 : LA_COLS_BLOCK;
            for (int64_t j = 0; j < len; j++) acc[j] = 0.0;
            for (int64_t i = 0; i < R; i++) {
                const double *row = x + i * K + j0;
                for (int64_t j = 0; j < len; j++) acc[j] += row[j];
            }
            for (int64_t j = 0; j < len; j++)
                out[j0 + j] = mean ? acc[j] / (double)R : acc[j];
        }
    }
    """
    void la_colsum_f32(int64_t R, int64_t K, const float *x, float *out, int mean) nogil
    void la_colsum_f64(int64_t R, int64_t K, const double *x, double *out, int mean) nogil

#: a column sum is worth the column path from this many kept elements
DEF COLS_MIN = 8


cdef bint _colsum(int kind, cnp.ndarray x, cnp.ndarray out, cnp.npy_intp K) except -1:
    """``out`` (C-contiguous, ``K`` elements) = the sum (``kind`` 1) or mean (2) of ``x``
    over its leading axes, where ``x`` is C-contiguous of ``out``'s dtype (float32/64) and
    ``K >= COLS_MIN``; False (nothing done) otherwise."""
    cdef cnp.npy_intp n = cnp.PyArray_SIZE(x), R
    cdef int t = cnp.PyArray_TYPE(x)
    if (K < COLS_MIN or n % K or not cnp.PyArray_IS_C_CONTIGUOUS(x)
            or cnp.PyArray_TYPE(out) != t or not cnp.PyArray_IS_C_CONTIGUOUS(out)):
        return False
    R = n // K
    cdef int mean = kind == 2
    if t == cnp.NPY_FLOAT:
        with nogil:
            la_colsum_f32(R, K, <const float *>cnp.PyArray_DATA(x),
                          <float *>cnp.PyArray_DATA(out), mean)
        return True
    if t == cnp.NPY_DOUBLE:
        with nogil:
            la_colsum_f64(R, K, <const double *>cnp.PyArray_DATA(x),
                          <double *>cnp.PyArray_DATA(out), mean)
        return True
    return False
