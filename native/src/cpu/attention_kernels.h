// Internal: the per-ISA tile kernels behind cpu::attention. One call computes the output rows
// [q_begin, q_end) of one (batch, head) with the online-softmax recurrence over all keys; `scratch` holds
// attention_scratch_floats(args) floats owned by the calling thread.
#pragma once
#include <cstdint>

#include "ditto/cpu/attention.h"

namespace ditto::cpu::detail {

// Queries per task and keys per block. A 32×64 score tile plus a 64-key K/V block stay in L1/L2.
constexpr int64_t kAttnQueryBlock = 32;
constexpr int64_t kAttnKeyBlock = 64;

// Head dimension rounded up to a multiple of 16 (one AVX-512 register).
inline int64_t attention_padded_dim(int64_t head_dim) { return (head_dim + 15) & ~int64_t{15}; }

// A packed Q or K panel [Dhp × KB] + scores [QB × KB] + accumulator [QB × Dhp] + row max/sum/correction [3 × QB].
inline int64_t attention_scratch_floats(int64_t head_dim) {
  const int64_t dp = attention_padded_dim(head_dim);
  return dp * kAttnKeyBlock + kAttnQueryBlock * kAttnKeyBlock + kAttnQueryBlock * dp + 3 * kAttnQueryBlock;
}

using AttentionTileFn = void (*)(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                                 float* scratch);

void attention_tile_portable(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                             float* scratch);
void attention_tile_avx2(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                         float* scratch);
void attention_tile_avx512(const AttentionArgs& a, int64_t b, int64_t h, int64_t q_begin, int64_t q_end,
                           float* scratch);

}  // namespace ditto::cpu::detail
