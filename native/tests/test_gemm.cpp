// Tests for the packed GEMM (ditto/cpu/gemm.h): every ISA path this machine supports × {F32, BF16} × odd
// shapes × every epilogue × pool sizes {1, 2, 3}, with lda/ldy wider than the rows, against the double-
// precision linear_reference. Tolerances (docs/numerics.md, GEMM):
//   f32:  |y − ref| ≤ 4e-6·√K + 1e-5·|ref|   (f32 accumulation of K products in [-1, 1])
//   bf16: against the reference evaluated on bf16-rounded x and W: the same f32 bound (bf16 paths round both
//         operands to bf16 RNE and accumulate exactly in f32), and against the unrounded f32 reference:
//         |y − ref| ≤ 2^-8·min(K, 3√K) + 1e-3·|ref| (two bf16 roundings ≤ 2^-9 relative each; Σ|x·w| ≤ K,
//         and random signs keep the sum near √K).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "ditto/cpu/gemm.h"
#include "ditto/tensor.h"

using namespace ditto;
using namespace ditto::cpu;
using ditto_test::all_close;
using ditto_test::random_vector;

namespace {

std::vector<float> bf16_rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(v[i]));
  return out;
}

// The oracle itself must be right: a hand-checked case (values from PyTorch 2.x:
// F.gelu(1.0, approximate="tanh") = 0.8411920070648193, F.silu(-0.5) = -0.18877033).
void test_reference_by_hand() {
  const float x[2 * 3] = {1, 2, 3, -1, 0.5f, 0};
  const float w[2 * 3] = {0.5f, 0, -0.5f, 1, 1, 1};  // rows: output features
  const float bias[2] = {2.f, -6.5f};
  float y[2 * 2];
  linear_reference(x, 2, 3, 3, w, 2, y, 2);
  CHECK(y[0] == -1.f && y[1] == 6.f && y[2] == -0.5f && y[3] == -0.5f);
  Epilogue gelu;
  gelu.bias = bias;
  gelu.activation = Activation::GeluTanh;
  linear_reference(x, 2, 3, 3, w, 2, y, 2, gelu);  // row 0: 1 and -0.5
  CHECK(std::fabs(y[0] - 0.8411920070648193f) < 1e-7f);
  Epilogue silu;
  silu.activation = Activation::Silu;
  linear_reference(x, 2, 3, 3, w, 2, y, 2, silu);  // row 1: -0.5, -0.5
  CHECK(std::fabs(y[2] + 0.18877033f) < 1e-7f);
  // Gated residual, one gate row per 1 row: y = y + g·v.
  const float gate[2 * 2] = {2, 3, -1, 0.5f};
  float res[4] = {1, 1, 1, 1};
  Epilogue gated;
  gated.gate = gate;
  gated.gate_row_group = 1;
  gated.gate_stride = 2;
  linear_reference(x, 2, 3, 3, w, 2, res, 2, gated);
  CHECK(res[0] == 1 + 2 * -1.f && res[1] == 1 + 3 * 6.f && res[2] == 1 + -1 * -0.5f && res[3] == 1 + 0.5f * -0.5f);
}

void test_pack_errors() {
  std::vector<float> w(12, 1.f);
  CHECK(!PackedWeight::pack(nullptr, 3, 4, DType::F32).ok());
  CHECK(!PackedWeight::pack(w.data(), 0, 4, DType::F32).ok());
  CHECK(!PackedWeight::pack(w.data(), 3, -1, DType::F32).ok());
  CHECK(!PackedWeight::pack(w.data(), 3, 4, DType::I64).ok());
  auto ok = PackedWeight::pack(w.data(), 3, 4, DType::F32);
  CHECK_OK(ok);
  if (ok.ok()) CHECK(ok->n() == 3 && ok->k() == 4 && !ok->empty() && ok->bytes() >= 12 * sizeof(float));
  // DITTO_ISA-style cap: forcing portable makes every pack portable.
  const Isa portable = Isa::Portable;
  set_isa_override(&portable);
  auto capped = PackedWeight::pack(w.data(), 3, 4, DType::BF16, Isa::Amx);
  CHECK_OK(capped);
  if (capped.ok()) CHECK(capped->isa() == Isa::Portable && capped->dtype() == DType::BF16);
  set_isa_override(nullptr);
}

struct EpilogueCase {
  const char* name;
  bool bias;
  Activation act;
  bool gate;
};

const EpilogueCase kEpilogues[] = {
    {"none", false, Activation::None, false},
    {"bias", true, Activation::None, false},
    {"bias+gelu", true, Activation::GeluTanh, false},
    {"silu", false, Activation::Silu, false},
    {"bias+gelu+gate", true, Activation::GeluTanh, true},
    {"gate", false, Activation::None, true},
};

struct Path {
  Isa isa;
  DType dtype;
};

int g_cases = 0;

void run_shape(const std::vector<Path>& paths, ThreadPool* pools[3], int64_t m, int64_t n, int64_t k, uint32_t seed,
               int64_t lda_override = 0) {
  const int64_t lda = lda_override > 0 ? lda_override : k + 3, ldy = n + 5;
  const auto x = random_vector(m * lda, seed);
  const auto w = random_vector(n * k, seed + 1);
  const auto bias = random_vector(n, seed + 2);
  const int64_t group = std::max<int64_t>(1, (m + 1) / 2);  // two "samples"
  const int64_t gate_stride = n + 2;
  const auto gate = random_vector(((m + group - 1) / group) * gate_stride, seed + 3);
  const auto residual = random_vector(m * ldy, seed + 4);
  const auto x16 = bf16_rounded(x), w16 = bf16_rounded(w);

  std::vector<std::pair<Isa, DType>> packed_paths;
  std::vector<PackedWeight> packed;
  for (const Path& p : paths) {
    auto r = PackedWeight::pack(w.data(), n, k, p.dtype, p.isa);
    CHECK_OK(r);
    if (!r.ok()) return;
    CHECK(r->isa() == p.isa);
    packed.push_back(std::move(r).value());
  }

  const double atol32 = 4e-6 * std::sqrt(double(k)), rtol32 = 1e-5;
  // Σ|x w| ≤ K bounds the rounding error for tiny K; for larger K random signs make it ~√K.
  const double atol16 = std::ldexp(1.0, -8) * std::min(double(k), 3 * std::sqrt(double(k))), rtol16 = 1e-3;
  int epi_index = 0;
  for (const EpilogueCase& ec : kEpilogues) {
    Epilogue e;
    e.bias = ec.bias ? bias.data() : nullptr;
    e.activation = ec.act;
    if (ec.gate) {
      e.gate = gate.data();
      e.gate_row_group = group;
      e.gate_stride = gate_stride;
    }
    std::vector<float> ref32 = residual, ref16 = residual;
    linear_reference(x.data(), m, k, lda, w.data(), n, ref32.data(), ldy, e);
    linear_reference(x16.data(), m, k, lda, w16.data(), n, ref16.data(), ldy, e);
    for (size_t pi = 0; pi < paths.size(); ++pi) {
      ThreadPool& pool = *pools[(seed + epi_index + pi) % 3];
      std::vector<float> y = residual;
      linear(pool, x.data(), m, lda, packed[pi], y.data(), ldy, e);
      const std::string what = std::string(isa_name(paths[pi].isa)) + "/" + dtype_name(paths[pi].dtype) + " M=" +
                               std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k) + " " +
                               ec.name + " threads=" + std::to_string(pool.size());
      bool ok = true;
      for (int64_t i = 0; i < m && ok; ++i) {
        const float* got = y.data() + i * ldy;
        if (paths[pi].dtype == DType::F32) {
          ok = all_close(got, ref32.data() + i * ldy, n, atol32, rtol32, what + " row " + std::to_string(i));
        } else {
          ok = all_close(got, ref16.data() + i * ldy, n, atol32, rtol32, what + " (vs rounded) row " + std::to_string(i)) &&
               all_close(got, ref32.data() + i * ldy, n, atol16, rtol16, what + " (vs f32) row " + std::to_string(i));
        }
        // The columns between n and ldy belong to someone else: untouched.
        for (int64_t j = n; j < ldy && ok; ++j) ok = got[j] == residual[i * ldy + j];
      }
      CHECK(ok);
      ++g_cases;
    }
    ++epi_index;
  }
}

}  // namespace

int main() {
  test_reference_by_hand();
  test_pack_errors();

  // Every ISA path this machine has, deduplicated by the path that actually runs.
  std::vector<Path> paths;
  std::set<std::pair<int, int>> seen;
  for (int i = 0; i <= static_cast<int>(Isa::Amx); ++i) {
    const Isa isa = static_cast<Isa>(i);
    if (!isa_supported(isa)) {
      std::printf("test_gemm: skipping %s (not supported here)\n", isa_name(isa));
      continue;
    }
    for (DType dtype : {DType::F32, DType::BF16}) {
      const float one = 1.f;
      auto probe = PackedWeight::pack(&one, 1, 1, dtype, isa);
      CHECK_OK(probe);
      if (!probe.ok() || !seen.insert({static_cast<int>(probe->isa()), static_cast<int>(dtype)}).second) continue;
      std::printf("test_gemm: testing %s/%s (requested %s)\n", isa_name(probe->isa()), dtype_name(dtype), isa_name(isa));
      paths.push_back({probe->isa(), dtype});
    }
  }

  ThreadPool pool1(1), pool2(2), pool3(3);
  ThreadPool* pools[3] = {&pool1, &pool2, &pool3};
  uint32_t seed = 1;
  for (int64_t m : {1, 7, 64, 65, 130, 300})
    for (int64_t n : {3, 17, 192, 577})
      for (int64_t k : {1, 5, 192, 301}) run_shape(paths, pools, m, n, k, seed += 11);
  // A row stride of 4 KiB makes the f32 kernels copy A into padded strips instead of reading x in place.
  run_shape(paths, pools, 29, 77, 301, seed += 11, 1024);
  run_shape(paths, pools, 130, 192, 1024, seed += 11, 2048);
  std::printf("test_gemm: %d cases\n", g_cases);
  return ditto_test::finish("test_gemm");
}
