// Interleaved-pair RoPE (see rope_kernels.h). Float32 arithmetic in the reference's order
// (x0*cos - x1*sin, x0*sin + x1*cos), so it matches diffusers' apply_rotary_emb on float32 inputs.
#include "cpu/rope_kernels.h"

namespace ditto::cpu {

void rope_apply_interleaved(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t row_stride,
                            const float* cos, const float* sin) {
  const int64_t pairs = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* c = cos + t * pairs;
    const float* s = sin + t * pairs;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * row_stride + h * head_dim;
      for (int64_t i = 0; i < pairs; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[i] - x1 * s[i];
        v[2 * i + 1] = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

}  // namespace ditto::cpu
