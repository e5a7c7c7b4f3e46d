"""Native float32 products with few rows, few columns or a short reduction: the matrix
products of a small-minibatch training step, where OpenBLAS's packing and blocking cost more
than the arithmetic.

One C entry point, ``la_fewmm_f32``, built with `dot_update`'s kernels (same ``SOURCE``, same
flags: ``-O2 -march=native -fopenmp -ffp-contract=off``) and called by `_gemm_ab` in
``_blas.pxi`` through a function pointer: row-major ``C (M x N) = alpha * A (M x K) @ B (K x N)
+ beta * C`` for any element strides of ``A`` and ``B`` (``C`` has unit column stride). Three
kernels, chosen by shape and layout:

- ``nn``: at most 16 rows, ``B`` with unit column stride (``h @ W``): every row's sums of a
  16- or 32-column tile stay in registers while ``B``'s rows stream past once, the columns
  split across the threads;
- ``nt``: at most 16 rows, ``B`` with unit row stride (``d @ W.T``) and a reduction of at least
  32: dot products of ``A``'s rows with ``W``'s, two rows of ``W`` against up to ten of ``A`` at
  a time, ``W``'s rows split across the threads;
- ``rows``: ``B`` small enough to stay in cache (2^16 elements), at most 16 columns or a
  reduction of at most 16 (the weight update ``W += alpha * x.T @ d``): eight rows of ``C`` at
  a time (four of 32-column tiles), rows split across the threads.

``nn`` and ``nt`` take B of at most 2^22 elements. Threads from ``par`` multiply-adds on (the
caller passes one thread where the program's other products run on OpenBLAS's threads:
`_blas.pxi`'s ``g_few_par``). Sums run through FMA (in ``k`` order, except ``nt``'s 16 lane-wise
partial sums added at the end); the result is then ``alpha * sum + beta * C``, product and sum
rounded separately (``beta == 0``: ``C`` not read; OpenBLAS's kernels fuse the last step:
a last-bit difference). AVX-512 only (masked loads and stores make every column tail one vector):
elsewhere ``la_fewmm_available`` is 0 and BLAS runs.
"""

from __future__ import annotations

__all__ = ["FEW_ROWS", "SOURCE", "takes"]

#: most rows for `nn` and `nt` (the C source has one `nn` instance per row count up to it)
FEW_ROWS = 16
#: most elements of B for `nn` and `nt` (16 MiB): past them each B row a tile reads is another
#: page, and BLAS's packing wins ((16 x 2048) @ (2048 x 8192): 22 ms against BLAS's 8 ms)
FEW_B_MAX = 1 << 22
#: most elements of B for `rows` (256 KiB: stays in L2)
ROWS_B_MAX = 1 << 16
#: `rows` takes B with at most this many columns or rows
ROWS_SHORT = 16
#: shorter dot products cost `nt` more in horizontal sums than BLAS takes
NT_MIN_K = 32


def takes(m: int, k: int, n: int) -> bool:
    """Whether the kernels' size rules admit a float32 ``(m x k) @ (k x n)`` product (its
    layout, known only when it runs, may still make them decline)."""
    return (m <= FEW_ROWS and k * n <= FEW_B_MAX) or (
        k * n <= ROWS_B_MAX and min(k, n) <= ROWS_SHORT)


SOURCE = f"""
/* ---- few-row, few-column and short-reduction float32 products (few_rows.py) ---- */
#define LA_FEW_ROWS {FEW_ROWS}
#define LA_FEW_B_MAX {FEW_B_MAX}
#define LA_ROWS_B_MAX {ROWS_B_MAX}
#define LA_ROWS_SHORT {ROWS_SHORT}
#define LA_NT_MIN_K {NT_MIN_K}
""" + r"""
#if defined(__AVX512F__)
#include <immintrin.h>

static inline __mmask16 la_mask16(la_int n) {
    return n <= 0 ? (__mmask16)0 : n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* c = alpha * acc + beta * c, as the row kernels round it (beta == 0: c not read) */
static inline __m512 la_finish(__m512 acc, __m512 c, __m512 va, __m512 vb, int mode) {
    if (mode == 0) return _mm512_mul_ps(va, acc);
    if (mode == 1) return _mm512_add_ps(c, acc);
    return _mm512_add_ps(_mm512_mul_ps(va, acc), _mm512_mul_ps(vb, c));
}

static inline float la_finish1(float acc, float c, float alpha, float beta, int mode) {
    if (mode == 0) return alpha * acc;
    if (mode == 1) return c + acc;
    return alpha * acc + beta * c;
}

/* `nn`, columns [j0, j1) of C: MR rows, tiles of TV vectors of 16 columns; B's row k is
   read once per tile, A's element (i, k) broadcast */
static inline __attribute__((always_inline)) void
la_nn_body(const int MR, const int TV, la_int j0, la_int j1, la_int K, const float *A,
           la_int sam, la_int sak, const float *B, la_int sbk, float alpha, float beta,
           int mode, float *C, la_int ldc) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (la_int j = j0; j < j1; j += 16 * TV) {
        __mmask16 mk[2];
        __m512 acc[LA_FEW_ROWS][2];
        #pragma GCC unroll 2
        for (int v = 0; v < TV; v++) mk[v] = la_mask16(j1 - j - 16 * v);
        #pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++) acc[i][v] = _mm512_setzero_ps();
        }
        const float *b = B + j, *a = A;
        for (la_int k = 0; k < K; k++, b += sbk, a += sak) {
            __m512 bv[2];
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++) {
                bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
                /* B's rows lie a page apart or more, where the hardware prefetchers stop:
                   this tile's row 8 ahead (10x1000 @ 1000x1000: 117 -> 108 us, 1 thread) */
                _mm_prefetch((const char *)(b + 8 * sbk + 16 * v), _MM_HINT_T0);
            }
            #pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                const __m512 ai = _mm512_set1_ps(a[i * sam]);
                #pragma GCC unroll 2
                for (int v = 0; v < TV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
        /* every row's C is read before any is written: a masked store followed by a load
           of the same cache line (rows of fewer than 16 columns share lines) waits for
           the store to retire (2.3x the time of the product at 784 x 10) */
        if (mode) {
            #pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                #pragma GCC unroll 2
                for (int v = 0; v < TV; v++)
                    acc[i][v] = la_finish(acc[i][v], _mm512_maskz_loadu_ps(
                        mk[v], C + i * ldc + j + 16 * v), va, vb, mode);
            }
        } else {
            #pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                #pragma GCC unroll 2
                for (int v = 0; v < TV; v++) acc[i][v] = _mm512_mul_ps(va, acc[i][v]);
            }
        }
        #pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++)
                _mm512_mask_storeu_ps(C + i * ldc + j + 16 * v, mk[v], acc[i][v]);
        }
    }
}

/* `nt`, C[i + p, r + q] = sum_k A[i + p, k] * W[r + q, k] for p < IB, q < RB (A's rows and
   W's rows contiguous, W's row stride ldw): W streams past once; A (at most 16 rows) stays in
   cache */
static inline __attribute__((always_inline)) void
la_nt_block(const int IB, const int RB, la_int i, la_int r, la_int K, const float *A,
            la_int sam, const float *W, la_int ldw, float alpha, float beta, int mode,
            float *C, la_int ldc) {
    __m512 acc[10][2];
    #pragma GCC unroll 10
    for (int p = 0; p < IB; p++) {
        #pragma GCC unroll 2
        for (int q = 0; q < RB; q++) acc[p][q] = _mm512_setzero_ps();
    }
    for (la_int k = 0; k < K; k += 16) {
        const __mmask16 mk = la_mask16(K - k);
        __m512 w[2];
        #pragma GCC unroll 2
        for (int q = 0; q < RB; q++) w[q] = _mm512_maskz_loadu_ps(mk, W + (r + q) * ldw + k);
        #pragma GCC unroll 10
        for (int p = 0; p < IB; p++) {
            const __m512 ap = _mm512_maskz_loadu_ps(mk, A + (i + p) * sam + k);
            #pragma GCC unroll 2
            for (int q = 0; q < RB; q++) acc[p][q] = _mm512_fmadd_ps(ap, w[q], acc[p][q]);
        }
    }
    #pragma GCC unroll 10
    for (int p = 0; p < IB; p++) {
        #pragma GCC unroll 2
        for (int q = 0; q < RB; q++) {
            float *c = C + (i + p) * ldc + r + q;
            *c = la_finish1(_mm512_reduce_add_ps(acc[p][q]), mode ? *c : 0.0f, alpha, beta,
                            mode);
        }
    }
}

/* `nt`, columns r .. r + RB - 1 of C: A's rows in blocks of at most 10, as even as they go
   (16 rows: 8 + 8). Each block reads W's RB rows again (from L1 after the first): fig1's
   10 x 1000 @ (1000 x 1000).T took 128 us in one block of 10, 171 us in two of 5 */
static void la_nt_rows(la_int M, la_int r, la_int K, const float *A, la_int sam,
                       const float *W, la_int ldw, float alpha, float beta, int mode,
                       float *C, la_int ldc) {
    const la_int nb = (M + 9) / 10;
    for (la_int b = 0, i = 0; b < nb; b++) {
        const la_int i1 = M * (b + 1) / nb;
        #define LA_NT_IB(IB) case IB: \
            la_nt_block(IB, 2, i, r, K, A, sam, W, ldw, alpha, beta, mode, C, ldc); break;
        switch (i1 - i) {
            LA_NT_IB(1) LA_NT_IB(2) LA_NT_IB(3) LA_NT_IB(4) LA_NT_IB(5) LA_NT_IB(6) LA_NT_IB(7)
            LA_NT_IB(8) LA_NT_IB(9) LA_NT_IB(10)
        }
        #undef LA_NT_IB
        i = i1;
    }
}

/* `nt`, columns [r0, r1) of C: two at a time, the last of an odd count row by row */
static void la_nt(la_int M, la_int r0, la_int r1, la_int K, const float *A, la_int sam,
                  const float *W, la_int ldw, float alpha, float beta, int mode, float *C,
                  la_int ldc) {
    la_int r = r0;
    for (; r + 2 <= r1; r += 2) la_nt_rows(M, r, K, A, sam, W, ldw, alpha, beta, mode, C, ldc);
    if (r < r1)
        for (la_int i = 0; i < M; i++)
            la_nt_block(1, 1, i, r, K, A, sam, W, ldw, alpha, beta, mode, C, ldc);
}

/* `rows`: RB rows of C from row i, in tiles of TV vectors of 16 columns (RB * TV = 8
   independent sums: as many as the FMA units keep in flight; a short reduction is otherwise
   latency-bound); B (K x N, row stride sbk, unit column stride) is read from cache once per
   RB rows */
static inline __attribute__((always_inline)) void
la_rows_body(const int RB, const int TV, la_int i, la_int N, la_int K, const float *A,
             la_int sam, la_int sak, const float *B, la_int sbk, float alpha, float beta,
             int mode, float *C, la_int ldc) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const float *a = A + i * sam;
    for (la_int j = 0; j < N; j += 16 * TV) {
        __mmask16 mk[2];
        __m512 s[8][2];
        #pragma GCC unroll 2
        for (int v = 0; v < TV; v++) mk[v] = la_mask16(N - j - 16 * v);
        #pragma GCC unroll 8
        for (int q = 0; q < RB; q++) {
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++) s[q][v] = _mm512_setzero_ps();
        }
        const float *b = B + j;
        for (la_int k = 0; k < K; k++, b += sbk) {
            __m512 bv[2];
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++) bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
            #pragma GCC unroll 8
            for (int q = 0; q < RB; q++) {
                const __m512 aq = _mm512_set1_ps(a[q * sam + k * sak]);
                #pragma GCC unroll 2
                for (int v = 0; v < TV; v++) s[q][v] = _mm512_fmadd_ps(aq, bv[v], s[q][v]);
            }
        }
        /* all RB rows read before any is written (see `la_nn_body`) */
        #pragma GCC unroll 8
        for (int q = 0; q < RB; q++) {
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++) {
                float *c = C + (i + q) * ldc + j + 16 * v;
                s[q][v] = la_finish(s[q][v], mode ? _mm512_maskz_loadu_ps(mk[v], c)
                                                  : _mm512_setzero_ps(), va, vb, mode);
            }
        }
        #pragma GCC unroll 8
        for (int q = 0; q < RB; q++) {
            #pragma GCC unroll 2
            for (int v = 0; v < TV; v++)
                _mm512_mask_storeu_ps(C + (i + q) * ldc + j + 16 * v, mk[v], s[q][v]);
        }
    }
}

/* rows [i0, i1) of C: eight at a time where B has at most 16 columns, else four rows of
   32-column tiles (fewer loads per FMA) */
static void la_rows_mm(la_int i0, la_int i1, la_int N, la_int K, const float *A, la_int sam,
                       la_int sak, const float *B, la_int sbk, float alpha, float beta,
                       int mode, float *C, la_int ldc) {
    la_int i = i0;
    if (N <= 16) {
        for (; i + 8 <= i1; i += 8)
            la_rows_body(8, 1, i, N, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc);
    } else {
        for (; i + 4 <= i1; i += 4)
            la_rows_body(4, 2, i, N, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc);
    }
    for (; i < i1; i++)
        la_rows_body(1, 2, i, N, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc);
}

#define LA_NN_CASE(MR) case MR: \
    if (MR <= 12) la_nn_body(MR, 2, j0, j1, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc); \
    else la_nn_body(MR, 1, j0, j1, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc); \
    break;
/* columns [j0, j1) of C through `nn` (nt == 0) or `nt` */
static void la_few_cols(int nt, la_int M, la_int j0, la_int j1, la_int K, const float *A,
                        la_int sam, la_int sak, const float *B, la_int sbk, la_int sbn,
                        float alpha, float beta, int mode, float *C, la_int ldc) {
    if (!nt) {
        switch (M) {
            LA_NN_CASE(1) LA_NN_CASE(2) LA_NN_CASE(3) LA_NN_CASE(4) LA_NN_CASE(5)
            LA_NN_CASE(6) LA_NN_CASE(7) LA_NN_CASE(8) LA_NN_CASE(9) LA_NN_CASE(10)
            LA_NN_CASE(11) LA_NN_CASE(12) LA_NN_CASE(13) LA_NN_CASE(14) LA_NN_CASE(15)
            LA_NN_CASE(16)
        }
    } else {
        la_nt(M, j0, j1, K, A, sam, B, sbn, alpha, beta, mode, C, ldc);
    }
}

int la_fewmm_f32(la_int M, la_int N, la_int K, float alpha, const float *A, la_int sam,
                 la_int sak, const float *B, la_int sbk, la_int sbn, float beta, float *C,
                 la_int ldc, int nthreads, la_int par) {
    if (M < 1 || N < 1 || K < 1) return 0;
    const int mode = beta == 0.0f ? 0 : (alpha == 1.0f && beta == 1.0f) ? 1 : 2;
    const int par_ok = nthreads > 1 && M * N * K >= par;
    if (M <= LA_FEW_ROWS && K * N <= LA_FEW_B_MAX
            && (sbn == 1 || (sbk == 1 && sak == 1 && K >= LA_NT_MIN_K))) {
        const int nt = sbn != 1;
        const la_int unit = nt ? 2 : 32;  /* the column block one kernel step takes */
        if (!par_ok || N < 2 * unit) {
            la_few_cols(nt, M, 0, N, K, A, sam, sak, B, sbk, sbn, alpha, beta, mode, C, ldc);
            return 1;
        }
        #pragma omp parallel num_threads(nthreads)
        {
            const la_int p = omp_get_num_threads(), t = omp_get_thread_num();
            const la_int blocks = (N + unit - 1) / unit;
            la_int j0 = unit * (blocks * t / p), j1 = unit * (blocks * (t + 1) / p);
            if (j1 > N) j1 = N;
            if (j0 < j1)
                la_few_cols(nt, M, j0, j1, K, A, sam, sak, B, sbk, sbn, alpha, beta, mode, C,
                            ldc);
        }
        return 1;
    }
    if (sbn == 1 && K * N <= LA_ROWS_B_MAX && (N <= LA_ROWS_SHORT || K <= LA_ROWS_SHORT)) {
        if (!par_ok || M < 16) {
            la_rows_mm(0, M, N, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc);
            return 1;
        }
        #pragma omp parallel num_threads(nthreads)
        {
            const la_int p = omp_get_num_threads(), t = omp_get_thread_num();
            const la_int blocks = (M + 7) / 8;
            la_int i0 = 8 * (blocks * t / p), i1 = 8 * (blocks * (t + 1) / p);
            if (i1 > M) i1 = M;
            if (i0 < i1)
                la_rows_mm(i0, i1, N, K, A, sam, sak, B, sbk, alpha, beta, mode, C, ldc);
        }
        return 1;
    }
    return 0;
}

int la_fewmm_available(void) { return 1; }
#else
int la_fewmm_available(void) { return 0; }
int la_fewmm_f32(la_int M, la_int N, la_int K, float alpha, const float *A, la_int sam,
                 la_int sak, const float *B, la_int sbk, la_int sbn, float beta, float *C,
                 la_int ldc, int nthreads, la_int par) {
    return 0;
}
#endif
"""
