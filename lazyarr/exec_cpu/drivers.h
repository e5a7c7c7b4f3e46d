/* lazyarr's kernel drivers: the loops around a kernel's contiguous span that every kernel shares
 * (strided rows staged through buffers, a contiguous range split across OpenMP threads, a
 * reduction's output rows, strided copies). The package builds them once (`_drivers.pyx`) and
 * each kernel bundle calls them through a table `native.build_kernels` hands it
 * (`la_set_drivers`): compiled into every bundle they cost ~0.13 s of compiler per bundle, a
 * quarter of a cold program build. Where that module is missing, a bundle compiles its own
 * copy (`LA_DRIVERS_IMPL`). */
#ifndef LA_DRIVERS_H
#define LA_DRIVERS_H
#include <stdint.h>

extern int omp_get_num_threads(void);
extern int omp_get_thread_num(void);

typedef void (*la_span_fn)(int64_t lo, int64_t hi, char **p);
typedef void (*la_rrow_fn)(int64_t o, int64_t nk, const int64_t *kshape, int64_t nr,
                           const int64_t *rshape, char **p, const int64_t *kst,
                           const int64_t *rst, int64_t rest, int64_t inner);
/* bytes of the per-thread stack buffers a strided row is staged through */
#define LA_STAGE_BYTES 32768

typedef struct la_drivers {
    void (*copy)(char *dst, int64_t dstep, const char *src, int64_t sstep, int64_t n, int size);
    void (*strided_rows)(int64_t nd, const int64_t *shape, char **p, const int64_t *st, int nt,
                         int nin, int nargs, const int *size, la_span_fn span, int64_t work,
                         int64_t par_work);
    void (*contig_threads)(int64_t n, char **p, int nt, la_span_fn span);
    void (*reduce_rows)(int64_t nk, const int64_t *kshape, int64_t nr, const int64_t *rshape,
                        char **p, const int64_t *kst, const int64_t *rst, int nt,
                        la_rrow_fn row, int64_t work, int64_t par_work);
} la_drivers_t;

#ifdef LA_DRIVERS_IMPL
#ifndef LA_DRIVER_COLD
/* compiled into a kernel bundle: a static copy, its bookkeeping at -O1 */
#define LA_DRIVER_COLD static __attribute__((optimize("O1")))
#define LA_DRIVER_HOT static
#endif

/* n elements of `size` bytes from src (byte step sstep) to dst (byte step dstep) */
LA_DRIVER_HOT void la_copy(char *dst, int64_t dstep, const char *src, int64_t sstep,
                          int64_t n, int size) {
    switch (size) {
    case 1: for (int64_t i = 0; i < n; i++) *(uint8_t *)(dst + i * dstep) = *(const uint8_t *)(src + i * sstep); break;
    case 2: for (int64_t i = 0; i < n; i++) *(uint16_t *)(dst + i * dstep) = *(const uint16_t *)(src + i * sstep); break;
    case 4: for (int64_t i = 0; i < n; i++) *(uint32_t *)(dst + i * dstep) = *(const uint32_t *)(src + i * sstep); break;
    case 8: for (int64_t i = 0; i < n; i++) *(uint64_t *)(dst + i * dstep) = *(const uint64_t *)(src + i * sstep); break;
    default: for (int64_t i = 0; i < n; i++) __builtin_memcpy(dst + i * dstep, src + i * sstep, size);
    }
}

/* Rows [r0, r1) of an elementwise kernel's strided call, each through its contiguous loop
 * `span`: an operand stepping by one element along the row is used in place, an input
 * broadcast along it (stride 0) is read from a buffer filled once per row, any other operand
 * is gathered into (outputs: scattered from) a buffer, block by block. `size`: bytes per
 * element of each operand, negative for an input the kernel reads as one scalar. */
LA_DRIVER_COLD void la_rows(int64_t r0, int64_t r1, int64_t nd, const int64_t *shape, char **p,
                            const int64_t *st, int nin, int nargs, const int *size,
                            la_span_fn span) {
    char stage[LA_STAGE_BYTES] __attribute__((aligned(32)));
    char *q[nargs], *pp[nargs], *buf[nargs];
    int64_t t[nargs], sz[nargs];
    const int64_t inner = shape[nd - 1];
    int64_t bytes = 0, off = 0;
    for (int a = 0; a < nargs; a++) { sz[a] = size[a] < 0 ? -size[a] : size[a]; bytes += sz[a]; }
    int64_t blk = LA_STAGE_BYTES / bytes;
    blk = blk > 256 ? 256 : blk;
    for (int a = 0; a < nargs; a++) { buf[a] = stage + off; off += (blk * sz[a] + 31) & ~(int64_t)31; }
    for (int64_t o = r0; o < r1; o++) {
        int64_t r = o;
        for (int a = 0; a < nargs; a++) { q[a] = p[a]; t[a] = st[a * nd + nd - 1]; }
        for (int64_t d = nd - 2; d >= 0; d--) {
            const int64_t k = r % shape[d];
            r /= shape[d];
            for (int a = 0; a < nargs; a++) q[a] += k * st[a * nd + d];
        }
        int staged = 0;
        for (int a = 0; a < nargs; a++) staged |= size[a] > 0 && t[a] != sz[a];
        const int64_t step = staged ? blk : inner;
        const int64_t fill = inner < step ? inner : step;
        for (int a = 0; a < nin; a++)
            if (size[a] > 0 && t[a] == 0) la_copy(buf[a], sz[a], q[a], 0, fill, sz[a]);
        for (int64_t base = 0; base < inner; base += step) {
            const int64_t len = inner - base < step ? inner - base : step;
            for (int a = 0; a < nargs; a++) {
                if (size[a] < 0) pp[a] = q[a];
                else if (t[a] == sz[a]) pp[a] = q[a] + base * t[a];
                else {
                    pp[a] = buf[a];
                    if (a < nin && t[a] != 0) la_copy(buf[a], sz[a], q[a] + base * t[a], t[a], len, sz[a]);
                }
            }
            span(0, len, pp);
            for (int a = nin; a < nargs; a++)
                if (t[a] != sz[a]) la_copy(q[a] + base * t[a], t[a], buf[a], sz[a], len, sz[a]);
        }
    }
}

/* The strided entry of an elementwise kernel (see codegen.Kernel): rows split between threads
 * when the work (elements x `work`) reaches `par_work`. */
LA_DRIVER_COLD void la_strided_rows(int64_t nd, const int64_t *shape, char **p, const int64_t *st,
                                    int nt, int nin, int nargs, const int *size, la_span_fn span,
                                    int64_t work, int64_t par_work) {
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    if (outer == 0 || inner == 0) return;
    if (nt <= 1 || outer < 2 || outer * inner * work < par_work) {
        la_rows(0, outer, nd, shape, p, st, nin, nargs, size, span);
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
        const int64_t chunk = (outer + nth - 1) / nth;
        const int64_t lo = tid * chunk, hi = lo + chunk < outer ? lo + chunk : outer;
        if (lo < hi) la_rows(lo, hi, nd, shape, p, st, nin, nargs, size, span);
    }
}

/* ``la_contig``'s threaded path: each thread runs `span` on a static chunk (multiples of 16). */
LA_DRIVER_COLD void la_contig_threads(int64_t n, char **p, int nt, la_span_fn span) {
    #pragma omp parallel num_threads(nt)
    {
        const int64_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
        const int64_t chunk = ((n + nth - 1) / nth + 15) & ~(int64_t)15;
        const int64_t lo = tid * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) span(lo, hi, p);
    }
}

/* A reduction kernel's entry: output elements split between threads above `par_work`. */
LA_DRIVER_COLD void la_reduce_rows(int64_t nk, const int64_t *kshape, int64_t nr,
                                   const int64_t *rshape, char **p, const int64_t *kst,
                                   const int64_t *rst, int nt, la_rrow_fn row, int64_t work,
                                   int64_t par_work) {
    int64_t outer = 1, rest = 1, inner = rshape[nr - 1];
    for (int64_t d = 0; d < nk; d++) outer *= kshape[d];
    for (int64_t d = 0; d < nr - 1; d++) rest *= rshape[d];
    if (nt <= 1 || outer <= 1 || outer * rest * inner * work < par_work) {
        for (int64_t o = 0; o < outer; o++) row(o, nk, kshape, nr, rshape, p, kst, rst, rest, inner);
        return;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < outer; o++) row(o, nk, kshape, nr, rshape, p, kst, rst, rest, inner);
}

#else
/* a kernel bundle calling the package's drivers through the table it is given once loaded */
static la_drivers_t la_drv;
void la_set_drivers(const la_drivers_t *d) { la_drv = *d; }
#define la_copy la_drv.copy
#define la_strided_rows la_drv.strided_rows
#define la_contig_threads la_drv.contig_threads
#define la_reduce_rows la_drv.reduce_rows
#endif
#endif
