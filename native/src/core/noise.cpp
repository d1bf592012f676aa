// Philox4x32-10 and splitmix64 Gaussian noise (ditto/noise.h), written to match src/noise/philox.ts and
// src/noise/reference.ts operation for operation: 53-bit uniforms built exactly in float64, Box–Muller in float64
// with js_math's log/sin/cos, one rounding to float32 at the end.
#include "ditto/noise.h"

#include <cmath>

#include "core/js_math.h"

namespace ditto {
namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
constexpr double kTwoPi = 2 * 3.141592653589793;  // JS: 2 * Math.PI (exact doubling)
constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;

// z[0] = ρ·cos(2π·u2), z[1] = ρ·sin(2π·u2) with ρ = √(−2·ln(1 − u1)); the second value only when `pair`.
void box_muller(double u1, double u2, float* out, bool pair) {
  const double radius = std::sqrt(-2 * js_math::log(1 - u1));
  const double angle = kTwoPi * u2;
  out[0] = static_cast<float>(radius * js_math::cos(angle));
  if (pair) out[1] = static_cast<float>(radius * js_math::sin(angle));
}

uint64_t splitmix_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<uint32_t>(p0)};
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return c;
}

void philox_gaussian(uint32_t key0, uint32_t key1, uint32_t stream, float* out, int64_t count) {
  for (int64_t block = 0; 2 * block < count; ++block) {
    const auto w = philox4x32_10({static_cast<uint32_t>(block), stream, 0, 0}, key0, key1);
    const double u1 = (static_cast<double>(w[0] >> 5) * 67108864.0 + (w[1] >> 6)) * kTwoPowMinus53;
    const double u2 = (static_cast<double>(w[2] >> 5) * 67108864.0 + (w[3] >> 6)) * kTwoPowMinus53;
    box_muller(u1, u2, out + 2 * block, 2 * block + 1 < count);
  }
}

void splitmix_gaussian(uint64_t seed, float* out, int64_t count) {
  uint64_t state = seed;
  const auto uniform = [&state] {
    state += 0x9E3779B97F4A7C15ull;
    return static_cast<double>(splitmix_mix(state) >> 11) * kTwoPowMinus53;
  };
  for (int64_t m = 0; 2 * m < count; ++m) {
    const double u1 = uniform();
    const double u2 = uniform();
    box_muller(u1, u2, out + 2 * m, 2 * m + 1 < count);
  }
}

}  // namespace ditto
