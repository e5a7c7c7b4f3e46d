"""The native kernel of `DotUpdate` (``rewrites/dot_update.py``): a hidden layer's backward at
minibatch 1 in one pass over ``W``, rows split across the OpenMP threads.

Compiled once through the kernel cache (``ccache``: ``-O2 -march=native -fopenmp``,
``-ffp-contract=off``, so the update rounds as ``Gemm`` does: product, scaling, sum); the Cython
thunk (`DotUpdateThunk`, ``_blas.pxi``) calls it through a C function pointer. AVX2/FMA code
where the compiler targets them, plain C loops elsewhere.
"""

from __future__ import annotations

import ctypes

from . import ccache, few_rows
from ._vm import set_row_kernels

__all__ = ["SOURCE", "install"]

SOURCE = r"""
#include <stddef.h>
#include <stdlib.h>
#include <omp.h>
typedef ptrdiff_t la_int;

/* rows [lo, hi) of W (N columns, row stride ldw, unit column stride):
   dx[i] = sum_j W[i, j] * g[j] (the old W), then W[i, j] += alpha * (a[i*inca] * d[j]) */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static inline float la_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static void la_rows(la_int lo, la_int hi, la_int N, float *W, la_int ldw, const float *g,
                    const float *d, float alpha, const float *a, la_int inca, float *dx) {
    const __m256 va = _mm256_set1_ps(alpha);
    const la_int nf = N & ~(la_int)7;
    la_int i = lo;
    for (; i + 4 <= hi; i += 4) {  /* four rows share the loads of g and d */
        float *r0 = W + i * ldw, *r1 = r0 + ldw, *r2 = r1 + ldw, *r3 = r2 + ldw;
        const float a0 = a[i * inca], a1 = a[(i + 1) * inca];
        const float a2 = a[(i + 2) * inca], a3 = a[(i + 3) * inca];
        const __m256 x0 = _mm256_set1_ps(a0), x1 = _mm256_set1_ps(a1);
        const __m256 x2 = _mm256_set1_ps(a2), x3 = _mm256_set1_ps(a3);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (la_int j = 0; j < nf; j += 8) {
            const __m256 gj = _mm256_loadu_ps(g + j), dj = _mm256_loadu_ps(d + j);
            const __m256 w0 = _mm256_loadu_ps(r0 + j), w1 = _mm256_loadu_ps(r1 + j);
            const __m256 w2 = _mm256_loadu_ps(r2 + j), w3 = _mm256_loadu_ps(r3 + j);
            s0 = _mm256_fmadd_ps(w0, gj, s0);
            s1 = _mm256_fmadd_ps(w1, gj, s1);
            s2 = _mm256_fmadd_ps(w2, gj, s2);
            s3 = _mm256_fmadd_ps(w3, gj, s3);
            _mm256_storeu_ps(r0 + j, _mm256_add_ps(w0, _mm256_mul_ps(va, _mm256_mul_ps(x0, dj))));
            _mm256_storeu_ps(r1 + j, _mm256_add_ps(w1, _mm256_mul_ps(va, _mm256_mul_ps(x1, dj))));
            _mm256_storeu_ps(r2 + j, _mm256_add_ps(w2, _mm256_mul_ps(va, _mm256_mul_ps(x2, dj))));
            _mm256_storeu_ps(r3 + j, _mm256_add_ps(w3, _mm256_mul_ps(va, _mm256_mul_ps(x3, dj))));
        }
        float t0 = la_hsum8(s0), t1 = la_hsum8(s1), t2 = la_hsum8(s2), t3 = la_hsum8(s3);
        for (la_int j = nf; j < N; j++) {
            const float gj = g[j], dj = d[j];
            t0 += r0[j] * gj; r0[j] = r0[j] + alpha * (a0 * dj);
            t1 += r1[j] * gj; r1[j] = r1[j] + alpha * (a1 * dj);
            t2 += r2[j] * gj; r2[j] = r2[j] + alpha * (a2 * dj);
            t3 += r3[j] * gj; r3[j] = r3[j] + alpha * (a3 * dj);
        }
        dx[i] = t0; dx[i + 1] = t1; dx[i + 2] = t2; dx[i + 3] = t3;
    }
    for (; i < hi; i++) {
        float *r0 = W + i * ldw;
        const float a0 = a[i * inca];
        const __m256 x0 = _mm256_set1_ps(a0);
        __m256 s0 = _mm256_setzero_ps();
        for (la_int j = 0; j < nf; j += 8) {
            const __m256 w0 = _mm256_loadu_ps(r0 + j);
            s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(g + j), s0);
            _mm256_storeu_ps(r0 + j, _mm256_add_ps(
                w0, _mm256_mul_ps(va, _mm256_mul_ps(x0, _mm256_loadu_ps(d + j)))));
        }
        float t0 = la_hsum8(s0);
        for (la_int j = nf; j < N; j++) {
            t0 += r0[j] * g[j];
            r0[j] = r0[j] + alpha * (a0 * d[j]);
        }
        dx[i] = t0;
    }
}
#else
static void la_rows(la_int lo, la_int hi, la_int N, float *W, la_int ldw, const float *g,
                    const float *d, float alpha, const float *a, la_int inca, float *dx) {
    for (la_int i = lo; i < hi; i++) {
        float *r = W + i * ldw;
        const float ai = a[i * inca];
        float t = 0.0f;
        #pragma omp simd reduction(+:t)
        for (la_int j = 0; j < N; j++) t += r[j] * g[j];
        #pragma omp simd
        for (la_int j = 0; j < N; j++) r[j] = r[j] + alpha * (ai * d[j]);
        dx[i] = t;
    }
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
/* rows [lo, hi) of W += alpha * (a outer d), no dot product */
static void la_rows_upd(la_int lo, la_int hi, la_int N, float *W, la_int ldw, const float *d,
                        float alpha, const float *a, la_int inca) {
    const __m256 va = _mm256_set1_ps(alpha);
    const la_int nf = N & ~(la_int)7;
    for (la_int i = lo; i < hi; i++) {
        float *r = W + i * ldw;
        const float ai = a[i * inca];
        const __m256 x = _mm256_set1_ps(ai);
        la_int j = 0;
        for (; j + 16 <= nf; j += 16) {
            const __m256 w0 = _mm256_loadu_ps(r + j), w1 = _mm256_loadu_ps(r + j + 8);
            _mm256_storeu_ps(r + j, _mm256_add_ps(
                w0, _mm256_mul_ps(va, _mm256_mul_ps(x, _mm256_loadu_ps(d + j)))));
            _mm256_storeu_ps(r + j + 8, _mm256_add_ps(
                w1, _mm256_mul_ps(va, _mm256_mul_ps(x, _mm256_loadu_ps(d + j + 8)))));
        }
        for (; j < nf; j += 8)
            _mm256_storeu_ps(r + j, _mm256_add_ps(_mm256_loadu_ps(r + j), _mm256_mul_ps(
                va, _mm256_mul_ps(x, _mm256_loadu_ps(d + j)))));
        for (; j < N; j++) r[j] = r[j] + alpha * (ai * d[j]);
    }
}

/* acc[0:n] += sum_k x[k*incx] * W[k*ldw + 0:n] (n a multiple of 8), four rows per pass */
static void la_cols_acc(la_int K, la_int n, const float *x, la_int incx, const float *W,
                        la_int ldw, float *acc) {
    la_int k = 0;
    for (; k + 4 <= K; k += 4) {
        const __m256 x0 = _mm256_set1_ps(x[k * incx]), x1 = _mm256_set1_ps(x[(k + 1) * incx]);
        const __m256 x2 = _mm256_set1_ps(x[(k + 2) * incx]), x3 = _mm256_set1_ps(x[(k + 3) * incx]);
        const float *p0 = W + k * ldw, *p1 = p0 + ldw, *p2 = p1 + ldw, *p3 = p2 + ldw;
        for (la_int j = 0; j < n; j += 8) {
            __m256 s = _mm256_loadu_ps(acc + j);
            s = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p0 + j), s);
            s = _mm256_fmadd_ps(x1, _mm256_loadu_ps(p1 + j), s);
            s = _mm256_fmadd_ps(x2, _mm256_loadu_ps(p2 + j), s);
            s = _mm256_fmadd_ps(x3, _mm256_loadu_ps(p3 + j), s);
            _mm256_storeu_ps(acc + j, s);
        }
    }
    for (; k < K; k++) {
        const __m256 x0 = _mm256_set1_ps(x[k * incx]);
        const float *p0 = W + k * ldw;
        for (la_int j = 0; j < n; j += 8)
            _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(x0, _mm256_loadu_ps(p0 + j),
                                                      _mm256_loadu_ps(acc + j)));
    }
}
#else
static void la_rows_upd(la_int lo, la_int hi, la_int N, float *W, la_int ldw, const float *d,
                        float alpha, const float *a, la_int inca) {
    for (la_int i = lo; i < hi; i++) {
        float *r = W + i * ldw;
        const float ai = a[i * inca];
        #pragma omp simd
        for (la_int j = 0; j < N; j++) r[j] = r[j] + alpha * (ai * d[j]);
    }
}

static void la_cols_acc(la_int K, la_int n, const float *x, la_int incx, const float *W,
                        la_int ldw, float *acc) {
    for (la_int k = 0; k < K; k++) {
        const float xk = x[k * incx];
        const float *p = W + k * ldw;
        #pragma omp simd
        for (la_int j = 0; j < n; j++) acc[j] += xk * p[j];
    }
}
#endif

/* acc[0:n] = sum_k x[k*incx] * W[k*ldw + 0:n] (n a multiple of 8) */
static void la_cols(la_int K, la_int n, const float *x, la_int incx, const float *W,
                    la_int ldw, float *acc) {
    for (la_int j = 0; j < n; j++) acc[j] = 0.0f;
    la_cols_acc(K, n, x, incx, W, ldw, acc);
}

/* columns [lo, hi) of y = alpha * (x @ W) + beta * y (beta == 0: y not read), in chunks of
   LA_CHUNK columns whose sums stay in L1 */
#define LA_CHUNK 512
static void la_mv_cols(la_int lo, la_int hi, la_int K, const float *x, la_int incx,
                       const float *W, la_int ldw, float alpha, float beta, float *y) {
    float acc[LA_CHUNK];
    for (la_int c = lo; c < hi; c += LA_CHUNK) {
        const la_int n = hi - c < LA_CHUNK ? hi - c : LA_CHUNK;
        const la_int n8 = n & ~(la_int)7;
        if (n8) la_cols(K, n8, x, incx, W + c, ldw, acc);
        for (la_int j = n8; j < n; j++) {  /* the last few columns of W */
            float s = 0.0f;
            for (la_int k = 0; k < K; k++) s += x[k * incx] * W[k * ldw + c + j];
            acc[j] = s;
        }
        float *o = y + c;
        if (beta == 0.0f) {
            for (la_int j = 0; j < n; j++) o[j] = alpha * acc[j];
        } else if (alpha == 1.0f && beta == 1.0f) {
            for (la_int j = 0; j < n; j++) o[j] = o[j] + acc[j];
        } else {
            for (la_int j = 0; j < n; j++) o[j] = alpha * acc[j] + beta * o[j];
        }
    }
}

/* y (N) = alpha * (x (K) @ W (K x N, row stride ldw)) + beta * y. Threads take contiguous
   blocks of rows (each streams its own part of W) into partial sums, then add them up by
   columns; serial below `par` elements of W, or when the sums would not fit in L1 */
/* acc[n8:N] += sum over rows k0..k1-1 of x[k*incx] * W[k*ldw + n8:N] (the columns past the
   last full 8), each column summed in row order */
static void la_tail_acc(la_int k0, la_int k1, la_int n8, la_int N, const float *x, la_int incx,
                        const float *W, la_int ldw, float *acc) {
    for (la_int j = n8; j < N; j++) {
        float s = acc[j];
        for (la_int k = k0; k < k1; k++) s += x[k * incx] * W[k * ldw + j];
        acc[j] = s;
    }
}

/* column j summed over the nt threads' partial sums (rows N apart), in thread order */
static inline float la_part_sum(const float *part, la_int N, la_int nt, la_int j) {
    float sum = part[j];
    for (la_int p = 1; p < nt; p++) sum += part[p * N + j];
    return sum;
}

#define LA_PART_MAX 2048
#define LA_ROWMV_STORE(yj, sum) \
    do { if (beta == 0.0f) (yj) = alpha * (sum); \
         else if (alpha == 1.0f && beta == 1.0f) (yj) = (yj) + (sum); \
         else (yj) = alpha * (sum) + beta * (yj); } while (0)
#define LA_MAX_PARTS 8
void la_rowmv_mt_f32(la_int K, la_int N, const float *x, la_int incx, const float *W,
                     la_int ldw, float alpha, float beta, float *y, int nthreads, la_int par) {
    if (nthreads > LA_MAX_PARTS) nthreads = LA_MAX_PARTS;
    if (nthreads <= 1 || K * N < par || N < 16 || K < 16 || N > LA_PART_MAX) {
        la_mv_cols(0, N, K, x, incx, W, ldw, alpha, beta, y);
        return;
    }
    const la_int n8 = N & ~(la_int)7;
    float *part = malloc((size_t)nthreads * N * sizeof(float));
    if (part == NULL) {
        la_mv_cols(0, N, K, x, incx, W, ldw, alpha, beta, y);
        return;
    }
    #pragma omp parallel num_threads(nthreads)
    {
        const la_int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const la_int lo = K * t / nt, hi = K * (t + 1) / nt;
        float *acc = part + t * N;
        la_cols(hi - lo, n8, x + lo * incx, incx, W + lo * ldw, ldw, acc);
        for (la_int j = n8; j < N; j++) acc[j] = 0.0f;
        la_tail_acc(lo, hi, n8, N, x, incx, W, ldw, acc);
        #pragma omp barrier
        const la_int c0 = N * t / nt, c1 = N * (t + 1) / nt;
        for (la_int j = c0; j < c1; j++) LA_ROWMV_STORE(y[j], la_part_sum(part, N, nt, j));
    }
    free(part);
}

/* y (N) = alpha * P + beta * y, P the sums `la_rank1_rowmv_mt_f32` left: the values
   `la_rowmv_mt_f32` gives for the same product, bit for bit */
void la_rowmv_finish_f32(la_int N, float alpha, float beta, const float *P, float *y) {
    for (la_int j = 0; j < N; j++) LA_ROWMV_STORE(y[j], P[j]);
}

#define LA_AHEAD_ROWS 8
/* W (K x N) += alpha * (a (K) outer d (N)), then P (N) = xn (K) @ W (the updated W) in the
   same pass: each block of LA_AHEAD_ROWS rows is updated, then summed while in L1. The sums
   are `la_rowmv_mt_f32`'s (same rows per thread, same order), which reads W a second time.
   Returns 0, touching nothing, where that kernel would not split the rows across threads */
int la_rank1_rowmv_mt_f32(la_int K, la_int N, float alpha, const float *a, la_int inca,
                          const float *d, float *W, la_int ldw, const float *xn, la_int incx,
                          float *P, int nthreads, la_int par) {
    if (nthreads > LA_MAX_PARTS) nthreads = LA_MAX_PARTS;
    if (nthreads <= 1 || K * N < par || N < 16 || K < 16 || N > LA_PART_MAX) return 0;
    const la_int n8 = N & ~(la_int)7;
    float *part = malloc((size_t)nthreads * N * sizeof(float));
    if (part == NULL) return 0;
    #pragma omp parallel num_threads(nthreads)
    {
        const la_int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const la_int lo = K * t / nt, hi = K * (t + 1) / nt;
        float *acc = part + t * N;
        for (la_int j = 0; j < N; j++) acc[j] = 0.0f;
        for (la_int k = lo; k < hi; k += LA_AHEAD_ROWS) {
            const la_int kb = hi - k < LA_AHEAD_ROWS ? hi : k + LA_AHEAD_ROWS;
            la_rows_upd(k, kb, N, W, ldw, d, alpha, a, inca);
            la_cols_acc(kb - k, n8, xn + k * incx, incx, W + k * ldw, ldw, acc);
            la_tail_acc(k, kb, n8, N, xn, incx, W, ldw, acc);
        }
        #pragma omp barrier
        const la_int c0 = N * t / nt, c1 = N * (t + 1) / nt;
        for (la_int j = c0; j < c1; j++) P[j] = la_part_sum(part, N, nt, j);
    }
    free(part);
    return 1;
}

/* W (M x N) += alpha * (a (M) outer d (N)), rows split across the threads */
void la_rank1_mt_f32(la_int M, la_int N, float alpha, const float *a, la_int inca,
                     const float *d, float *W, la_int ldw, int nthreads, la_int par) {
    if (nthreads <= 1 || M * N < par || M < 8) {
        la_rows_upd(0, M, N, W, ldw, d, alpha, a, inca);
        return;
    }
    #pragma omp parallel num_threads(nthreads)
    {
        const la_int nt = omp_get_num_threads(), t = omp_get_thread_num();
        la_rows_upd(M * t / nt, M * (t + 1) / nt, N, W, ldw, d, alpha, a, inca);
    }
}

/* the whole matrix: serial below `par` elements (entering OpenMP costs ~1 us), else rows in
   nthreads contiguous blocks of a multiple of 4 rows */
void la_dot_update_f32(la_int M, la_int N, float *W, la_int ldw, const float *g,
                       const float *d, float alpha, const float *a, la_int inca, float *dx,
                       int nthreads, la_int par) {
    if (nthreads <= 1 || M * N < par || M < 8) {
        la_rows(0, M, N, W, ldw, g, d, alpha, a, inca, dx);
        return;
    }
    #pragma omp parallel num_threads(nthreads)
    {
        const la_int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const la_int blocks = (M + 3) / 4;
        la_int lo = 4 * (blocks * t / nt), hi = 4 * (blocks * (t + 1) / nt);
        if (hi > M) hi = M;
        la_rows(lo, hi, N, W, ldw, g, d, alpha, a, inca, dx);
    }
}
""" + few_rows.SOURCE

_state: dict = {}


_NAMES = ("la_dot_update_f32", "la_rowmv_mt_f32", "la_rank1_mt_f32", "la_rank1_rowmv_mt_f32",
          "la_rowmv_finish_f32", "la_fewmm_f32")


def install(defer: list | None = None) -> bool:
    """Build the kernels (once per process; the disk cache keeps them) and hand their addresses
    to the VM (`_vm.set_row_kernels`). False where no C compiler works: then `DotUpdate` runs
    its NumPy ``perform`` and the products stay on BLAS. With a list ``defer``, no compiler
    runs: where the kernels are not built yet, False for now, and `SOURCE` is appended to
    ``defer`` (`tiering` builds it later)."""
    if "ok" not in _state:
        if defer is not None and ccache.available() and not ccache.on_hand(SOURCE):
            defer.append(SOURCE)
            return False
        ok = False
        if ccache.available():
            try:
                lib = ccache.load(SOURCE)
                addrs = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in _NAMES]
                if not lib.la_fewmm_available():  # no AVX-512 here: BLAS runs those
                    addrs[_NAMES.index("la_fewmm_f32")] = 0
                _state["lib"] = lib
                set_row_kernels(*addrs)
                ok = True
            except (ccache.CompileError, OSError, AttributeError):
                ok = False
        _state["ok"] = ok
    return _state["ok"]
