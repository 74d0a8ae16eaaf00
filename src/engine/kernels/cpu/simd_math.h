// Vectorized FP32 math on AVX-512 registers (16 lanes) for the optimized
// elementwise, Softmax and normalization kernels: exp, expm1, log1p on
// [0, 1], sigmoid, tanh and erf, plus masked load/store helpers.
//
// Accuracy (checked against double-precision std:: functions by
// simd_math_test.cc over wide ranges): exp, sigmoid, tanh, erf, expm1 and
// log1p within a few float ulps (relative error below 1e-6; erf below 2e-7
// absolute and relative). Special values follow the C library: NaN in gives
// NaN out; exp(+inf) = inf, exp(-inf) = 0; tanh/erf/sigmoid saturate at
// +-1 / 0 / 1. Exp flushes results below e^-87 (~1.6e-38) to zero (see Exp),
// so the functions never produce denormals (absolute error < 1.6e-38).
//
// How: exp reduces x = n*ln2 + r (|r| <= ln2/2, two-part ln2 with FMA),
// evaluates the degree-7 Taylor polynomial of e^r and scales by 2^n with
// vscalefps (exact overflow / underflow / denormal handling). Tanh and erf
// use odd polynomials near zero (least-squares fits made for this file with
// numpy/mpmath: tanh(x)/x and erf(x)/x as polynomials in x^2) and the exp
// forms tanh|x| = 1 - 2/(e^{2|x|} + 1) and erf|x| = 1 - e^{-x^2} Q(1/|x|)
// (Q a fit of erfc(x) e^{x^2} on [0.875, 4]) beyond; |x| >= 4 gives erf 1.
//
// Every function here needs AVX-512F/DQ: call only when UseAvx512() is true.
// Thread safety: pure functions.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "engine/kernels/cpu/cpu_util.h"

namespace nereid::engine::cpu::simd {

// Wrappers for intrinsics whose plain forms pass an "undefined" register
// as the masked-off source, which GCC 12 flags as maybe-uninitialized under
// -Werror; the all-lanes zero-masked forms compile to the same instruction.
constexpr __mmask16 kAll = 0xFFFF;
// a > b ? a : b (b when either is NaN), as vmaxps.
NEREID_AVX512 inline __m512 Max(__m512 a, __m512 b) { return _mm512_maskz_max_ps(kAll, a, b); }
// a < b ? a : b (b when either is NaN), as vminps.
NEREID_AVX512 inline __m512 Min(__m512 a, __m512 b) { return _mm512_maskz_min_ps(kAll, a, b); }
NEREID_AVX512 inline __m512 Sqrt(__m512 a) { return _mm512_maskz_sqrt_ps(kAll, a); }
NEREID_AVX512 inline __m512 RoundNearest(__m512 a) {
  return _mm512_maskz_roundscale_ps(kAll, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// a * 2^floor(b), exact (overflow to inf, gradual underflow).
NEREID_AVX512 inline __m512 Scalef(__m512 a, __m512 b) { return _mm512_maskz_scalef_ps(kAll, a, b); }

// Mask of the first `n` lanes (n in [0, 16]).
NEREID_AVX512 inline __mmask16 TailMask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

NEREID_AVX512 inline __m512 Abs(__m512 x) {
  return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
}

// x with the sign bit of `sign` or'ed in (x must be non-negative).
NEREID_AVX512 inline __m512 WithSignOf(__m512 x, __m512 sign) {
  return _mm512_or_ps(x, _mm512_and_ps(sign, _mm512_set1_ps(-0.0f)));
}

// Horner evaluation of c[0] + c[1] t + ... + c[N-1] t^(N-1).
template <int N>
NEREID_AVX512 inline __m512 Poly(__m512 t, const float (&c)[N]) {
  __m512 r = _mm512_set1_ps(c[N - 1]);
  for (int i = N - 2; i >= 0; --i) r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(c[i]));
  return r;
}

// Results below e^-87 (1.6e-38, just above FLT_MIN) are flushed to zero:
// producing a denormal or underflowing result costs a microcode assist on
// Intel cores (~50x slower), which Softmax rows with masked (-1e4 or
// -FLT_MAX) positions and Sigmoid of large |x| would pay for every lane.
// The absolute error of the flush is below 1.6e-38.
NEREID_AVX512 inline __m512 Exp(__m512 x) {
  const __m512 lowest = _mm512_set1_ps(-87.0f);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lowest, _CMP_NLT_UQ);  // x >= -87 or NaN
  // Above 89 the result is inf anyway; clamping keeps n finite. Max/Min
  // return their second operand for NaN, so NaN passes.
  x = Max(lowest, x);
  x = Min(_mm512_set1_ps(89.0f), x);
  const __m512 n = RoundNearest(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)));
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  static constexpr float kTaylor[] = {1.0f,
                                      1.0f,
                                      0.5f,
                                      1.0f / 6.0f,
                                      1.0f / 24.0f,
                                      1.0f / 120.0f,
                                      1.0f / 720.0f,
                                      1.0f / 5040.0f};
  return _mm512_maskz_mov_ps(keep, Scalef(Poly(r, kTaylor), n));
}

// e^x - 1 without cancellation near 0.
NEREID_AVX512 inline __m512 Expm1(__m512 x) {
  static constexpr float kTaylor[] = {1.0f,
                                      1.0f / 2.0f,
                                      1.0f / 6.0f,
                                      1.0f / 24.0f,
                                      1.0f / 120.0f,
                                      1.0f / 720.0f,
                                      1.0f / 5040.0f,
                                      1.0f / 40320.0f,
                                      1.0f / 362880.0f};
  const __m512 small = _mm512_mul_ps(x, Poly(x, kTaylor));  // |x| < 0.5
  const __m512 large = _mm512_sub_ps(Exp(x), _mm512_set1_ps(1.0f));
  const __mmask16 is_small = _mm512_cmp_ps_mask(Abs(x), _mm512_set1_ps(0.5f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, large, small);
}

// log(1 + u) for u in [0, 1] (and NaN).
NEREID_AVX512 inline __m512 Log1pUnit(__m512 u) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 w = _mm512_add_ps(one, u);  // in [1, 2]
  // w = m * 2^e with m in [1/sqrt2, sqrt2].
  const __mmask16 big = _mm512_cmp_ps_mask(w, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  const __m512 m = _mm512_mask_mul_ps(w, big, w, _mm512_set1_ps(0.5f));
  const __m512 e = _mm512_maskz_mov_ps(big, one);
  // log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172.
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  static constexpr float kSeries[] = {2.0f, 2.0f / 3.0f, 2.0f / 5.0f, 2.0f / 7.0f, 2.0f / 9.0f,
                                      2.0f / 11.0f};
  const __m512 log_m = _mm512_mul_ps(s, Poly(_mm512_mul_ps(s, s), kSeries));
  // w rounded away part of u: add it back, (u - (w - 1)) / w.
  const __m512 lost = _mm512_div_ps(_mm512_sub_ps(u, _mm512_sub_ps(w, one)), w);
  return _mm512_add_ps(_mm512_fmadd_ps(e, _mm512_set1_ps(0.693147180559945309f), log_m), lost);
}

NEREID_AVX512 inline __m512 Sigmoid(__m512 x) {
  // e = exp(-|x|) never overflows; sigmoid = 1/(1+e) for x >= 0, e/(1+e) below.
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), Abs(x)));
  const __m512 r = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(r, negative, e, r);
}

NEREID_AVX512 inline __m512 Tanh(__m512 x) {
  const __m512 ax = Abs(x);
  static constexpr float kSmall[] = {1.0f,           -3.333333064e-01f, 1.333320598e-01f,
                                     -5.394696568e-02f, 2.170222263e-02f, -8.181553464e-03f,
                                     2.146893575e-03f};
  const __m512 small = _mm512_mul_ps(x, Poly(_mm512_mul_ps(x, x), kSmall));  // |x| < 0.625
  const __m512 e = Exp(_mm512_add_ps(ax, ax));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 large =
      _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, WithSignOf(large, x), small);
}

NEREID_AVX512 inline __m512 Erf(__m512 x) {
  const __m512 ax = Abs(x);
  static constexpr float kSmall[] = {1.128379163e+00f,  -3.761257457e-01f, 1.128267030e-01f,
                                     -2.679866523e-02f, 5.042335606e-03f,  -6.254196163e-04f};
  const __m512 small = _mm512_mul_ps(x, Poly(_mm512_mul_ps(x, x), kSmall));  // |x| < 0.875
  // Beyond: erf = 1 - exp(-x^2) Q(1/x), |x| clamped to 4 (erf(4) rounds to 1).
  static constexpr float kLarge[] = {3.527290408e-04f,  5.576890192e-01f, 5.136464198e-02f,
                                     -5.071986767e-01f, 5.783330159e-01f, -3.570400228e-01f,
                                     1.223226699e-01f,  -1.823983435e-02f};
  const __m512 cx = Min(_mm512_set1_ps(4.0f), ax);  // NaN passes
  const __m512 q = Poly(_mm512_div_ps(_mm512_set1_ps(1.0f), cx), kLarge);
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(cx, cx)));
  const __m512 large = _mm512_fnmadd_ps(e, q, _mm512_set1_ps(1.0f));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.875f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, WithSignOf(large, x), small);
}

// Horizontal sum / max of the lanes. (Written out rather than with
// _mm512_reduce_*: GCC 12 warns about their undefined-source intrinsics.)
NEREID_AVX512 inline float ReduceAdd(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float sum = 0.0f;
  for (float x : lanes) sum += x;
  return sum;
}
NEREID_AVX512 inline float ReduceMax(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float m = lanes[0];
  for (float x : lanes) m = x > m ? x : m;
  return m;
}
NEREID_AVX512 inline double ReduceAdd(__m512d v) {
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, v);
  double sum = 0.0;
  for (double x : lanes) sum += x;
  return sum;
}

}  // namespace nereid::engine::cpu::simd
