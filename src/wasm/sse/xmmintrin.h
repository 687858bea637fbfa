/*
 * The few SSE intrinsics libsoxr's SIMD engine (cr32s: pffft, the half-band
 * and polyphase filters) uses, written as clang vector operations so that the
 * wasm build compiles them to wasm SIMD128 (-msimd128).  Only scripts/build-wasm
 * puts this directory on the include path, for libsoxr; natively the real
 * <xmmintrin.h> is used.  Each one has the lane semantics of its SSE
 * namesake, so the engine computes what it computes natively (the same
 * engine native libsoxr picks on x86-64).
 */
#ifndef RMW_SSE_XMMINTRIN_H
#define RMW_SSE_XMMINTRIN_H

#if !defined(__wasm_simd128__)
#error "src/wasm/sse/xmmintrin.h is for wasm32 with -msimd128 only"
#endif

typedef float __m128 __attribute__((__vector_size__(16), __aligned__(16)));
typedef float rmw_m128u __attribute__((__vector_size__(16), __aligned__(1)));
typedef float __m64 __attribute__((__vector_size__(8), __aligned__(1))); /* only as a pointer type */

#define RMW_SSE static __inline__ __attribute__((__always_inline__))

RMW_SSE __m128 _mm_setzero_ps(void) { return (__m128){0.f, 0.f, 0.f, 0.f}; }
RMW_SSE __m128 _mm_set1_ps(float a) { return (__m128){a, a, a, a}; }
RMW_SSE __m128 _mm_set_ss(float a) { return (__m128){a, 0.f, 0.f, 0.f}; }
RMW_SSE __m128 _mm_add_ps(__m128 a, __m128 b) { return a + b; }
RMW_SSE __m128 _mm_sub_ps(__m128 a, __m128 b) { return a - b; }
RMW_SSE __m128 _mm_mul_ps(__m128 a, __m128 b) { return a * b; }
RMW_SSE __m128 _mm_load_ps(const float *p) { return *(const __m128 *)p; }
RMW_SSE __m128 _mm_loadu_ps(const float *p) { return *(const rmw_m128u *)p; }
RMW_SSE __m128 _mm_load_ss(const float *p) { return (__m128){*p, 0.f, 0.f, 0.f}; }
RMW_SSE void _mm_store_ss(float *p, __m128 a) { *p = a[0]; }
/* lane 0 only; lanes 1-3 from a */
RMW_SSE __m128 _mm_add_ss(__m128 a, __m128 b) { a[0] += b[0]; return a; }
RMW_SSE __m128 _mm_mul_ss(__m128 a, __m128 b) { a[0] *= b[0]; return a; }
/* [p0 p1 a2 a3] */
RMW_SSE __m128 _mm_loadl_pi(__m128 a, const __m64 *p)
{
    __m64 lo = *p;
    a[0] = lo[0];
    a[1] = lo[1];
    return a;
}
/* [a0 b0 a1 b1], [a2 b2 a3 b3], [b2 b3 a2 a3], [a0 a1 b0 b1] */
RMW_SSE __m128 _mm_unpacklo_ps(__m128 a, __m128 b) { return __builtin_shufflevector(a, b, 0, 4, 1, 5); }
RMW_SSE __m128 _mm_unpackhi_ps(__m128 a, __m128 b) { return __builtin_shufflevector(a, b, 2, 6, 3, 7); }
RMW_SSE __m128 _mm_movehl_ps(__m128 a, __m128 b) { return __builtin_shufflevector(a, b, 6, 7, 2, 3); }
RMW_SSE __m128 _mm_movelh_ps(__m128 a, __m128 b) { return __builtin_shufflevector(a, b, 0, 1, 4, 5); }

#define _MM_SHUFFLE(z, y, x, w) (((z) << 6) | ((y) << 4) | ((x) << 2) | (w))
/* Lanes 0-1 from a, 2-3 from b, chosen by the 2-bit fields of imm. */
#define _mm_shuffle_ps(a, b, imm)                                                                  \
    ((__m128)__builtin_shufflevector((__m128)(a), (__m128)(b), (imm) & 3, ((imm) >> 2) & 3,        \
                                     4 + (((imm) >> 4) & 3), 4 + (((imm) >> 6) & 3)))
#define _MM_TRANSPOSE4_PS(r0, r1, r2, r3)                                                          \
    do {                                                                                           \
        __m128 t0_ = _mm_unpacklo_ps((r0), (r1)), t1_ = _mm_unpackhi_ps((r0), (r1));              \
        __m128 t2_ = _mm_unpacklo_ps((r2), (r3)), t3_ = _mm_unpackhi_ps((r2), (r3));              \
        (r0) = __builtin_shufflevector(t0_, t2_, 0, 1, 4, 5);                                      \
        (r1) = __builtin_shufflevector(t0_, t2_, 2, 3, 6, 7);                                      \
        (r2) = __builtin_shufflevector(t1_, t3_, 0, 1, 4, 5);                                      \
        (r3) = __builtin_shufflevector(t1_, t3_, 2, 3, 6, 7);                                      \
    } while (0)

#undef RMW_SSE
#endif
