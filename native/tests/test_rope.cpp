// rope_apply_interleaved (cpu/rope_kernels.h) against the double-precision naive reference on random odd
// token / head counts, strided rows (a fused qkv buffer) and columns outside the rotated heads left untouched;
// plus the pair layout itself on a hand-checked case (a quarter turn maps (x0, x1) to (-x1, x0)).
#include <cmath>
#include <string>
#include <vector>

#include "check.h"
#include "cpu/rope_kernels.h"

using namespace ditto;

int main() {
  uint32_t seed = 7;
  // {tokens, heads, head_dim, extra columns per row}
  const int64_t shapes[][4] = {{1, 1, 2, 0}, {3, 2, 6, 5}, {17, 3, 16, 33}, {29, 5, 10, 1}, {7, 1, 128, 64}};
  for (const auto& s : shapes) {
    const int64_t T = s[0], H = s[1], Dh = s[2], stride = H * Dh + s[3];
    const auto x = ditto_test::random_vector(T * stride, seed++, -2.f, 2.f);
    const auto angles = ditto_test::random_vector(T * (Dh / 2), seed++, -40.f, 40.f);
    std::vector<float> cos(angles.size()), sin(angles.size());
    for (size_t i = 0; i < angles.size(); ++i) {
      cos[i] = std::cos(angles[i]);
      sin[i] = std::sin(angles[i]);
    }
    std::vector<float> got = x, want = x;
    cpu::rope_apply_interleaved(got.data(), T, H, Dh, stride, cos.data(), sin.data());
    cpu::rope_apply_interleaved_reference(want.data(), T, H, Dh, stride, cos.data(), sin.data());
    const std::string tag = "rope " + std::to_string(T) + "x" + std::to_string(H) + "x" + std::to_string(Dh);
    CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), 2e-6, 2e-6, tag));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = H * Dh; j < stride; ++j) CHECK(got[t * stride + j] == x[t * stride + j]);
  }
  {
    std::vector<float> v = {1.f, 2.f, 3.f, 4.f};
    const float c[2] = {0.f, 1.f}, s[2] = {1.f, 0.f};
    cpu::rope_apply_interleaved(v.data(), 1, 1, 4, 4, c, s);
    CHECK(v[0] == -2.f && v[1] == 1.f && v[2] == 3.f && v[3] == 4.f);
  }
  return ditto_test::finish("test_rope");
}
