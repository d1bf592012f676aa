// Multi-head attention on the CPU with a tiled online softmax (FlashAttention-2, Dao 2023, Alg. 1): for each
// block of queries, keys are visited in blocks; each block's scores update a running row max m, a running sum
// l and an unnormalised accumulator O (rescaled by e^(m_old − m_new) whenever the max grows); O / l is written
// at the end. No N×N matrix is ever formed: memory per thread is O(block · head_dim).
// Parallel over (batch, head, query block); tile kernels per ISA (attention_avx512.cpp / attention_avx2.cpp),
// the portable one here. A query row whose keys are all masked with −inf gets zeros (not NaN).
#include "ditto/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/attention_kernels.h"
#include "ditto/cpu_features.h"
#include "ditto/memory.h"

namespace ditto::cpu {

namespace detail {

void attention_tile_portable(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                             float* scratch) {
  const int64_t dh = a.head_dim, dp = attention_padded_dim(dh);
  const int64_t rows = q_end - q_begin;
  float* kt = scratch;                                   // [dh][KB]
  float* s = kt + dp * kAttnKeyBlock;                     // [QB][KB]
  float* acc = s + kAttnQueryBlock * kAttnKeyBlock;       // [QB][dp]
  float* row_max = acc + kAttnQueryBlock * dp;            // [QB]
  float* row_sum = row_max + kAttnQueryBlock;             // [QB]
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::fill(acc, acc + rows * dp, 0.f);
  std::fill(row_max, row_max + rows, neg_inf);
  std::fill(row_sum, row_sum + rows, 0.f);
  const float* qbase = a.q + b * a.q_batch_stride + h * dh;
  const float* kbase = a.k + b * a.k_batch_stride + h * dh;
  const float* vbase = a.v + b * a.v_batch_stride + h * dh;
  const float* bias = a.key_bias ? a.key_bias + b * a.kv_len : nullptr;

  for (int64_t k0 = 0; k0 < a.kv_len; k0 += kAttnKeyBlock) {
    const int64_t kn = std::min(kAttnKeyBlock, a.kv_len - k0);
    for (int64_t j = 0; j < kn; ++j) {
      const float* kr = kbase + (k0 + j) * a.k_row_stride;
      for (int64_t d = 0; d < dh; ++d) kt[d * kAttnKeyBlock + j] = kr[d];
    }
    for (int64_t i = 0; i < rows; ++i) {
      const float* qr = qbase + (q_begin + i) * a.q_row_stride;
      float* si = s + i * kAttnKeyBlock;
      for (int64_t j = 0; j < kn; ++j) si[j] = 0.f;
      for (int64_t d = 0; d < dh; ++d) {
        const float qd = qr[d];
        const float* ktd = kt + d * kAttnKeyBlock;
        for (int64_t j = 0; j < kn; ++j) si[j] += qd * ktd[j];
      }
      float block_max = neg_inf;
      for (int64_t j = 0; j < kn; ++j) {
        si[j] = si[j] * a.scale + (bias ? bias[k0 + j] : 0.f);
        block_max = std::max(block_max, si[j]);
      }
      const float new_max = std::max(row_max[i], block_max);
      if (new_max == neg_inf) continue;  // every key so far masked: nothing to add
      const float correction = std::exp(row_max[i] - new_max);  // exp(-inf) = 0 on the first block
      float block_sum = 0.f;
      for (int64_t j = 0; j < kn; ++j) {
        si[j] = std::exp(si[j] - new_max);
        block_sum += si[j];
      }
      row_sum[i] = row_sum[i] * correction + block_sum;
      row_max[i] = new_max;
      float* ai = acc + i * dp;
      for (int64_t d = 0; d < dh; ++d) ai[d] *= correction;
      for (int64_t j = 0; j < kn; ++j) {
        const float p = si[j];
        const float* vr = vbase + (k0 + j) * a.v_row_stride;
        for (int64_t d = 0; d < dh; ++d) ai[d] += p * vr[d];
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    float* orow = a.out + b * a.out_batch_stride + (q_begin + i) * a.out_row_stride + h * dh;
    const float inv = row_sum[i] > 0.f ? 1.f / row_sum[i] : 0.f;
    for (int64_t d = 0; d < dh; ++d) orow[d] = acc[i * dp + d] * inv;
  }
}

}  // namespace detail

namespace {

detail::AttentionTileFn pick_tile_kernel() {
  switch (best_isa()) {
    case Isa::Amx:
    case Isa::Avx512Bf16:
    case Isa::Avx512: return detail::attention_tile_avx512;
    case Isa::Avx2: return detail::attention_tile_avx2;
    default: return detail::attention_tile_portable;
  }
}

}  // namespace

void attention(ThreadPool& pool, const AttentionArgs& args) {
  if (args.batch <= 0 || args.heads <= 0 || args.q_len <= 0 || args.head_dim <= 0) return;
  const detail::AttentionTileFn tile = pick_tile_kernel();
  const int64_t q_blocks = (args.q_len + detail::kAttnQueryBlock - 1) / detail::kAttnQueryBlock;
  const int64_t tasks = args.batch * args.heads * q_blocks;
  const size_t scratch_floats = static_cast<size_t>(detail::attention_scratch_floats(args.head_dim));
  auto run = [&](int64_t task, int) {
    // Per-thread scratch, grown on demand and reused across calls (a few KB to ~100 KB).
    thread_local HostVector<float> scratch;  // counted engine memory (ditto/memory.h)
    if (scratch.size() < scratch_floats) scratch.resize(scratch_floats);
    const int64_t qb = task % q_blocks;
    const int64_t bh = task / q_blocks;
    const int64_t h = bh % args.heads, b = bh / args.heads;
    const int64_t q_begin = qb * detail::kAttnQueryBlock;
    const int64_t q_end = std::min(args.q_len, q_begin + detail::kAttnQueryBlock);
    if (args.kv_len <= 0) {
      for (int64_t i = q_begin; i < q_end; ++i) {
        float* orow = args.out + b * args.out_batch_stride + i * args.out_row_stride + h * args.head_dim;
        std::fill(orow, orow + args.head_dim, 0.f);
      }
      return;
    }
    tile(args, b, h, q_begin, q_end, scratch.data());
  };
  if (tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(tasks, run);
  }
}

void attention_reference(const AttentionArgs& a) {
  std::vector<double> scores(static_cast<size_t>(std::max<int64_t>(a.kv_len, 1)));
  std::vector<double> acc(static_cast<size_t>(a.head_dim));
  for (int64_t b = 0; b < a.batch; ++b) {
    for (int64_t h = 0; h < a.heads; ++h) {
      for (int64_t i = 0; i < a.q_len; ++i) {
        const float* qr = a.q + b * a.q_batch_stride + i * a.q_row_stride + h * a.head_dim;
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < a.kv_len; ++j) {
          const float* kr = a.k + b * a.k_batch_stride + j * a.k_row_stride + h * a.head_dim;
          double dot = 0;
          for (int64_t d = 0; d < a.head_dim; ++d) dot += static_cast<double>(qr[d]) * kr[d];
          scores[j] = dot * a.scale + (a.key_bias ? static_cast<double>(a.key_bias[b * a.kv_len + j]) : 0.0);
          max_score = std::max(max_score, scores[j]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0;
        if (max_score > -std::numeric_limits<double>::infinity()) {
          for (int64_t j = 0; j < a.kv_len; ++j) {
            const double p = std::exp(scores[j] - max_score);
            sum += p;
            const float* vr = a.v + b * a.v_batch_stride + j * a.v_row_stride + h * a.head_dim;
            for (int64_t d = 0; d < a.head_dim; ++d) acc[d] += p * vr[d];
          }
        }
        float* orow = a.out + b * a.out_batch_stride + i * a.out_row_stride + h * a.head_dim;
        for (int64_t d = 0; d < a.head_dim; ++d) orow[d] = sum > 0 ? static_cast<float>(acc[d] / sum) : 0.f;
      }
    }
  }
}

}  // namespace ditto::cpu
