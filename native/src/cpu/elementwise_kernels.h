// Internal: the per-ISA loops behind silu / gelu_tanh (portable in elementwise.cpp, vector twins in
// elementwise_avx2.cpp / elementwise_avx512.cpp). Each processes [0, n) with no threading.
#pragma once
#include <cstdint>

namespace ditto::cpu::detail {

void silu_portable(const float* x, float* out, int64_t n);
void gelu_tanh_portable(const float* x, float* out, int64_t n);
void silu_avx2(const float* x, float* out, int64_t n);
void gelu_tanh_avx2(const float* x, float* out, int64_t n);
void silu_avx512(const float* x, float* out, int64_t n);
void gelu_tanh_avx512(const float* x, float* out, int64_t n);

}  // namespace ditto::cpu::detail
