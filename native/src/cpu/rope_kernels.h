// Rotary position embedding (RoFormer, Su et al. 2021) in the interleaved-pair layout Flux and Wan2.1 use
// (golden README "RoPE layout"): pair i of each head, (x[2i], x[2i+1]), is rotated by the token's angle i:
//   (x0, x1) -> (x0·cos − x1·sin, x1·cos + x0·sin)
// (diffusers apply_rotary_emb with use_real_unbind_dim=-1: x·cos + rotate(x)·sin). The per-family angle tables
// (Flux's three axes from ids, Wan's frame/row/col split) are built by the families.
#pragma once
#include <cstdint>

namespace ditto::cpu {

// In place. Row t, head h of x starts at x + t*row_stride + h*head_dim; cos / sin are [tokens, head_dim/2]
// (row t, pair i at t*(head_dim/2) + i). head_dim must be even.
void rope_apply_interleaved(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t row_stride,
                            const float* cos, const float* sin);

// Naive oracle (double arithmetic) for tests.
void rope_apply_interleaved_reference(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t row_stride,
                                      const float* cos, const float* sin);

}  // namespace ditto::cpu
