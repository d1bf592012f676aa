// conv2d_nhwc (im2col bands + packed GEMM) against the direct double-precision convolution on random odd sizes:
// 3x3 pad 1, the VAE's downsampler (pad right/bottom only, stride 2), 1x1 (the pure-GEMM path), a 1x1 with
// stride, a tall image that takes several im2col bands, on every GEMM ISA the machine has and pool sizes 1 and 3.
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/conv2d.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

std::vector<float> to_nhwc(const std::vector<float>& x, int64_t b, int64_t c, int64_t h, int64_t w) {
  std::vector<float> out(x.size());
  for (int64_t s = 0; s < b; ++s)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) out[(s * h * w + p) * c + ch] = x[(s * c + ch) * h * w + p];
  return out;
}

void check_conv(ThreadPool& pool, Isa isa, int64_t batch, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k,
                const Conv2dGeometry& g, bool with_bias, uint32_t seed) {
  const auto x = ditto_test::random_vector(batch * cin * h * w, seed);
  const auto weight = ditto_test::random_vector(cout * cin * k * k, seed + 1);
  const auto bias = ditto_test::random_vector(cout, seed + 2);
  const int64_t ho = conv2d_output_size(h, k, g.stride, g.pad_top, g.pad_bottom);
  const int64_t wo = conv2d_output_size(w, k, g.stride, g.pad_left, g.pad_right);
  std::vector<float> want(batch * cout * ho * wo);
  conv2d_reference(x.data(), batch, cin, h, w, weight.data(), with_bias ? bias.data() : nullptr, cout, k, k, g,
                   want.data());
  auto packed = pack_conv2d(weight.data(), with_bias ? bias.data() : nullptr, cout, cin, k, k, DType::F32, isa);
  CHECK_OK(packed);
  if (!packed.ok()) return;
  const auto x_nhwc = to_nhwc(x, batch, cin, h, w);
  std::vector<float> got(want.size());
  conv2d_nhwc(pool, *packed, g, x_nhwc.data(), batch, h, w, got.data());
  const auto want_nhwc = to_nhwc(want, batch, cout, ho, wo);
  const std::string what = "conv2d " + std::string(isa_name(isa)) + " k" + std::to_string(k) + " s" +
                           std::to_string(g.stride) + " " + std::to_string(h) + "x" + std::to_string(w);
  CHECK(ditto_test::all_close(got.data(), want_nhwc.data(), got.size(), 2e-5 * cin * k, 1e-5, what));
}

}  // namespace

int main() {
  CHECK(conv2d_output_size(32, 3, 2, 0, 1) == 16);  // the VAE downsampler: pad (0,1,0,1), 3x3, stride 2
  CHECK(conv2d_output_size(7, 3, 2, 0, 1) == 3);
  CHECK(conv2d_output_size(2, 5, 1, 0, 0) == 0);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
      if (!isa_supported(isa)) continue;
      Conv2dGeometry same;
      same.pad_top = same.pad_left = same.pad_bottom = same.pad_right = 1;
      check_conv(pool, isa, 2, 5, 7, 9, 11, 3, same, true, 1);
      check_conv(pool, isa, 1, 3, 13, 13, 5, 3, same, false, 2);
      Conv2dGeometry down;
      down.stride = 2;
      down.pad_bottom = down.pad_right = 1;
      check_conv(pool, isa, 2, 7, 5, 11, 9, 3, down, true, 3);
      check_conv(pool, isa, 1, 4, 3, 8, 8, 3, down, true, 4);
      check_conv(pool, isa, 2, 9, 17, 7, 5, 1, Conv2dGeometry{}, true, 5);
      Conv2dGeometry strided;
      strided.stride = 2;
      check_conv(pool, isa, 1, 3, 5, 9, 7, 1, strided, true, 6);
      // Tall enough (k = 9*300 floats per patch row, 600 columns) that the 8 MiB band limit splits it.
      check_conv(pool, isa, 1, 300, 3, 5, 600, 3, same, true, 7);
    }
  }
  return ditto_test::finish("test_conv2d");
}
