# Included by _vm.pyx (before _blas.pxi): AVX2/FMA kernels for the two float32 products of a
# minibatch-1 training step, where OpenBLAS's fixed cost per call is most of the time:
#   la_rowmv_f32: y = alpha * (x @ W) + beta * y, x one row (K), W row-major (K x N)
#   la_rank1_f32: W += alpha * (x (M) outer d (N)), W row-major (M x N)
# Compiled for AVX2 + FMA through GCC's target attribute and used only where the CPU has both
# (checked once at import); elsewhere the BLAS paths run.
# The rank-1 update rounds as BLAS and NumPy's ``W + alpha * (x.T @ d)`` do: the product, its
# scaling, then the sum, each rounded (no FMA: the module is compiled as ISO C, where GCC does
# not contract ``a * b + c``).

cdef extern from *:
    """
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #include <immintrin.h>
    #define LA_SMALL_X86 1
    #define LA_AVX2FMA __attribute__((target("avx2,fma")))

    static int la_small_ok(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }

    /* Column tiles are 8 wide; when 8 does not divide N the last tile is W[:, N-8:N],
       overlapping the one before it, so no masked load or store runs (VMASKMOVPS is
       microcoded on AMD Zen: the masked kernels took 3-4x BLAS's time). N >= 8. */
    static inline npy_intp la_tile(npy_intp t, npy_intp N) {
        npy_intp j = 8 * t;
        return j + 8 <= N ? j : N - 8;
    }

    /* y[0:N] = alpha * sum_k x[k*incx] * W[k*ldw + 0:N] + beta * y (beta == 0: y not read).
       Two column tiles per pass over the rows, four rows per step into eight accumulators. */
    /* `la_rowmv_f32` for 8 <= N <= 12: columns 0-7 in 256-bit and N-4..N-1 in 128-bit
       accumulators (a 256-bit last tile would load twice the columns it needs) */
    static LA_AVX2FMA void la_rowmv12_f32(npy_intp K, npy_intp N, const float *x,
                                          npy_intp incx, const float *W, npy_intp ldw,
                                          float alpha, float beta, float *y) {
        const npy_intp jt = N - 4;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0, c0 = a0, d0 = a0;
        __m128 a1 = _mm_setzero_ps(), b1 = a1, c1 = a1, d1 = a1;
        const float *p = W, *q = x;
        npy_intp k = 0;
        for (; k + 4 <= K; k += 4) {
            __m256 x0 = _mm256_broadcast_ss(q), x1 = _mm256_broadcast_ss(q + incx);
            __m256 x2 = _mm256_broadcast_ss(q + 2 * incx);
            __m256 x3 = _mm256_broadcast_ss(q + 3 * incx);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p), a0);
            a1 = _mm_fmadd_ps(_mm256_castps256_ps128(x0), _mm_loadu_ps(p + jt), a1);
            b0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(p + ldw), b0);
            b1 = _mm_fmadd_ps(_mm256_castps256_ps128(x1), _mm_loadu_ps(p + ldw + jt), b1);
            c0 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(p + 2 * ldw), c0);
            c1 = _mm_fmadd_ps(_mm256_castps256_ps128(x2), _mm_loadu_ps(p + 2 * ldw + jt), c1);
            d0 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(p + 3 * ldw), d0);
            d1 = _mm_fmadd_ps(_mm256_castps256_ps128(x3), _mm_loadu_ps(p + 3 * ldw + jt), d1);
            p += 4 * ldw;
            q += 4 * incx;
        }
        for (; k < K; k++) {
            __m256 x0 = _mm256_broadcast_ss(q);
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p), a0);
            a1 = _mm_fmadd_ps(_mm256_castps256_ps128(x0), _mm_loadu_ps(p + jt), a1);
            p += ldw;
            q += incx;
        }
        a0 = _mm256_add_ps(_mm256_add_ps(a0, b0), _mm256_add_ps(c0, d0));
        a1 = _mm_add_ps(_mm_add_ps(a1, b1), _mm_add_ps(c1, d1));
        float acc[12];
        _mm256_storeu_ps(acc, a0);
        _mm_storeu_ps(acc + 8, a1);  /* columns jt..N-1; those below 8 are already in acc */
        for (npy_intp j = 8; j < N; j++) acc[j] = acc[8 + j - jt];
        if (beta == 0.0f) {
            for (npy_intp j = 0; j < N; j++) y[j] = alpha * acc[j];
        } else if (alpha == 1.0f && beta == 1.0f) {
            for (npy_intp j = 0; j < N; j++) y[j] = y[j] + acc[j];
        } else {
            for (npy_intp j = 0; j < N; j++) y[j] = alpha * acc[j] + beta * y[j];
        }
    }

    static LA_AVX2FMA void la_rowmv_f32(npy_intp K, npy_intp N, const float *x, npy_intp incx,
                                        const float *W, npy_intp ldw, float alpha, float beta,
                                        float *y) {
        if (N <= 12) {
            la_rowmv12_f32(K, N, x, incx, W, ldw, alpha, beta, y);
            return;
        }
        const npy_intp nt = (N + 7) / 8;
        for (npy_intp t = 0; t < nt; t += 2) {
            const npy_intp j0 = la_tile(t, N), j1 = la_tile(t + 1 < nt ? t + 1 : t, N);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
            __m256 c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            const float *p = W, *q = x;
            npy_intp k = 0;
            for (; k + 4 <= K; k += 4) {
                __m256 x0 = _mm256_broadcast_ss(q), x1 = _mm256_broadcast_ss(q + incx);
                __m256 x2 = _mm256_broadcast_ss(q + 2 * incx);
                __m256 x3 = _mm256_broadcast_ss(q + 3 * incx);
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p + j0), a0);
                a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p + j1), a1);
                b0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(p + ldw + j0), b0);
                b1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(p + ldw + j1), b1);
                c0 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(p + 2 * ldw + j0), c0);
                c1 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(p + 2 * ldw + j1), c1);
                d0 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(p + 3 * ldw + j0), d0);
                d1 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(p + 3 * ldw + j1), d1);
                p += 4 * ldw;
                q += 4 * incx;
            }
            for (; k < K; k++) {
                __m256 x0 = _mm256_broadcast_ss(q);
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p + j0), a0);
                a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p + j1), a1);
                p += ldw;
                q += incx;
            }
            a0 = _mm256_add_ps(_mm256_add_ps(a0, b0), _mm256_add_ps(c0, d0));
            a1 = _mm256_add_ps(_mm256_add_ps(a1, b1), _mm256_add_ps(c1, d1));
            float acc[16];
            _mm256_storeu_ps(acc, a0);
            _mm256_storeu_ps(acc + 8, a1);
            /* an overlapping tile writes only the columns past those written before it */
            const npy_intp lo0 = 8 * t - j0, lo1 = j0 + 8 - j1;
            for (int h = 0; h < 2; h++) {
                const npy_intp jb = h ? j1 : j0, lo = h ? lo1 : lo0;
                const float *r = acc + 8 * h;
                float *o = y + jb;
                if (beta == 0.0f) {
                    for (npy_intp j = lo; j < 8; j++) o[j] = alpha * r[j];
                } else if (alpha == 1.0f && beta == 1.0f) {
                    for (npy_intp j = lo; j < 8; j++) o[j] = o[j] + r[j];
                } else {
                    for (npy_intp j = lo; j < 8; j++) o[j] = alpha * r[j] + beta * o[j];
                }
            }
        }
    }

    /* W[i*ldw + j] += alpha * (x[i*incx] * d[j]) for i < M, j < N (d contiguous, N >= 8).
       A row's last (overlapping) tile is loaded before the full tiles are stored and stored
       after them: the columns both cover get the same value either way. */
    static LA_AVX2FMA void la_rank1_f32(npy_intp M, npy_intp N, float alpha, const float *x,
                                        npy_intp incx, const float *d, float *W, npy_intp ldw) {
        const __m256 va = _mm256_set1_ps(alpha);
        const npy_intp nf = N & ~(npy_intp)7;
        const __m256 dt = _mm256_loadu_ps(d + N - 8);
        if (N <= 12) {  /* a 128-bit last tile: one store less per row than a 256-bit one */
            const __m256 d0 = _mm256_loadu_ps(d);
            const __m128 d4 = _mm_loadu_ps(d + N - 4), a4 = _mm_set1_ps(alpha);
            for (npy_intp i = 0; i < M; i++) {
                const float *xp = x + i * incx;
                const __m256 xi = _mm256_broadcast_ss(xp);
                const __m128 x4 = _mm_broadcast_ss(xp);
                float *row = W + i * ldw;
                __m256 v0 = _mm256_loadu_ps(row);
                __m128 vt = _mm_loadu_ps(row + N - 4);
                v0 = _mm256_add_ps(v0, _mm256_mul_ps(va, _mm256_mul_ps(xi, d0)));
                vt = _mm_add_ps(vt, _mm_mul_ps(a4, _mm_mul_ps(x4, d4)));
                _mm256_storeu_ps(row, v0);
                _mm_storeu_ps(row + N - 4, vt);
            }
            return;
        }
        if (N <= 16) {  /* the minibatch-1 weight update: d stays in registers */
            const __m256 d0 = _mm256_loadu_ps(d);
            for (npy_intp i = 0; i < M; i++) {
                const __m256 xi = _mm256_broadcast_ss(x + i * incx);
                float *row = W + i * ldw;
                __m256 v0 = _mm256_loadu_ps(row), vt = _mm256_loadu_ps(row + N - 8);
                v0 = _mm256_add_ps(v0, _mm256_mul_ps(va, _mm256_mul_ps(xi, d0)));
                vt = _mm256_add_ps(vt, _mm256_mul_ps(va, _mm256_mul_ps(xi, dt)));
                _mm256_storeu_ps(row, v0);
                _mm256_storeu_ps(row + N - 8, vt);
            }
            return;
        }
        for (npy_intp i = 0; i < M; i++) {
            const __m256 xi = _mm256_broadcast_ss(x + i * incx);
            float *row = W + i * ldw;
            __m256 vt = _mm256_loadu_ps(row + N - 8);
            vt = _mm256_add_ps(vt, _mm256_mul_ps(va, _mm256_mul_ps(xi, dt)));
            for (npy_intp j = 0; j < nf; j += 8) {
                __m256 v = _mm256_loadu_ps(row + j);
                v = _mm256_add_ps(v, _mm256_mul_ps(va, _mm256_mul_ps(xi, _mm256_loadu_ps(d + j))));
                _mm256_storeu_ps(row + j, v);
            }
            _mm256_storeu_ps(row + N - 8, vt);
        }
    }
    #else
    #define LA_SMALL_X86 0
    static int la_small_ok(void) { return 0; }
    static void la_rowmv_f32(npy_intp K, npy_intp N, const float *x, npy_intp incx,
                             const float *W, npy_intp ldw, float alpha, float beta, float *y) {}
    static void la_rank1_f32(npy_intp M, npy_intp N, float alpha, const float *x,
                             npy_intp incx, const float *d, float *W, npy_intp ldw) {}
    #endif
    """
    int la_small_ok() noexcept nogil
    void la_rowmv_f32(cnp.npy_intp K, cnp.npy_intp N, const float *x, cnp.npy_intp incx,
                      const float *W, cnp.npy_intp ldw, float alpha, float beta,
                      float *y) noexcept nogil
    void la_rank1_f32(cnp.npy_intp M, cnp.npy_intp N, float alpha, const float *x,
                      cnp.npy_intp incx, const float *d, float *W,
                      cnp.npy_intp ldw) noexcept nogil

#: the CPU runs the AVX2/FMA kernels above (read once; `set_small_kernels` overrides it)
cdef bint g_small = la_small_ok() != 0

#: widest row product (columns) and largest rank-1 update (elements) the kernels take; past
#: them OpenBLAS's own blocking pays for its fixed cost
DEF SMALL_MV_COLS = 64
DEF SMALL_RANK1_MAX = 1 << 18


def small_kernels_available():
    """Whether this CPU runs the AVX2/FMA float32 kernels for 1-row products and rank-1
    updates."""
    return la_small_ok() != 0


#: products of up to this many rows times a narrow matrix go row by row through `la_rowmv_f32`
cdef cnp.npy_intp g_small_rows = 16


def set_small_rows(cnp.npy_intp n):
    """Most rows of a product that runs row by row through the narrow-matrix kernel (1: only
    single rows); returns the previous value (tests, A/B)."""
    global g_small_rows
    cdef cnp.npy_intp was = g_small_rows
    g_small_rows = n if n > 0 else 1
    return was


def set_small_kernels(bint on):
    """Use (True, where the CPU has AVX2 and FMA) or bypass the float32 kernels for 1-row
    products and rank-1 updates; returns whether they were in use (tests and A/B timings)."""
    global g_small
    cdef bint was = g_small
    g_small = on and la_small_ok() != 0
    return was


cdef inline bint _small_rowmv(int typenum, cnp.npy_intp k, cnp.npy_intp n,
                              cnp.ndarray w) noexcept:
    """A float32 row times ``w`` (k x n, 8 <= n <= 64, unit column stride) goes through
    `la_rowmv_f32`."""
    cdef cnp.npy_intp *s = cnp.PyArray_STRIDES(w)
    return (g_small and typenum == cnp.NPY_FLOAT and 8 <= n <= SMALL_MV_COLS and k >= 1
            and s[1] == 4 and s[0] % 4 == 0 and s[0] >= 0)


cdef inline bint _small_rank1(int typenum, cnp.npy_intp m, cnp.npy_intp n,
                              cnp.ndarray d) noexcept:
    """A float32 rank-1 update of an (m x n) C-contiguous output (n >= 8) by a contiguous row
    ``d`` goes through `la_rank1_f32`."""
    return (g_small and typenum == cnp.NPY_FLOAT and n >= 8 and m * n <= SMALL_RANK1_MAX
            and cnp.PyArray_STRIDES(d)[1] == 4)
