// Elementwise ops: SiLU and tanh-GELU on every ISA path vs double-precision formulas (wide input range,
// odd lengths that exercise vector tails, multi-chunk lengths that exercise threading, linear_combination's
// block edges and the arithmetic's parallel threshold), the sampler arithmetic bit-exact vs the header's float32
// op order, and in-place (aliased) calls.
#include <cmath>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

double gelu_tanh_double(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double silu_double(double x) { return x / (1.0 + std::exp(-x)); }

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      std::fprintf(stderr, "%s: element %zu got %.9g want %.9g\n", what.c_str(), i, a[i], b[i]);
      return false;
    }
  }
  return true;
}

void check_activations(ThreadPool& pool, Isa isa, int64_t n, uint32_t seed) {
  std::vector<float> x = ditto_test::random_vector(n, seed, -12.f, 12.f);
  // A few exact special points: 0, the exp clamp region, large magnitudes where GELU saturates.
  const float specials[] = {0.f, -0.f, 1e-20f, -1e-20f, 30.f, -30.f, 88.f, -88.f, 100.f, -100.f, 1e6f, -1e6f};
  for (size_t i = 0; i < sizeof(specials) / sizeof(float) && i < x.size(); ++i) x[i] = specials[i];
  std::vector<float> want_gelu(n), want_silu(n), got(n);
  for (int64_t i = 0; i < n; ++i) {
    want_gelu[i] = static_cast<float>(gelu_tanh_double(x[i]));
    want_silu[i] = static_cast<float>(silu_double(x[i]));
  }
  const std::string tag = std::string(isa_name(isa)) + " n=" + std::to_string(n) + " t" + std::to_string(pool.size());
  set_isa_override(&isa);
  // Tolerance: every form is x / (1 + e^(−2u)) with an exp of ≤ 1.3 ulp, so a few ulp relative; the small atol
  // covers the float32 rounding of u itself for |x| ≳ 5, where the tiny GELU tail is sensitive to it.
  gelu_tanh(pool, x.data(), got.data(), n);
  CHECK(ditto_test::all_close(got.data(), want_gelu.data(), n, 2e-7, 1e-6, "gelu_tanh " + tag));
  silu(pool, x.data(), got.data(), n);
  CHECK(ditto_test::all_close(got.data(), want_silu.data(), n, 1e-30, 1e-6, "silu " + tag));
  // In place.
  got = x;
  gelu_tanh(pool, got.data(), got.data(), n);
  CHECK(ditto_test::all_close(got.data(), want_gelu.data(), n, 2e-7, 1e-6, "gelu_tanh in place " + tag));
  got = x;
  silu(pool, got.data(), got.data(), n);
  CHECK(ditto_test::all_close(got.data(), want_silu.data(), n, 1e-30, 1e-6, "silu in place " + tag));
  set_isa_override(nullptr);
}

void check_arithmetic(ThreadPool& pool, int64_t n, uint32_t seed) {
  const auto x = ditto_test::random_vector(n, seed), y = ditto_test::random_vector(n, seed + 1, -3.f, 2.f),
             z = ditto_test::random_vector(n, seed + 2, 0.5f, 4.f);
  const std::string tag = " n=" + std::to_string(n) + " t" + std::to_string(pool.size());
  std::vector<float> got(n), want(n);
  const float a = 0.7316f, b = -1.2519f, w = 0.3137f, s = -2.5f;

  axpby(pool, a, x.data(), b, y.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = a * x[i] + b * y[i];
  CHECK(bit_equal(got, want, "axpby" + tag));
  lerp(pool, x.data(), y.data(), w, got.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = x[i] + w * (y[i] - x[i]);
  CHECK(bit_equal(got, want, "lerp" + tag));
  add(pool, x.data(), y.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = x[i] + y[i];
  CHECK(bit_equal(got, want, "add" + tag));
  mul(pool, x.data(), y.data(), got.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = x[i] * y[i];
  CHECK(bit_equal(got, want, "mul" + tag));
  scale(pool, x.data(), s, got.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = x[i] * s;
  CHECK(bit_equal(got, want, "scale" + tag));

  const float* inputs[3] = {x.data(), y.data(), z.data()};
  const float coeffs[3] = {0.25f, -1.75f, 3.125f};
  for (int k = 1; k <= 3; ++k) {
    linear_combination(pool, inputs, coeffs, k, got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      float acc = coeffs[0] * x[i];
      if (k > 1) acc += coeffs[1] * y[i];
      if (k > 2) acc += coeffs[2] * z[i];
      want[i] = acc;
    }
    CHECK(bit_equal(got, want, "linear_combination k=" + std::to_string(k) + tag));
  }

  // Aliasing: out is one of the inputs.
  std::vector<float> inout = x;
  axpby(pool, a, inout.data(), b, y.data(), inout.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = a * x[i] + b * y[i];
  CHECK(bit_equal(inout, want, "axpby aliased" + tag));
  inout = y;
  lerp(pool, x.data(), inout.data(), w, inout.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = x[i] + w * (y[i] - x[i]);
  CHECK(bit_equal(inout, want, "lerp aliased" + tag));
  inout = z;
  const float* aliased[3] = {x.data(), y.data(), inout.data()};
  linear_combination(pool, aliased, coeffs, 3, inout.data(), n);
  for (int64_t i = 0; i < n; ++i) want[i] = coeffs[0] * x[i] + coeffs[1] * y[i] + coeffs[2] * z[i];
  CHECK(bit_equal(inout, want, "linear_combination aliased" + tag));
}

}  // namespace

int main() {
  std::vector<Isa> isas = {Isa::Portable};
  if (isa_supported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isa_supported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  // The scalar forms that fused kernels share.
  CHECK(std::fabs(gelu_tanh_scalar(1.f) - 0.841191990f) < 1e-7f);
  CHECK(std::fabs(silu_scalar(1.f) - 0.731058579f) < 1e-7f);
  CHECK(gelu_tanh_scalar(0.f) == 0.f && silu_scalar(0.f) == 0.f);
  uint32_t seed = 11;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{15}, int64_t{17}, int64_t{1000}, int64_t{100003}}) {
      for (Isa isa : isas) check_activations(pool, isa, n, seed++);
      check_arithmetic(pool, n, seed++);
    }
    // Around linear_combination's 1024-element blocks, and past the size where arithmetic goes parallel.
    for (int64_t n : {int64_t{1023}, int64_t{1025}, int64_t{2049}, (int64_t{1} << 22) + 1029}) {
      check_arithmetic(pool, n, seed++);
    }
  }
  return ditto_test::finish("test_elementwise");
}
