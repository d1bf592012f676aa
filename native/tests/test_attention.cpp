// Attention vs the double-precision two-pass reference: self-attention through a fused qkv buffer (strided),
// cross-attention with q_len != kv_len, head_dim not a multiple of 16, kv_len 1, key bias / −inf masks
// (including a fully masked row), a long sequence (4096 keys), every ISA path this machine has, pool sizes 1–3.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/attention.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

struct Case {
  int64_t batch, heads, q_len, kv_len, head_dim;
  bool fused_qkv;  // q, k, v read in place from one [B, T, 3, H, Dh] buffer (needs q_len == kv_len)
  int bias;        // 0 none, 1 random finite bias, 2 −inf mask on some keys (all keys of batch 0 row when 3)
};

std::string describe(const Case& c, Isa isa, int threads) {
  return std::string(isa_name(isa)) + " t" + std::to_string(threads) + " B" + std::to_string(c.batch) + " H" +
         std::to_string(c.heads) + " Nq" + std::to_string(c.q_len) + " Nk" + std::to_string(c.kv_len) + " Dh" +
         std::to_string(c.head_dim) + (c.fused_qkv ? " fused" : "") + " bias" + std::to_string(c.bias);
}

void run_case(const Case& c, Isa isa, ThreadPool& pool, uint32_t seed) {
  const int64_t hd = c.heads * c.head_dim;
  std::vector<float> qbuf, kbuf, vbuf, bias;
  AttentionArgs a;
  a.batch = c.batch; a.heads = c.heads; a.q_len = c.q_len; a.kv_len = c.kv_len; a.head_dim = c.head_dim;
  a.scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
  if (c.fused_qkv) {
    // Scaled up so the softmax is far from uniform (peaky rows exercise the running-max rescale).
    qbuf = ditto_test::random_vector(c.batch * c.q_len * 3 * hd, seed, -3.f, 3.f);
    a.q = qbuf.data(); a.k = qbuf.data() + hd; a.v = qbuf.data() + 2 * hd;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * hd;
    a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = c.q_len * 3 * hd;
  } else {
    // Padded row strides (hd + 5) so contiguity is never assumed.
    const int64_t rs = hd + 5;
    qbuf = ditto_test::random_vector(c.batch * c.q_len * rs, seed, -3.f, 3.f);
    kbuf = ditto_test::random_vector(c.batch * c.kv_len * rs, seed + 1, -3.f, 3.f);
    vbuf = ditto_test::random_vector(c.batch * c.kv_len * rs, seed + 2);
    a.q = qbuf.data(); a.k = kbuf.data(); a.v = vbuf.data();
    a.q_row_stride = a.k_row_stride = a.v_row_stride = rs;
    a.q_batch_stride = c.q_len * rs;
    a.k_batch_stride = a.v_batch_stride = c.kv_len * rs;
  }
  if (c.bias) {
    bias = ditto_test::random_vector(c.batch * c.kv_len, seed + 3, -2.f, 2.f);
    if (c.bias >= 2) {
      for (int64_t i = 0; i < c.batch * c.kv_len; ++i)
        if (i % 3 == 1) bias[i] = -std::numeric_limits<float>::infinity();
      if (c.bias == 3)
        for (int64_t j = 0; j < c.kv_len; ++j) bias[j] = -std::numeric_limits<float>::infinity();
    }
    a.key_bias = bias.data();
  }
  const int64_t out_rs = hd + 3;
  std::vector<float> got(c.batch * c.q_len * out_rs, 7.f), want(got.size(), 7.f);
  a.out_row_stride = out_rs;
  a.out_batch_stride = c.q_len * out_rs;
  AttentionArgs r = a;
  a.out = got.data();
  r.out = want.data();
  const Isa forced = isa;
  set_isa_override(&forced);
  attention(pool, a);
  set_isa_override(nullptr);
  attention_reference(r);
  // The result is a convex combination of the values, so the bound is absolute in units of max|v| (outputs
  // near 0 come from cancellation, where a relative bound means nothing). float32 scores of |s| ≲ 10 carry
  // ~|s|·2^-23 error each, which moves the softmax weights by about that much: 4e-6·max|v| leaves ~2x margin
  // over the worst seen (docs/numerics.md).
  double vmax = 0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t j = 0; j < c.kv_len; ++j)
      for (int64_t d = 0; d < hd; ++d)
        vmax = std::max(vmax, std::fabs(double(a.v[b * a.v_batch_stride + j * a.v_row_stride + d])));
  CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), 4e-6 * vmax, 0.0, describe(c, isa, pool.size())));
  if (c.bias == 3) {
    bool zeros = true;  // batch 0's keys are all masked: that batch's rows are zero, not NaN
    for (int64_t i = 0; i < c.q_len; ++i)
      for (int64_t d = 0; d < hd; ++d) zeros = zeros && got[i * out_rs + d] == 0.f;
    CHECK(zeros);
  }
}

}  // namespace

int main() {
  const std::vector<Case> cases = {
      {2, 3, 64, 64, 32, true, 0},    // glyph-DiT-like self-attention through a fused qkv buffer
      {1, 2, 37, 37, 24, true, 0},    // odd length, head_dim 24
      {2, 2, 45, 19, 72, false, 1},   // cross-attention, head_dim 72, random bias
      {3, 1, 70, 130, 16, false, 2},  // masked keys, ragged key blocks
      {2, 2, 33, 65, 40, false, 3},   // a fully masked batch
      {1, 4, 5, 1, 64, false, 0},     // kv_len 1
      {1, 1, 1, 200, 8, false, 1},    // single query, tiny head
      {1, 2, 129, 129, 80, true, 0},  // head_dim 80 (5 vectors), q blocks with a tail
  };
  std::vector<Isa> isas = {Isa::Portable};
  if (isa_supported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isa_supported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  uint32_t seed = 1;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (Isa isa : isas)
      for (const Case& c : cases) run_case(c, isa, pool, seed++);
  }
  // Long sequence: 4096 queries × 4096 keys would be a 64 MB score matrix; the tiled kernel needs none.
  {
    ThreadPool pool(2);
    for (Isa isa : isas) run_case({1, 1, 4096, 4096, 64, true, 0}, isa, pool, seed++);
  }
  return ditto_test::finish("test_attention");
}
