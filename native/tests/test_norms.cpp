// LayerNorm (plain, affine, adaLN-modulated with one shift/scale row per sample) and RMSNorm on every ISA
// path and pool size vs the double-precision reference, on odd widths (vector tails), inputs with a large
// common offset (where a one-pass E[x²]−E[x]² variance would lose digits) and group sizes that do not divide
// the per-task row block.
#include <cmath>
#include <string>
#include <vector>

#include "check.h"
#include "cpu/norms_kernels.h"
#include "ditto/cpu/norms.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

void check_layer_norm(ThreadPool& pool, Isa isa, int64_t rows, int64_t dim, int64_t rows_per_group, bool affine,
                      bool modulate, float offset, uint32_t seed) {
  std::vector<float> x = ditto_test::random_vector(rows * dim, seed);
  for (auto& v : x) v += offset;
  const auto weight = ditto_test::random_vector(dim, seed + 1, 0.5f, 1.5f);
  const auto bias = ditto_test::random_vector(dim, seed + 2);
  const int64_t groups = (rows + rows_per_group - 1) / rows_per_group;
  const int64_t stride = 3 * dim + 1;  // shift and scale interleaved in one adaLN output row, padded
  const auto ada = ditto_test::random_vector(groups * stride, seed + 3);
  Modulation mod;
  if (modulate) {
    mod.shift = ada.data();
    mod.scale = ada.data() + dim;
    mod.rows_per_group = rows_per_group;
    mod.stride = stride;
  }
  std::vector<float> got(rows * dim), want(rows * dim);
  const float eps = 1e-6f;
  set_isa_override(&isa);
  layer_norm(pool, x.data(), got.data(), rows, dim, eps, affine ? weight.data() : nullptr,
             affine ? bias.data() : nullptr, mod);
  set_isa_override(nullptr);
  layer_norm_reference(x.data(), want.data(), rows, dim, eps, affine ? weight.data() : nullptr,
                       affine ? bias.data() : nullptr, mod);
  // float32 two-pass statistics: the mean carries ~|offset|·2^-24·√dim-ish error, which shows up in the
  // centred values relative to the (unit-ish) std; outputs are O(1), so an atol of a few 1e-6 plus rtol.
  const double atol = 3e-6 * (1.0 + std::fabs(offset));
  const std::string tag = std::string("layer_norm ") + isa_name(isa) + " t" + std::to_string(pool.size()) + " " +
                          std::to_string(rows) + "x" + std::to_string(dim) + " g" + std::to_string(rows_per_group) +
                          (affine ? " affine" : "") + (modulate ? " mod" : "") + " off" + std::to_string(offset);
  CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), atol, 2e-6, tag));
}

void check_rms_norm(ThreadPool& pool, Isa isa, int64_t rows, int64_t dim, bool weighted, uint32_t seed) {
  const auto x = ditto_test::random_vector(rows * dim, seed, -2.f, 3.f);
  const auto weight = ditto_test::random_vector(dim, seed + 1, 0.5f, 1.5f);
  std::vector<float> got(rows * dim), want(rows * dim);
  set_isa_override(&isa);
  rms_norm(pool, x.data(), got.data(), rows, dim, 1e-6f, weighted ? weight.data() : nullptr);
  set_isa_override(nullptr);
  rms_norm_reference(x.data(), want.data(), rows, dim, 1e-6f, weighted ? weight.data() : nullptr);
  const std::string tag = std::string("rms_norm ") + isa_name(isa) + " t" + std::to_string(pool.size()) + " " +
                          std::to_string(rows) + "x" + std::to_string(dim);
  CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), 1e-6, 2e-6, tag));
}

// rms_norm_rows (the single-thread row kernel the families call per token, e.g. per head over head_dim),
// in place and out of place, with and without a weight.
void check_rms_norm_rows(Isa isa, int64_t rows, int64_t cols, bool weighted, bool in_place, uint32_t seed) {
  const auto x = ditto_test::random_vector(rows * cols, seed, -3.f, 2.f);
  const auto weight = ditto_test::random_vector(cols, seed + 1, 0.5f, 1.5f);
  std::vector<float> got = x, want(rows * cols);
  set_isa_override(&isa);
  if (in_place) {
    rms_norm_rows(got.data(), weighted ? weight.data() : nullptr, got.data(), rows, cols, 1e-6f);
  } else {
    rms_norm_rows(x.data(), weighted ? weight.data() : nullptr, got.data(), rows, cols, 1e-6f);
  }
  set_isa_override(nullptr);
  // Naive oracle: out = x / sqrt(mean(x^2) + eps) * weight in double.
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (int64_t i = 0; i < cols; ++i) sq += double(x[r * cols + i]) * x[r * cols + i];
    const double inv = 1.0 / std::sqrt(sq / double(cols) + 1e-6);
    for (int64_t i = 0; i < cols; ++i)
      want[r * cols + i] = static_cast<float>(x[r * cols + i] * inv * (weighted ? weight[i] : 1.0));
  }
  const std::string tag = std::string("rms_norm_rows ") + isa_name(isa) + " " + std::to_string(rows) + "x" +
                          std::to_string(cols) + (weighted ? " w" : "") + (in_place ? " in-place" : "");
  CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), 1e-6, 2e-6, tag));
}

}  // namespace

int main() {
  std::vector<Isa> isas = {Isa::Portable};
  if (isa_supported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isa_supported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  uint32_t seed = 100;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (Isa isa : isas) {
      // {rows, dim, rows_per_group}
      const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {64, 192, 64}, {130, 64, 64}, {37, 13, 5},
                                   {700, 200, 350}, {9, 1153, 4}, {2000, 48, 333}};
      for (const auto& s : shapes) {
        for (int variant = 0; variant < 4; ++variant) {
          check_layer_norm(pool, isa, s[0], s[1], s[2], variant & 1, variant & 2, 0.f, seed++);
        }
        check_layer_norm(pool, isa, s[0], s[1], s[2], false, true, 20.f, seed++);
        check_rms_norm(pool, isa, s[0], s[1], true, seed++);
        check_rms_norm(pool, isa, s[0], s[1], false, seed++);
      }
    }
  }
  for (Isa isa : isas) {
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {5, 16}, {11, 33}, {7, 129}, {2, 1001}};
    for (const auto& s : shapes)
      for (int variant = 0; variant < 4; ++variant)
        check_rms_norm_rows(isa, s[0], s[1], variant & 1, variant & 2, seed++);
  }
  // A constant row has zero variance: the output is exactly 0 (then shift), never NaN.
  {
    ThreadPool pool(1);
    std::vector<float> x(40, 2.5f), out(40, 1.f);
    for (Isa isa : isas) {
      set_isa_override(&isa);
      layer_norm(pool, x.data(), out.data(), 2, 20, 1e-6f);
      set_isa_override(nullptr);
      bool zeros = true;
      for (float v : out) zeros = zeros && v == 0.f;
      CHECK(zeros);
    }
  }
  return ditto_test::finish("test_norms");
}
