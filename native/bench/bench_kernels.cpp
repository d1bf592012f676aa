// Micro-benchmarks for the kernels helper's ops: attention (glyph-DiT shape and long sequences), LayerNorm
// with adaLN modulation, tanh-GELU. Prints one line per (op, shape, ISA, threads): time per call and a rate.
// Usage: bench_kernels [threads] [attention|layer_norm|gelu]   (threads 0 = the ThreadPool default; all ops by default)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <functional>
#include <vector>

#include "ditto/cpu/attention.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/norms.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

std::vector<float> filled(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 16777216.f * 2.f - 1.f;
  }
  return v;
}

// Median-free simple timing: warm up, then run for at least ~0.3 s and report the mean per call.
double time_ms(const std::function<void()>& fn) {
  fn();
  int iters = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    fn();
    ++iters;
    elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < 300 && iters < 100000);
  return elapsed / iters;
}

void bench_attention(ThreadPool& pool, Isa isa, int64_t B, int64_t H, int64_t N, int64_t Dh) {
  const int64_t hd = H * Dh;
  auto qkv = filled(B * N * 3 * hd, 1);
  std::vector<float> out(B * N * hd);
  AttentionArgs a;
  a.batch = B; a.heads = H; a.q_len = N; a.kv_len = N; a.head_dim = Dh;
  a.q = qkv.data(); a.k = qkv.data() + hd; a.v = qkv.data() + 2 * hd;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * hd;
  a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = N * 3 * hd;
  a.out = out.data(); a.out_row_stride = hd; a.out_batch_stride = N * hd;
  a.scale = 1.f / std::sqrt(static_cast<float>(Dh));
  set_isa_override(&isa);
  const double ms = time_ms([&] { attention(pool, a); });
  set_isa_override(nullptr);
  const double gflop = 4.0 * B * H * N * N * Dh * 1e-9;
  std::printf("attention   B%-2lld H%-2lld N%-5lld Dh%-3lld %-10s t%d  %9.4f ms  %7.1f GFLOP/s\n", (long long)B,
              (long long)H, (long long)N, (long long)Dh, isa_name(isa), pool.size(), ms, gflop / (ms * 1e-3));
}

void bench_layer_norm(ThreadPool& pool, Isa isa, int64_t rows, int64_t dim, int64_t group) {
  auto x = filled(rows * dim, 2), ada = filled((rows / group + 1) * 6 * dim, 3);
  std::vector<float> out(rows * dim);
  Modulation mod{ada.data(), ada.data() + dim, group, 6 * dim};
  set_isa_override(&isa);
  const double ms = time_ms([&] { layer_norm(pool, x.data(), out.data(), rows, dim, 1e-6f, nullptr, nullptr, mod); });
  set_isa_override(nullptr);
  std::printf("layer_norm  %5lldx%-5lld mod        %-10s t%d  %9.4f ms  %7.2f GB/s\n", (long long)rows, (long long)dim,
              isa_name(isa), pool.size(), ms, 2.0 * rows * dim * 4 / (ms * 1e6));
}

void bench_gelu(ThreadPool& pool, Isa isa, int64_t n) {
  auto x = filled(n, 4);
  std::vector<float> out(n);
  set_isa_override(&isa);
  const double ms = time_ms([&] { gelu_tanh(pool, x.data(), out.data(), n); });
  set_isa_override(nullptr);
  std::printf("gelu_tanh   n=%-9lld            %-10s t%d  %9.4f ms  %7.2f Gelem/s\n", (long long)n, isa_name(isa),
              pool.size(), ms, n / (ms * 1e6));
}

}  // namespace

int main(int argc, char** argv) {
  ThreadPool pool(argc > 1 ? std::atoi(argv[1]) : 0);
  const std::string only = argc > 2 ? argv[2] : "";
  auto wanted = [&](const char* op) { return only.empty() || only == op; };
  std::vector<Isa> isas = {Isa::Portable};
  if (isa_supported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isa_supported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  for (Isa isa : wanted("attention") ? isas : std::vector<Isa>{}) {
    bench_attention(pool, isa, 2, 3, 64, 64);    // glyph DiT, CFG batch of one sample
    bench_attention(pool, isa, 16, 3, 64, 64);   // glyph DiT, batch 8 with CFG
    bench_attention(pool, isa, 1, 16, 256, 72);  // DiT-XL/2 at 256px (N=256, H=16, Dh=72)
    bench_attention(pool, isa, 1, 2, 4096, 64);  // long sequence
  }
  for (Isa isa : wanted("layer_norm") ? isas : std::vector<Isa>{}) {
    bench_layer_norm(pool, isa, 64, 192, 64);
    bench_layer_norm(pool, isa, 1024, 192, 64);
    bench_layer_norm(pool, isa, 256, 1152, 256);
  }
  for (Isa isa : wanted("gelu") ? isas : std::vector<Isa>{}) {
    bench_gelu(pool, isa, 64 * 768);
    bench_gelu(pool, isa, 16 * 64 * 768);
  }
  return 0;
}
