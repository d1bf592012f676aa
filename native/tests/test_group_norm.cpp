// group_norm_nhwc (+ SiLU) against the double-precision channels-first reference on random odd sizes: groups of
// one and several channels, pixel counts that do not divide the band size, a large common offset (a one-pass
// variance would lose digits), null weight / bias, in place, pool sizes 1 and 3.
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/group_norm.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

void check_group_norm(ThreadPool& pool, int64_t batch, int64_t channels, int64_t pixels, int64_t groups, bool affine,
                      bool silu, float offset, bool in_place, uint32_t seed) {
  auto x = ditto_test::random_vector(batch * channels * pixels, seed);
  for (auto& v : x) v = v * 2.f + offset;
  const auto weight = ditto_test::random_vector(channels, seed + 1, 0.5f, 1.5f);
  const auto bias = ditto_test::random_vector(channels, seed + 2);
  std::vector<float> want(x.size());
  group_norm_reference(x.data(), want.data(), batch, channels, pixels, groups, 1e-6f, affine ? weight.data() : nullptr,
                       affine ? bias.data() : nullptr, silu);
  std::vector<float> x_nhwc(x.size()), want_nhwc(x.size());
  for (int64_t s = 0; s < batch; ++s)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < pixels; ++p) {
        x_nhwc[(s * pixels + p) * channels + c] = x[(s * channels + c) * pixels + p];
        want_nhwc[(s * pixels + p) * channels + c] = want[(s * channels + c) * pixels + p];
      }
  std::vector<float> got(x.size());
  float* out = in_place ? x_nhwc.data() : got.data();
  group_norm_nhwc(pool, x_nhwc.data(), out, batch, pixels, channels, groups, 1e-6f, affine ? weight.data() : nullptr,
                  affine ? bias.data() : nullptr, silu);
  const std::string what = "group_norm C" + std::to_string(channels) + " G" + std::to_string(groups) + " P" +
                           std::to_string(pixels) + (silu ? " silu" : "");
  CHECK(ditto_test::all_close(out, want_nhwc.data(), x.size(), 2e-5, 1e-5, what));
}

}  // namespace

int main() {
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    check_group_norm(pool, 2, 15, 37, 5, true, true, 0.f, false, 1);
    check_group_norm(pool, 1, 9, 1, 3, true, false, 0.f, false, 2);
    check_group_norm(pool, 3, 7, 11, 7, false, true, 0.f, true, 3);
    check_group_norm(pool, 1, 6, 23, 1, true, false, 100.f, false, 4);
    // More pixels than one band (65536 / channels) holds, so the statistics are reduced across bands.
    check_group_norm(pool, 2, 33, 2049, 3, true, true, 3.f, true, 5);
  }
  return ditto_test::finish("test_group_norm");
}
