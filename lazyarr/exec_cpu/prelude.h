/* lazyarr kernel prelude: C types and LA_* helpers with NumPy's exact semantics.
 * Every helper is type-generic through _Generic over the standard's dtypes. */
#include <stdint.h>
#include <stddef.h>
#include <limits.h>
#include <float.h>
/* Vector variants of libm functions (glibc libmvec), reached from `omp simd` loops. */
LA_MVEC_DECLS
#include <tgmath.h>
#undef I
#define LA_I _Complex_I

/* The attribute of the functions whose loop calls vector math (`codegen.LA_MATH_LOOP`):
 * 512-bit vectors where the build asks for them (`ccache.wide_math`), else none. */
#if defined(LA_WIDE_MATH) && defined(__AVX512F__)
#define LA_MATH_LOOP __attribute__((target("prefer-vector-width=512")))
#else
#define LA_MATH_LOOP
#endif

typedef float _Complex c64_t;
typedef double _Complex c128_t;

/* complex128 -> complex64, each part rounded to float. GCC 12 drops a plain `(c64_t)v`
 * followed by a widening in the scalar remainder of an `omp simd` loop (the values kept
 * their double bits and never overflowed); the empty asm makes the float parts real. */
#if defined(__x86_64__) || defined(__i386__)
#define LA_KEEP_FLOATS(r, m) __asm__("" : "+x"(r), "+x"(m))
#elif defined(__aarch64__)
#define LA_KEEP_FLOATS(r, m) __asm__("" : "+w"(r), "+w"(m))
#else
#define LA_KEEP_FLOATS(r, m) do { volatile float la_r_ = (r), la_m_ = (m); (r) = la_r_; (m) = la_m_; } while (0)
#endif
static inline c64_t la_c128_to_c64(c128_t v) {
    float r = (float)__real__ v, m = (float)__imag__ v;
    LA_KEEP_FLOATS(r, m);
    return __builtin_complex(r, m);
}

/* float -> int32/int64 with x86's values (NumPy's): the truncated value in range, INT_MIN for
 * NaN, +-inf and out of range (C leaves those undefined). Without trapping math GCC folds
 * (F)(int)x into trunc(x), whose -0.0 no integer has: |x| < 1 gives 0 explicitly, so the
 * folded and the plain conversion agree. Narrower integers take the low bits of int32. */
#define LA_F2I(NAME, F, T, T_MIN, LIMIT, FABS)                                         \
static inline T NAME(F x) {                                                        \
    const F a = FABS(x);                                                           \
    return a < 1 ? 0 : a < (LIMIT) ? (T)x : (T_MIN);                               \
}
LA_F2I(la_f2i32_float, float, int32_t, INT32_MIN, 0x1p31f, __builtin_fabsf)
LA_F2I(la_f2i32_double, double, int32_t, INT32_MIN, 0x1p31, __builtin_fabs)
LA_F2I(la_f2i64_float, float, int64_t, INT64_MIN, 0x1p63f, __builtin_fabsf)
LA_F2I(la_f2i64_double, double, int64_t, INT64_MIN, 0x1p63, __builtin_fabs)
/* float -> uint32/uint64 as NumPy's scalar conversion on x86: uint32 takes the low bits of
 * the int64 conversion; uint64 converts [2**63, 2**64) as unsigned, 0 from 2**64 up (and
 * +inf), the int64 conversion's bits below (negatives wrap, NaN and -inf give 2**63). */
#define LA_F2U(F, TWO63, TWO64)                                                    \
static inline uint32_t la_f2u32_##F(F x) { return (uint32_t)la_f2i64_##F(x); }    \
static inline uint64_t la_f2u64_##F(F x) {                                         \
    return x >= (TWO63) ? (x < (TWO64) ? (uint64_t)x : 0) : (uint64_t)la_f2i64_##F(x); \
}
LA_F2U(float, 0x1p63f, 0x1p64f)
LA_F2U(double, 0x1p63, 0x1p64)

#define LA_IDIV(T, U)                                                              \
static inline T la_floordiv_##T(T a, T b) {                                        \
    if (b == 0) return 0;                                                          \
    if ((T)-1 < 0 && b == (T)-1) return (T)(0 - (U)a);                             \
    T q = a / b;                                                                   \
    if ((T)-1 < 0 && (a % b != 0) && ((a < 0) != (b < 0))) q -= 1;                 \
    return q;                                                                      \
}                                                                                  \
static inline T la_rem_##T(T a, T b) {                                             \
    if (b == 0) return 0;                                                          \
    if ((T)-1 < 0 && b == (T)-1) return 0;                                         \
    T r = a % b;                                                                   \
    if ((T)-1 < 0 && r != 0 && ((r < 0) != (b < 0))) r += b;                       \
    return r;                                                                      \
}                                                                                  \
static inline T la_pow_##T(T a, T b) {                                             \
    if ((T)-1 < 0 && b < 0) return a == 1 ? 1 : (a == (T)-1 ? ((b & 1) ? -1 : 1) : 0); \
    U r = 1, x = (U)a; U e = (U)b;                                                 \
    while (e) { if (e & 1) r *= x; x *= x; e >>= 1; }                              \
    return (T)r;                                                                   \
}                                                                                  \
static inline T la_lshift_##T(T a, T b) {                                          \
    if ((U)b >= sizeof(T) * CHAR_BIT || ((T)-1 < 0 && b < 0)) return 0;            \
    return (T)((U)a << b);                                                         \
}                                                                                  \
static inline T la_rshift_##T(T a, T b) {                                          \
    if ((U)b >= sizeof(T) * CHAR_BIT || ((T)-1 < 0 && b < 0)) return a < 0 ? (T)-1 : 0; \
    return (T)(a >> b);                                                            \
}                                                                                  \
static inline T la_abs_##T(T a) { return a < 0 ? (T)(0 - (U)a) : a; }              \
static inline T la_sign_##T(T a) { return (T)((a > 0) - (a < 0)); }

LA_IDIV(int8_t, uint8_t)
LA_IDIV(int16_t, uint16_t)
LA_IDIV(int32_t, uint32_t)
LA_IDIV(int64_t, uint64_t)
LA_IDIV(uint8_t, uint8_t)
LA_IDIV(uint16_t, uint16_t)
LA_IDIV(uint32_t, uint32_t)
LA_IDIV(uint64_t, uint64_t)

#define LA_FDIV(T, F)                                                              \
static inline T la_divmod_##T(T a, T b, T *modulus) {                              \
    T mod = fmod##F(a, b), div, fl;                                                \
    if (!b) { *modulus = mod; return a / b; }                                      \
    div = (a - mod) / b;                                                           \
    if (mod) { if ((b < 0) != (mod < 0)) { mod += b; div -= 1; } }                 \
    else mod = copysign##F(0, b);                                                  \
    if (div) { fl = floor##F(div); if (div - fl > (T)0.5) fl += 1; }               \
    else fl = copysign##F(0, a / b);                                               \
    *modulus = mod;                                                                \
    return fl;                                                                     \
}                                                                                  \
static inline T la_floordiv_##T(T a, T b) {                                        \
    T m; if (!b) return a / b; return la_divmod_##T(a, b, &m);                     \
}                                                                                  \
static inline T la_rem_##T(T a, T b) {                                             \
    T m; if (!b) return fmod##F(a, b); la_divmod_##T(a, b, &m); return m;          \
}                                                                                  \
static inline T la_logaddexp_##T(T x, T y) {                                       \
    if (x == y) return x + (T)0.693147180559945309417232121458176568;              \
    T t = x - y;                                                                   \
    if (t > 0) return x + log1p##F(exp##F(-t));                                    \
    if (t <= 0) return y + log1p##F(exp##F(t));                                    \
    return t;                                                                      \
}                                                                                  \
static inline T la_sign_##T(T a) { return a > 0 ? 1 : (a < 0 ? -1 : (a == 0 ? 0 : a)); }  \
/* C's pow. GCC 12 vectorizes pow(a, 0.5) with a literal 0.5 into sqrt, which gives -0 at -0 \
 * and NaN at -inf where pow gives +0 and +inf: the select (branch-free, folded away for    \
 * any other literal exponent) puts those back. */                                          \
static inline T la_fpow_##T(T a, T b) {                                            \
    T r = pow##F(a, b);                                                            \
    return (b == (T)0.5 && (a == 0 || a == -(T)INFINITY)) ? fabs##F(a) : r;        \
}

LA_FDIV(float, f)
LA_FDIV(double, )

#define LA_CPLX(T, R, F)                                                           \
static inline T la_csign_##T(T z) {  /* the standard's z / |z|, 0 + 0j at 0 */ \
    /* scaled by the larger part first: |z| of a huge z overflows, 1 / |z| of a tiny one */ \
    R re = creal##F(z), im = cimag##F(z);                                          \
    R m = fabs##F(re) > fabs##F(im) ? fabs##F(re) : fabs##F(im);                   \
    if (re == 0 && im == 0) return __builtin_complex((R)0, (R)0);                  \
    re /= m; im /= m;                                                              \
    R h = hypot##F(re, im);                                                        \
    return __builtin_complex(re / h, im / h);                                      \
}                                                                                  \
static inline T la_cexpm1_##T(T z) {                                               \
    /* the standard's special cases: -1 + 0 cis(y) at x = -inf, +inf + NaN j at x = +inf    \
     * with y not finite, a zero y kept (+inf + 0j, NaN + 0j) */                     \
    R x = creal##F(z), y = cimag##F(z), a = sin##F(y / 2);                         \
    if (isinf(x) && x < 0)                                                         \
        return __builtin_complex((R)-1, isfinite(y) ? (R)0 * sin##F(y) : (R)0);    \
    if (isinf(x) && !isfinite(y)) return __builtin_complex(x, y - y);              \
    return __builtin_complex(expm1##F(x) * cos##F(y) - 2 * a * a,                  \
                             y == 0 ? y : exp##F(x) * sin##F(y));                  \
}                                                                                  \
static inline T la_clog1p_##T(T z) {                                               \
    /* log|1 + z| as log1p(|1 + z|^2 - 1) / 2 for |z| < 1/2: log(hypot(1 + x, y)) \
     * rounds 1 + x and loses every digit of a small z */                          \
    R x = creal##F(z), y = cimag##F(z);                                            \
    R re = fabs##F(x) < (R)0.5 && fabs##F(y) < (R)0.5                              \
        ? (R)0.5 * log1p##F(x * (2 + x) + y * y) : log##F(hypot##F(x + 1, y));     \
    return __builtin_complex(re, atan2##F(y, x + 1));                              \
}                                                                                  \
static inline T la_cround_##T(T z) {                                               \
    return __builtin_complex(nearbyint##F(creal##F(z)), nearbyint##F(cimag##F(z)));\
}                                                                                  \
static inline T la_cpow_##T(T a, T b) {                                            \
    R br = creal##F(b), bi = cimag##F(b);                                          \
    if (bi == 0) {                                                                 \
        if (br == 0) return __builtin_complex((R)1, (R)0);                         \
        if (br == 1) return a;                                                     \
        if (br == 2) return a * a;                                                 \
        if (br == -1) return 1 / a;                                                \
        if (creal##F(a) == 0 && cimag##F(a) == 0 && br > 0)                        \
            return __builtin_complex((R)0, (R)0);                                  \
    }                                                                              \
    return cpow##F(a, b);                                                          \
}

#define LA_CDIV_DEF(T, R, F)                                                       \
static inline T la_cdiv_##T(T a, T b) {                                            \
    R ar = creal##F(a), ai = cimag##F(a), br = creal##F(b), bi = cimag##F(b);      \
    R abr = fabs##F(br), abi = fabs##F(bi);                                        \
    if (abr >= abi) {                                                              \
        if (abr == 0 && abi == 0) return __builtin_complex(ar / abr, ai / abr);    \
        R rat = bi / br, scl = (R)1 / (br + bi * rat);                             \
        return __builtin_complex((ar + ai * rat) * scl, (ai - ar * rat) * scl);    \
    }                                                                              \
    R rat = br / bi, scl = (R)1 / (bi + br * rat);                                 \
    return __builtin_complex((ar * rat + ai) * scl, (ai * rat - ar) * scl);        \
}                                                                                  \
static inline T la_crecip_##T(T a) {                                               \
    R ar = creal##F(a), ai = cimag##F(a), r, d;                                    \
    if (fabs##F(ai) <= fabs##F(ar)) {                                              \
        r = ai / ar; d = ar + ai * r;                                              \
        return __builtin_complex((R)1 / d, -r / d);                                \
    }                                                                              \
    r = ar / ai; d = ar * r + ai;                                                  \
    return __builtin_complex(r / d, (R)-1 / d);                                    \
}
LA_CDIV_DEF(c64_t, float, f)
LA_CDIV_DEF(c128_t, double, )
#define LA_CDIV(a, b) _Generic((a), c64_t: la_cdiv_c64_t, c128_t: la_cdiv_c128_t)((a), (b))
#define LA_CRECIP(a) _Generic((a), c64_t: la_crecip_c64_t, c128_t: la_crecip_c128_t)(a)

LA_CPLX(c64_t, float, f)
LA_CPLX(c128_t, double, )

static inline float la_maxf(float a, float b) { return (a > b || a != a) ? a : b; }
static inline double la_maxd(double a, double b) { return (a > b || a != a) ? a : b; }
static inline float la_minf(float a, float b) { return (a < b || a != a) ? a : b; }
static inline double la_mind(double a, double b) { return (a < b || a != a) ? a : b; }

#define LA_INTS(p, s) int8_t: p##int8_t##s, int16_t: p##int16_t##s, int32_t: p##int32_t##s, \
    int64_t: p##int64_t##s, uint8_t: p##uint8_t##s, uint16_t: p##uint16_t##s,              \
    uint32_t: p##uint32_t##s, uint64_t: p##uint64_t##s

#define LA_FLOORDIV(a, b) _Generic((a), LA_INTS(la_floordiv_, ), float: la_floordiv_float, \
    double: la_floordiv_double)((a), (b))
#define LA_REMAINDER(a, b) _Generic((a), LA_INTS(la_rem_, ), float: la_rem_float, \
    double: la_rem_double)((a), (b))
#define LA_POW(a, b) _Generic((a), LA_INTS(la_pow_, ), float: la_fpow_float, \
    double: la_fpow_double, \
    c64_t: la_cpow_c64_t, c128_t: la_cpow_c128_t)((a), (b))
#define LA_LOGADDEXP(a, b) _Generic((a), float: la_logaddexp_float, \
    double: la_logaddexp_double)((a), (b))
#define LA_MAX(a, b) _Generic((a), float: la_maxf((a), (b)), double: la_maxd((a), (b)), \
    default: ((a) >= (b) ? (a) : (b)))
#define LA_MIN(a, b) _Generic((a), float: la_minf((a), (b)), double: la_mind((a), (b)), \
    default: ((a) <= (b) ? (a) : (b)))
#define LA_LSHIFT(a, b) _Generic((a), LA_INTS(la_lshift_, ))((a), (b))
#define LA_RSHIFT(a, b) _Generic((a), LA_INTS(la_rshift_, ))((a), (b))
#define LA_ABS(a) _Generic((a), LA_INTS(la_abs_, ), float: fabsf, double: fabs, \
    c64_t: cabsf, c128_t: cabs)(a)
#define LA_EXPM1(a) _Generic((a), float: expm1f, double: expm1, c64_t: la_cexpm1_c64_t, \
    c128_t: la_cexpm1_c128_t)(a)
#define LA_LOG1P(a) _Generic((a), float: log1pf, double: log1p, c64_t: la_clog1p_c64_t, \
    c128_t: la_clog1p_c128_t)(a)
static inline c64_t la_clog2_c64(c64_t z) { return clogf(z) / 0.693147180559945309417232121458176568f; }
static inline c128_t la_clog2_c128(c128_t z) { return clog(z) / 0.693147180559945309417232121458176568; }
static inline c64_t la_clog10_c64(c64_t z) { return clogf(z) / 2.30258509299404568401799145468436421f; }
static inline c128_t la_clog10_c128(c128_t z) { return clog(z) / 2.30258509299404568401799145468436421; }
#define LA_LOG2(a) _Generic((a), float: log2f, double: log2, c64_t: la_clog2_c64, \
    c128_t: la_clog2_c128)(a)
#define LA_LOG10(a) _Generic((a), float: log10f, double: log10, c64_t: la_clog10_c64, \
    c128_t: la_clog10_c128)(a)
#define LA_FLOOR(a) _Generic((a), float: floorf((a)), double: floor((a)), default: (a))
#define LA_CEIL(a) _Generic((a), float: ceilf((a)), double: ceil((a)), default: (a))
#define LA_TRUNC(a) _Generic((a), float: truncf((a)), double: trunc((a)), default: (a))
static inline int64_t la_id_i(int64_t a) { return a; }
static inline uint64_t la_id_u(uint64_t a) { return a; }
#define LA_ROUND(a) ((__typeof__(a))_Generic((a), float: nearbyintf, double: nearbyint, \
    c64_t: la_cround_c64_t, c128_t: la_cround_c128_t, uint64_t: la_id_u, default: la_id_i)(a))
#define LA_SIGN(a) _Generic((a), LA_INTS(la_sign_, ), float: la_sign_float, \
    double: la_sign_double, c64_t: la_csign_c64_t, c128_t: la_csign_c128_t)(a)
static inline _Bool la_isnan_f(float a) { return isnan(a); }
static inline _Bool la_isnan_d(double a) { return isnan(a); }
static inline _Bool la_isnan_cf(c64_t a) { return isnan(crealf(a)) || isnan(cimagf(a)); }
static inline _Bool la_isnan_cd(c128_t a) { return isnan(creal(a)) || isnan(cimag(a)); }
static inline _Bool la_isinf_f(float a) { return isinf(a); }
static inline _Bool la_isinf_d(double a) { return isinf(a); }
static inline _Bool la_isinf_cf(c64_t a) { return isinf(crealf(a)) || isinf(cimagf(a)); }
static inline _Bool la_isinf_cd(c128_t a) { return isinf(creal(a)) || isinf(cimag(a)); }
static inline _Bool la_isfin_f(float a) { return isfinite(a); }
static inline _Bool la_isfin_d(double a) { return isfinite(a); }
static inline _Bool la_isfin_cf(c64_t a) { return isfinite(crealf(a)) && isfinite(cimagf(a)); }
static inline _Bool la_isfin_cd(c128_t a) { return isfinite(creal(a)) && isfinite(cimag(a)); }
static inline _Bool la_false(int64_t a) { (void)a; return 0; }
static inline _Bool la_true(int64_t a) { (void)a; return 1; }
#define LA_ISNAN(a) _Generic((a), float: la_isnan_f, double: la_isnan_d, c64_t: la_isnan_cf, \
    c128_t: la_isnan_cd, default: la_false)(a)
#define LA_ISINF(a) _Generic((a), float: la_isinf_f, double: la_isinf_d, c64_t: la_isinf_cf, \
    c128_t: la_isinf_cd, default: la_false)(a)
#define LA_ISFINITE(a) _Generic((a), float: la_isfin_f, double: la_isfin_d, c64_t: la_isfin_cf, \
    c128_t: la_isfin_cd, default: la_true)(a)
#define LA_INVERT(a) _Generic((a), _Bool: !(a), default: ~(a))
#define LA_ZERO(a) ((__typeof__(a))0)

/* Non-temporal (streaming) stores of 32-byte vectors, for outputs too large to stay in cache:
   they skip the read-for-ownership a normal store makes (a quarter to a third of a memory-bound
   kernel's traffic). GCC's builtins, so the big <immintrin.h> is not parsed for each kernel. */
#if defined(__AVX__) && defined(__GNUC__) && !defined(__clang__)
#define LA_HAVE_NT 1
typedef float la_v8sf __attribute__((vector_size(32)));
typedef double la_v4df __attribute__((vector_size(32)));
#define LA_STREAM_float(p, t) __builtin_ia32_movntps256((p), *(const la_v8sf *)(t))
#define LA_STREAM_double(p, t) __builtin_ia32_movntpd256((p), *(const la_v4df *)(t))
#define LA_SFENCE() __builtin_ia32_sfence()
#else
#define LA_HAVE_NT 0
#endif

/* OpenMP's thread queries (<omp.h> not parsed for each kernel). */
extern int omp_get_num_threads(void);
extern int omp_get_thread_num(void);

/* The shared drivers (`drivers.h`): the package's, through a table, or a copy of their own. */
LA_DRIVERS
