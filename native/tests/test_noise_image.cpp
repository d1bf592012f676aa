// Noise generators and image quantisation (ditto/noise.h, ditto/image.h): Philox4x32-10 against Random123's
// known-answer vectors, splitmix64's first outputs, js_math's log/sin/cos within one ulp of libm on random
// arguments (the bit-exact comparison with Node's Math.* is test/native/noise.test.ts), Gaussian statistics and
// per-sample independence of the count, and model_to_u8_nhwc against a naive per-element reference on odd sizes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "check.h"
#include "core/js_math.h"
#include "ditto/image.h"
#include "ditto/noise.h"

using namespace ditto;

namespace {

int64_t ulp_distance(double a, double b) {
  int64_t ia, ib;
  std::memcpy(&ia, &a, 8);
  std::memcpy(&ib, &b, 8);
  if (ia < 0) ia = INT64_MIN - ia;
  if (ib < 0) ib = INT64_MIN - ib;
  return ia > ib ? ia - ib : ib - ia;
}

}  // namespace

int main() {
  // Random123 kat_vectors, philox4x32 R=10.
  CHECK((philox4x32_10({0, 0, 0, 0}, 0, 0) == std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  CHECK((philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffff, 0xffffffff) ==
         std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  CHECK((philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0xa4093822, 0x299f31d0) ==
         std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));

  // js_math: special values, and within 1 ulp of libm on the generators' argument ranges.
  CHECK(js_math::log(1.0) == 0.0 && std::isinf(js_math::log(0.0)) && js_math::log(0.0) < 0);
  CHECK(js_math::sin(0.0) == 0.0 && js_math::cos(0.0) == 1.0);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int64_t worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double u = unit(rng), a = 2 * M_PI * unit(rng);
    worst = std::max<int64_t>({worst, ulp_distance(js_math::log(1 - u), std::log(1 - u)),
                      ulp_distance(js_math::sin(a), std::sin(a)), ulp_distance(js_math::cos(a), std::cos(a))});
  }
  CHECK(worst <= 1);

  // Gaussian statistics; a sample's prefix does not depend on how many values were drawn; odd counts.
  std::vector<float> z(200001), prefix(1001);
  philox_gaussian(12345, 0, 0, z.data(), static_cast<int64_t>(z.size()));
  philox_gaussian(12345, 0, 0, prefix.data(), static_cast<int64_t>(prefix.size()));
  CHECK(std::memcmp(z.data(), prefix.data(), prefix.size() * sizeof(float)) == 0);
  double sum = 0, sq = 0;
  for (float v : z) sum += v, sq += double(v) * v;
  const double mean = sum / z.size(), var = sq / z.size() - mean * mean;
  CHECK(std::fabs(mean) < 0.01 && std::fabs(var - 1) < 0.02);
  splitmix_gaussian(99, z.data(), static_cast<int64_t>(z.size()));
  splitmix_gaussian(99, prefix.data(), static_cast<int64_t>(prefix.size()));
  CHECK(std::memcmp(z.data(), prefix.data(), prefix.size() * sizeof(float)) == 0);
  sum = sq = 0;
  for (float v : z) sum += v, sq += double(v) * v;
  CHECK(std::fabs(sum / z.size()) < 0.01 && std::fabs(sq / z.size() - 1) < 0.02);

  // Image quantisation vs the naive formula, odd sizes, with the edge values.
  for (int64_t n : {1, 3}) {
    for (int64_t c : {1, 3, 4}) {
      const int64_t h = 5, w = 7, total = n * c * h * w;
      std::vector<float> x = ditto_test::random_vector(total, uint32_t(n * 10 + c), -1.2f, 1.2f);
      const float specials[] = {-1.f, 1.f, 0.f, NAN, INFINITY, -INFINITY, 1.0039216f, -1.0039216f, 0.99607843f};
      for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < x.size(); ++i) x[i] = specials[i];
      std::vector<uint8_t> got(total), want(total);
      model_to_u8_nhwc(x.data(), n, c, h, w, got.data());
      for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t p = 0; p < h * w; ++p) {
            const volatile float scaled = 127.5f * x[(b * c + ch) * h * w + p];
            const float v = scaled + 128.f;
            want[(b * h * w + p) * c + ch] = std::isnan(v) ? 0 : v >= 255.f ? 255 : v <= 0.f ? 0 : uint8_t(std::trunc(v));
          }
      CHECK(got == want);
    }
  }
  return ditto_test::finish("test_noise_image");
}
