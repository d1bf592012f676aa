// GroupNorm over channels-last activations, optionally fused with SiLU: torch.nn.GroupNorm(G, C, eps) (then
// F.silu) as diffusers' VAE ResNet blocks, mid-block attention and output norms use it (eps 1e-6).
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

// x [batch, pixels, channels] channels-last; channels divisible by groups. Per (sample, group) the mean and the
// biased variance of its pixels x channels/groups values (two passes, accumulated in double, rounded to float32
// as PyTorch holds them); out = (x - mean) / sqrt(var + eps) * weight[c] + bias[c], then SiLU when `silu`.
// weight / bias may be null (identity / zero). out may alias x.
void group_norm_nhwc(ThreadPool& pool, const float* x, float* out, int64_t batch, int64_t pixels, int64_t channels,
                     int64_t groups, float eps, const float* weight, const float* bias, bool silu);

// The oracle, in PyTorch's channels-first layout x [batch, channels, pixels], double throughout.
void group_norm_reference(const float* x, float* out, int64_t batch, int64_t channels, int64_t pixels, int64_t groups,
                          float eps, const float* weight, const float* bias, bool silu);

}  // namespace ditto::cpu
