// AVX2+FMA tile kernel of the online-softmax attention: the AVX-512 kernel's layout (transposed, pre-scaled
// query panel; transposed scores, four 8-lane vectors = 32 queries per key; vertical max/exp/sum) with
// register blocks sized for 16 ymm registers: 3 keys per score step, 3 query rows × up to 4 vectors in P·V.
// Head-dim tails use vmaskmov loads/stores.
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "cpu/attention_kernels.h"
#include "cpu/vec_math_avx2.h"

namespace ditto::cpu::detail {

namespace {

constexpr int64_t QB = kAttnQueryBlock;  // 32 = four vectors
constexpr int64_t KB = kAttnKeyBlock;
static_assert(QB == 32, "the score tile is four 8-lane vectors per key");

inline __m256i lanes(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

// Qt[d][i] = q_i[d]·scale for i < rows (≤ QB), d < dh, and 0 for rows ≥ `rows`: 8×8 blocks transposed in
// registers (unpack → shuffle → permute2f128) instead of scattered scalar stores.
void pack_queries_transposed(const float* q, int64_t row_stride, int64_t rows, int64_t dh, float scale, float* qt) {
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int64_t i0 = 0; i0 < QB; i0 += 8) {
    for (int64_t d0 = 0; d0 < dh; d0 += 8) {
      const __m256i dmask = lanes(dh - d0);
      __m256 r[8], a[8], b[8];
#pragma GCC unroll 8
      for (int u = 0; u < 8; ++u)
        r[u] = i0 + u < rows ? _mm256_mul_ps(vscale, _mm256_maskload_ps(q + (i0 + u) * row_stride + d0, dmask))
                             : _mm256_setzero_ps();
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        a[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
      }
#pragma GCC unroll 2
      for (int k = 0; k < 2; ++k) {
        b[4 * k + 0] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
        b[4 * k + 1] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
        b[4 * k + 2] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
        b[4 * k + 3] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
      }
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        r[c] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(b[c], b[4 + c], 0x31);
      }
      const int64_t cols = std::min<int64_t>(8, dh - d0);
      for (int64_t u = 0; u < cols; ++u) _mm256_storeu_ps(qt + (d0 + u) * QB + i0, r[u]);
    }
  }
}

void block_scores(const float* qt, const float* kblock, int64_t k_row_stride, int64_t kn, int64_t dh,
                  const float* bias, float* st) {
  int64_t j = 0;
  // Three keys × four query vectors = 12 independent FMA chains (two FMA pipes × latency 4–5 need ≥ 10);
  // the query panel is read as FMA memory operands so the accumulators keep their registers.
  for (; j + 3 <= kn; j += 3) {
    const float* ka = kblock + j * k_row_stride;
    const float* kb = ka + k_row_stride;
    const float* kc = kb + k_row_stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
    for (int64_t d = 0; d < dh; ++d) {
      const float* qd = qt + d * QB;
      const __m256 ya = _mm256_set1_ps(ka[d]), yb = _mm256_set1_ps(kb[d]), yc = _mm256_set1_ps(kc[d]);
      a0 = _mm256_fmadd_ps(ya, _mm256_loadu_ps(qd), a0); a1 = _mm256_fmadd_ps(ya, _mm256_loadu_ps(qd + 8), a1);
      a2 = _mm256_fmadd_ps(ya, _mm256_loadu_ps(qd + 16), a2); a3 = _mm256_fmadd_ps(ya, _mm256_loadu_ps(qd + 24), a3);
      b0 = _mm256_fmadd_ps(yb, _mm256_loadu_ps(qd), b0); b1 = _mm256_fmadd_ps(yb, _mm256_loadu_ps(qd + 8), b1);
      b2 = _mm256_fmadd_ps(yb, _mm256_loadu_ps(qd + 16), b2); b3 = _mm256_fmadd_ps(yb, _mm256_loadu_ps(qd + 24), b3);
      c0 = _mm256_fmadd_ps(yc, _mm256_loadu_ps(qd), c0); c1 = _mm256_fmadd_ps(yc, _mm256_loadu_ps(qd + 8), c1);
      c2 = _mm256_fmadd_ps(yc, _mm256_loadu_ps(qd + 16), c2); c3 = _mm256_fmadd_ps(yc, _mm256_loadu_ps(qd + 24), c3);
    }
    if (bias) {
      const __m256 ba = _mm256_set1_ps(bias[j]), bb = _mm256_set1_ps(bias[j + 1]), bc = _mm256_set1_ps(bias[j + 2]);
      a0 = _mm256_add_ps(a0, ba); a1 = _mm256_add_ps(a1, ba); a2 = _mm256_add_ps(a2, ba); a3 = _mm256_add_ps(a3, ba);
      b0 = _mm256_add_ps(b0, bb); b1 = _mm256_add_ps(b1, bb); b2 = _mm256_add_ps(b2, bb); b3 = _mm256_add_ps(b3, bb);
      c0 = _mm256_add_ps(c0, bc); c1 = _mm256_add_ps(c1, bc); c2 = _mm256_add_ps(c2, bc); c3 = _mm256_add_ps(c3, bc);
    }
    float* out = st + j * QB;
    _mm256_storeu_ps(out, a0); _mm256_storeu_ps(out + 8, a1);
    _mm256_storeu_ps(out + 16, a2); _mm256_storeu_ps(out + 24, a3);
    _mm256_storeu_ps(out + QB, b0); _mm256_storeu_ps(out + QB + 8, b1);
    _mm256_storeu_ps(out + QB + 16, b2); _mm256_storeu_ps(out + QB + 24, b3);
    _mm256_storeu_ps(out + 2 * QB, c0); _mm256_storeu_ps(out + 2 * QB + 8, c1);
    _mm256_storeu_ps(out + 2 * QB + 16, c2); _mm256_storeu_ps(out + 2 * QB + 24, c3);
  }
  for (; j < kn; ++j) {
    const float* kr = kblock + j * k_row_stride;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t d = 0; d < dh; ++d) {
      const __m256 y = _mm256_set1_ps(kr[d]);
      for (int v = 0; v < 4; ++v) s[v] = _mm256_fmadd_ps(y, _mm256_loadu_ps(qt + d * QB + 8 * v), s[v]);
    }
    const __m256 bj = _mm256_set1_ps(bias ? bias[j] : 0.f);
    for (int v = 0; v < 4; ++v) _mm256_storeu_ps(st + j * QB + 8 * v, bias ? _mm256_add_ps(s[v], bj) : s[v]);
  }
}

// acc[i0..i0+R)[c0 .. c0+8·NV) = acc·corr + Σ_j P[i][j]·v_j[c0 ..]; the last vector is masked by `last`.
// R = 3 rows × NV = 4 vectors gives 12 independent FMA chains in 12 + 3 registers (V read as memory operands).
template <int R, int NV>
void pv_chunk(float* acc, int64_t dp, const float* st, const float* corr, const float* vblock, int64_t v_row_stride,
              int64_t kn, int64_t i0, int64_t c0, __m256i last) {
  __m256 r[R][NV];
#pragma GCC unroll 4
  for (int u = 0; u < R; ++u) {
    const __m256 cu = _mm256_set1_ps(corr[i0 + u]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) r[u][v] = _mm256_mul_ps(cu, _mm256_loadu_ps(acc + (i0 + u) * dp + c0 + 8 * v));
  }
  for (int64_t j = 0; j < kn; ++j) {
    const float* vr = vblock + j * v_row_stride + c0;
    const float* pj = st + j * QB + i0;
#pragma GCC unroll 4
    for (int u = 0; u < R; ++u) {
      const __m256 p = _mm256_set1_ps(pj[u]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m256 vv = v == NV - 1 ? _mm256_maskload_ps(vr + 8 * v, last) : _mm256_loadu_ps(vr + 8 * v);
        r[u][v] = _mm256_fmadd_ps(p, vv, r[u][v]);
      }
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < R; ++u)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(acc + (i0 + u) * dp + c0 + 8 * v, r[u][v]);
}

template <int R>
void pv_rows(float* acc, int64_t dp, const float* st, const float* corr, const float* vblock, int64_t v_row_stride,
             int64_t kn, int64_t i0, __m256i last) {
  for (int64_t c = 0; c < dp; c += 32) {
    const int64_t nv = std::min<int64_t>(4, (dp - c) / 8);
    const __m256i mk = c + 8 * nv == dp ? last : _mm256_set1_epi32(-1);
    switch (nv) {
      case 4: pv_chunk<R, 4>(acc, dp, st, corr, vblock, v_row_stride, kn, i0, c, mk); break;
      case 3: pv_chunk<R, 3>(acc, dp, st, corr, vblock, v_row_stride, kn, i0, c, mk); break;
      case 2: pv_chunk<R, 2>(acc, dp, st, corr, vblock, v_row_stride, kn, i0, c, mk); break;
      default: pv_chunk<R, 1>(acc, dp, st, corr, vblock, v_row_stride, kn, i0, c, mk); break;
    }
  }
}

}  // namespace

void attention_tile_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                         float* scratch) {
  const int64_t dh = a.head_dim;
  const int64_t dp = (dh + 7) & ~int64_t{7};  // 8-lane padding (within the 16-lane scratch sizing)
  const int64_t rows = q_end - q_begin;
  float* qt = scratch;                                   // [dh][QB]
  float* st = qt + attention_padded_dim(dh) * KB;        // [KB][QB]
  float* acc = st + KB * QB;                             // [QB][dp]
  float* row_sum = acc + QB * attention_padded_dim(dh);  // [QB]
  float* corr = row_sum + QB;                            // [QB]
  const float* qbase = a.q + b * a.q_batch_stride + q_begin * a.q_row_stride + h * dh;
  const float* kbase = a.k + b * a.k_batch_stride + h * dh;
  const float* vbase = a.v + b * a.v_batch_stride + h * dh;
  const float* bias = a.key_bias ? a.key_bias + b * a.kv_len : nullptr;

  pack_queries_transposed(qbase, a.q_row_stride, rows, dh, a.scale, qt);
  std::fill(acc, acc + QB * dp, 0.f);
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 m[4], l[4];
  for (int v = 0; v < 4; ++v) {
    m[v] = neg_inf;
    l[v] = _mm256_setzero_ps();
  }
  const __m256i last = lanes(dh - (dp - 8));

  for (int64_t k0 = 0; k0 < a.kv_len; k0 += KB) {
    const int64_t kn = std::min(KB, a.kv_len - k0);
    block_scores(qt, kbase + k0 * a.k_row_stride, a.k_row_stride, kn, dh, bias ? bias + k0 : nullptr, st);
    __m256 safe[4];
    for (int v = 0; v < 4; ++v) {
      __m256 bm = neg_inf;
      for (int64_t j = 0; j < kn; ++j) bm = _mm256_max_ps(bm, _mm256_loadu_ps(st + j * QB + 8 * v));
      const __m256 n = _mm256_max_ps(m[v], bm);
      // All keys so far masked: subtract 0 so that exp(−inf) = 0 instead of NaN.
      safe[v] = _mm256_blendv_ps(n, _mm256_setzero_ps(), _mm256_cmp_ps(n, neg_inf, _CMP_EQ_OQ));
      const __m256 c = exp_avx2(_mm256_sub_ps(m[v], safe[v]));
      __m256 s = _mm256_setzero_ps();
      for (int64_t j = 0; j < kn; ++j) {
        const __m256 p = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(st + j * QB + 8 * v), safe[v]));
        _mm256_storeu_ps(st + j * QB + 8 * v, p);
        s = _mm256_add_ps(s, p);
      }
      l[v] = _mm256_fmadd_ps(l[v], c, s);
      m[v] = n;
      _mm256_storeu_ps(corr + 8 * v, c);
    }

    const float* vblock = vbase + k0 * a.v_row_stride;
    for (int64_t i0 = 0; i0 < rows;) {
      const int64_t r = std::min<int64_t>(3, rows - i0);
      if (r == 3) {
        pv_rows<3>(acc, dp, st, corr, vblock, a.v_row_stride, kn, i0, last);
      } else if (r == 2) {
        pv_rows<2>(acc, dp, st, corr, vblock, a.v_row_stride, kn, i0, last);
      } else {
        pv_rows<1>(acc, dp, st, corr, vblock, a.v_row_stride, kn, i0, last);
      }
      i0 += r;
    }
  }
  for (int v = 0; v < 4; ++v) _mm256_storeu_ps(row_sum + 8 * v, l[v]);
  for (int64_t i = 0; i < rows; ++i) {
    float* orow = a.out + b * a.out_batch_stride + (q_begin + i) * a.out_row_stride + h * dh;
    const __m256 inv = _mm256_set1_ps(row_sum[i] > 0.f ? 1.f / row_sum[i] : 0.f);
    for (int64_t c = 0; c < dp; c += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(acc + i * dp + c), inv);
      if (c + 8 == dp) {
        _mm256_maskstore_ps(orow + c, last, v);
      } else {
        _mm256_storeu_ps(orow + c, v);
      }
    }
  }
}

}  // namespace ditto::cpu::detail
