// Internal, header-only: vectorised expf for AVX-512 translation units (include only from *_avx512*.cpp).
// Cephes-style: n = round(x·log2 e), r = x − n·ln2 (two-constant Cody–Waite split, FMA), e^r by a degree-6
// polynomial on |r| ≤ ln2/2, then ·2^n with vscalefps, which also underflows cleanly to 0 for very negative x
// (so exp(−inf) = 0, which masked attention scores rely on). Measured max error vs the correctly rounded
// expf: ≤ 2 ulp over [−87, 88] (see docs/numerics.md).
#pragma once
// GCC 12 flags its own _mm512_undefined_ps() inside max/scalef/roundscale as maybe-uninitialized (a known
// false positive, GCC PR 105593); silence it for the AVX-512 translation units.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace ditto::cpu::detail {

inline __m512 exp_avx512(__m512 x) {
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 ln2_hi = _mm512_set1_ps(0.693359375f);
  const __m512 ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
  // Clamp: above 88.72 the result overflows to inf through scalef; below −104 it is 0 in float anyway.
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.f)), _mm512_set1_ps(88.7228391f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
  r = _mm512_fnmadd_ps(n, ln2_lo, r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}

inline float hsum_avx512(__m512 v) { return _mm512_reduce_add_ps(v); }

}  // namespace ditto::cpu::detail
