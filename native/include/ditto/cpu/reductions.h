// Per-sample reductions for cache decisions (relative L1 of a change, TeaCache / First-Block Cache) and for
// norm-based signals (dot products and L2 norms): float32 inputs, double accumulation, one result per sample.
// Parallel over samples only, so every result is computed in one fixed order (deterministic, batch-invariant).
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

// rel_l1[s] = sum_i |cur[s,i] - ref[s,i]| / sum_i |ref[s,i]| over n elements per sample (0/0 and x/0 -> +inf)
void relative_l1(ThreadPool& pool, const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1);
// dot[s] = sum_i x[s,i]*y[s,i];  norm_x[s] = sqrt(sum_i x[s,i]^2);  norm_y[s] likewise
void dot_norm(ThreadPool& pool, const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
              float* norm_y);

}  // namespace ditto::cpu
