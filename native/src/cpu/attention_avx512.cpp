// AVX-512 tile kernel of the online-softmax attention (see attention.cpp for the recurrence). Layout trick:
// the query block is packed transposed and pre-scaled, Qt[d][i] = q_i[d]·scale, so the scores come out
// transposed, St[j][i] = Σ_d k_j[d]·Qt[d][i], two 16-lane vectors (32 queries) per key. Then the running
// max, the exponentials and the running sum are all plain vertical vector ops across queries, with no
// horizontal reductions. P·V broadcasts P[i][j] from St and streams V rows in their natural layout into a
// register-blocked accumulator (4 query rows × up to 4 vectors of head_dim), rescaled by the correction
// factor as it is loaded. Head dims that are not multiples of 16 use masked loads/stores.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "cpu/attention_kernels.h"
#include "cpu/vec_math_avx512.h"

namespace ditto::cpu::detail {

namespace {

constexpr int64_t QB = kAttnQueryBlock;  // 32 = two vectors
constexpr int64_t KB = kAttnKeyBlock;
static_assert(QB == 32, "the score tile is two 16-lane vectors per key");

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }

// Qt[d][i] = q_i[d]·scale for i < rows (≤ QB), d < dh, and 0 for rows ≥ `rows`: 16×16 blocks transposed in
// registers (unpack → shuffle → two 128-bit lane shuffles) instead of 16 scattered scalar stores per vector.
void pack_queries_transposed(const float* q, int64_t row_stride, int64_t rows, int64_t dh, float scale, float* qt) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t i0 = 0; i0 < QB; i0 += 16) {
    for (int64_t d0 = 0; d0 < dh; d0 += 16) {
      const __mmask16 dmask = lanes(dh - d0);
      __m512 r[16], a[16], b[16];
#pragma GCC unroll 16
      for (int u = 0; u < 16; ++u)
        r[u] = i0 + u < rows ? _mm512_mul_ps(vscale, _mm512_maskz_loadu_ps(dmask, q + (i0 + u) * row_stride + d0))
                             : _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
      }
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        b[4 * k + 0] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
      }
      // b[4k + c] holds, in 128-bit lane L, rows 4k..4k+3 of column 4L + c; gather lane L of b[c], b[4+c], ….
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const __m512 e0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x88), e1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xDD);
        const __m512 f0 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x88),
                     f1 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(e0, f0, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(e1, f1, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(e0, f0, 0xDD);
        r[12 + c] = _mm512_shuffle_f32x4(e1, f1, 0xDD);
      }
      const int64_t cols = std::min<int64_t>(16, dh - d0);
      for (int64_t u = 0; u < cols; ++u) _mm512_storeu_ps(qt + (d0 + u) * QB + i0, r[u]);
    }
  }
}

// St[j] (32 lanes) = Σ_d k_j[d]·Qt[d] (+ bias_j) for keys [0, kn) of the block at `kblock`.
void block_scores(const float* qt, const float* kblock, int64_t k_row_stride, int64_t kn, int64_t dh,
                  const float* bias, float* st) {
  int64_t j = 0;
  for (; j + 4 <= kn; j += 4) {
    const float* k0 = kblock + j * k_row_stride;
    const float* k1 = k0 + k_row_stride;
    const float* k2 = k1 + k_row_stride;
    const float* k3 = k2 + k_row_stride;
    __m512 s00 = _mm512_setzero_ps(), s01 = _mm512_setzero_ps(), s10 = _mm512_setzero_ps(),
           s11 = _mm512_setzero_ps(), s20 = _mm512_setzero_ps(), s21 = _mm512_setzero_ps(),
           s30 = _mm512_setzero_ps(), s31 = _mm512_setzero_ps();
    for (int64_t d = 0; d < dh; ++d) {
      const __m512 q0 = _mm512_loadu_ps(qt + d * QB);
      const __m512 q1 = _mm512_loadu_ps(qt + d * QB + 16);
      __m512 kb = _mm512_set1_ps(k0[d]);
      s00 = _mm512_fmadd_ps(kb, q0, s00);
      s01 = _mm512_fmadd_ps(kb, q1, s01);
      kb = _mm512_set1_ps(k1[d]);
      s10 = _mm512_fmadd_ps(kb, q0, s10);
      s11 = _mm512_fmadd_ps(kb, q1, s11);
      kb = _mm512_set1_ps(k2[d]);
      s20 = _mm512_fmadd_ps(kb, q0, s20);
      s21 = _mm512_fmadd_ps(kb, q1, s21);
      kb = _mm512_set1_ps(k3[d]);
      s30 = _mm512_fmadd_ps(kb, q0, s30);
      s31 = _mm512_fmadd_ps(kb, q1, s31);
    }
    if (bias) {
      __m512 bj = _mm512_set1_ps(bias[j]);
      s00 = _mm512_add_ps(s00, bj); s01 = _mm512_add_ps(s01, bj);
      bj = _mm512_set1_ps(bias[j + 1]);
      s10 = _mm512_add_ps(s10, bj); s11 = _mm512_add_ps(s11, bj);
      bj = _mm512_set1_ps(bias[j + 2]);
      s20 = _mm512_add_ps(s20, bj); s21 = _mm512_add_ps(s21, bj);
      bj = _mm512_set1_ps(bias[j + 3]);
      s30 = _mm512_add_ps(s30, bj); s31 = _mm512_add_ps(s31, bj);
    }
    float* out = st + j * QB;
    _mm512_storeu_ps(out, s00); _mm512_storeu_ps(out + 16, s01);
    _mm512_storeu_ps(out + QB, s10); _mm512_storeu_ps(out + QB + 16, s11);
    _mm512_storeu_ps(out + 2 * QB, s20); _mm512_storeu_ps(out + 2 * QB + 16, s21);
    _mm512_storeu_ps(out + 3 * QB, s30); _mm512_storeu_ps(out + 3 * QB + 16, s31);
  }
  for (; j < kn; ++j) {
    const float* kr = kblock + j * k_row_stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int64_t d = 0; d < dh; ++d) {
      const __m512 kb = _mm512_set1_ps(kr[d]);
      s0 = _mm512_fmadd_ps(kb, _mm512_loadu_ps(qt + d * QB), s0);
      s1 = _mm512_fmadd_ps(kb, _mm512_loadu_ps(qt + d * QB + 16), s1);
    }
    if (bias) {
      const __m512 bj = _mm512_set1_ps(bias[j]);
      s0 = _mm512_add_ps(s0, bj);
      s1 = _mm512_add_ps(s1, bj);
    }
    _mm512_storeu_ps(st + j * QB, s0);
    _mm512_storeu_ps(st + j * QB + 16, s1);
  }
}

// acc[i0..i0+4)[c0 .. c0+16·NV) = acc·corr + Σ_j P[i][j]·v_j[c0 ..]; the last vector is masked by `last`.
template <int NV>
void pv_chunk(float* acc, int64_t dp, const float* st, const float* corr, const float* vblock, int64_t v_row_stride,
              int64_t kn, int64_t i0, int64_t c0, __mmask16 last) {
  __m512 r[4][NV];
  #pragma GCC unroll 4
  for (int u = 0; u < 4; ++u) {
    const __m512 cu = _mm512_set1_ps(corr[i0 + u]);
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) r[u][v] = _mm512_mul_ps(cu, _mm512_loadu_ps(acc + (i0 + u) * dp + c0 + 16 * v));
  }
  for (int64_t j = 0; j < kn; ++j) {
    const float* vr = vblock + j * v_row_stride + c0;
    __m512 vv[NV];
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      vv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, vr + 16 * v) : _mm512_loadu_ps(vr + 16 * v);
    const float* pj = st + j * QB + i0;
    #pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m512 p = _mm512_set1_ps(pj[u]);
      #pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[u][v] = _mm512_fmadd_ps(p, vv[v], r[u][v]);
    }
  }
  #pragma GCC unroll 4
  for (int u = 0; u < 4; ++u)
    #pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(acc + (i0 + u) * dp + c0 + 16 * v, r[u][v]);
}

}  // namespace

void attention_tile_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                           float* scratch) {
  const int64_t dh = a.head_dim, dp = attention_padded_dim(dh);
  const int64_t rows = q_end - q_begin;
  const int64_t row_groups = (rows + 3) / 4;  // P·V runs on groups of 4 rows; padded rows are never written out
  float* qt = scratch;             // [dh][QB], scaled queries, zero past `rows`
  float* st = qt + dp * KB;        // [KB][QB] scores, then probabilities
  float* acc = st + KB * QB;       // [QB][dp]
  float* row_sum = acc + QB * dp;  // [QB]
  float* corr = row_sum + QB;      // [QB]
  const float* qbase = a.q + b * a.q_batch_stride + q_begin * a.q_row_stride + h * dh;
  const float* kbase = a.k + b * a.k_batch_stride + h * dh;
  const float* vbase = a.v + b * a.v_batch_stride + h * dh;
  const float* bias = a.key_bias ? a.key_bias + b * a.kv_len : nullptr;

  pack_queries_transposed(qbase, a.q_row_stride, rows, dh, a.scale, qt);
  std::fill(acc, acc + QB * dp, 0.f);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m0 = neg_inf, m1 = neg_inf, l0 = _mm512_setzero_ps(), l1 = _mm512_setzero_ps();
  const __mmask16 last = lanes(dh - (dp - 16));

  for (int64_t k0 = 0; k0 < a.kv_len; k0 += KB) {
    const int64_t kn = std::min(KB, a.kv_len - k0);
    block_scores(qt, kbase + k0 * a.k_row_stride, a.k_row_stride, kn, dh, bias ? bias + k0 : nullptr, st);
    __m512 bm0 = neg_inf, bm1 = neg_inf;
    for (int64_t j = 0; j < kn; ++j) {
      bm0 = _mm512_max_ps(bm0, _mm512_loadu_ps(st + j * QB));
      bm1 = _mm512_max_ps(bm1, _mm512_loadu_ps(st + j * QB + 16));
    }
    const __m512 n0 = _mm512_max_ps(m0, bm0), n1 = _mm512_max_ps(m1, bm1);
    // A row with every key so far masked keeps max −inf; subtracting 0 instead keeps exp(−inf) = 0, not NaN.
    const __m512 safe0 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n0, neg_inf, _CMP_EQ_OQ), n0, _mm512_setzero_ps());
    const __m512 safe1 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n1, neg_inf, _CMP_EQ_OQ), n1, _mm512_setzero_ps());
    const __m512 c0 = exp_avx512(_mm512_sub_ps(m0, safe0)), c1 = exp_avx512(_mm512_sub_ps(m1, safe1));
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int64_t j = 0; j < kn; ++j) {
      const __m512 p0 = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(st + j * QB), safe0));
      const __m512 p1 = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(st + j * QB + 16), safe1));
      _mm512_storeu_ps(st + j * QB, p0);
      _mm512_storeu_ps(st + j * QB + 16, p1);
      s0 = _mm512_add_ps(s0, p0);
      s1 = _mm512_add_ps(s1, p1);
    }
    l0 = _mm512_fmadd_ps(l0, c0, s0);
    l1 = _mm512_fmadd_ps(l1, c1, s1);
    m0 = n0;
    m1 = n1;
    _mm512_storeu_ps(corr, c0);
    _mm512_storeu_ps(corr + 16, c1);

    const float* vblock = vbase + k0 * a.v_row_stride;
    for (int64_t g = 0; g < row_groups; ++g) {
      for (int64_t c = 0; c < dp; c += 64) {
        const int64_t nv = std::min<int64_t>(4, (dp - c) / 16);
        const __mmask16 m = c + 16 * nv == dp ? last : __mmask16(0xFFFF);
        switch (nv) {
          case 4: pv_chunk<4>(acc, dp, st, corr, vblock, a.v_row_stride, kn, 4 * g, c, m); break;
          case 3: pv_chunk<3>(acc, dp, st, corr, vblock, a.v_row_stride, kn, 4 * g, c, m); break;
          case 2: pv_chunk<2>(acc, dp, st, corr, vblock, a.v_row_stride, kn, 4 * g, c, m); break;
          default: pv_chunk<1>(acc, dp, st, corr, vblock, a.v_row_stride, kn, 4 * g, c, m); break;
        }
      }
    }
  }
  _mm512_storeu_ps(row_sum, l0);
  _mm512_storeu_ps(row_sum + 16, l1);
  for (int64_t i = 0; i < rows; ++i) {
    float* orow = a.out + b * a.out_batch_stride + (q_begin + i) * a.out_row_stride + h * dh;
    const __m512 inv = _mm512_set1_ps(row_sum[i] > 0.f ? 1.f / row_sum[i] : 0.f);
    for (int64_t c = 0; c < dp; c += 16) {
      const __mmask16 m = c + 16 == dp ? last : __mmask16(0xFFFF);
      _mm512_mask_storeu_ps(orow + c, m, _mm512_mul_ps(_mm512_loadu_ps(acc + i * dp + c), inv));
    }
  }
}

}  // namespace ditto::cpu::detail
