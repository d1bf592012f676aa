// Interleaved-pair RoPE (see rope_kernels.h). Float32 in the reference op order: each output element is
// x·cos + (±x_other)·sin rounded as diffusers' apply_rotary_emb does (two products, one sum).
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
        const float a = x0 * c[i], b = x1 * s[i];
        const float d = x1 * c[i], e = x0 * s[i];
        v[2 * i] = a - b;
        v[2 * i + 1] = d + e;
      }
    }
  }
}

void rope_apply_interleaved_reference(float* x, int64_t tokens, int64_t heads, int64_t head_dim, int64_t row_stride,
                                      const float* cos, const float* sin) {
  const int64_t pairs = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < pairs; ++i) {
        float* v = x + t * row_stride + h * head_dim + 2 * i;
        const double x0 = v[0], x1 = v[1], c = cos[t * pairs + i], s = sin[t * pairs + i];
        v[0] = static_cast<float>(x0 * c - x1 * s);
        v[1] = static_cast<float>(x0 * s + x1 * c);
      }
}

}  // namespace ditto::cpu
