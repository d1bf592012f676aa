// Rotary position embedding (Su et al. 2021, "RoFormer") in the interleaved-pair layout that Flux and Wan2.1
// use (shared/golden/README.md, "RoPE layout"): pair i = (x[2i], x[2i+1]) of every head is rotated by the
// token's angle i:  (x0, x1) -> (x0*cos - x1*sin, x0*sin + x1*cos). The per-family angle tables (Flux's three
// axes from ids, Wan's 3-D frame/row/column split) live in the family files.
#pragma once
#include <cstdint>

namespace ditto::cpu {

// x: token t, head h at x + t*row_stride + h*head_dim, rotated in place; cos / sin: [tokens, head_dim/2].
void rope_apply_interleaved(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t row_stride,
                            const float* cos, const float* sin);

}  // namespace ditto::cpu
