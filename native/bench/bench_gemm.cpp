// GEMM throughput on DiT Linear shapes: GFLOP/s = 2·M·N·K / median time of repeated `linear` calls.
// Usage: bench_gemm [--threads N] [--json] [--dtype f32|bf16|both] [--isa NAME] [--m 64,256,...] [--quick] [--reps N]
//        [--cpu-time] [--k K]
// Shapes: M (tokens) × (K, N) from DiT-XL/2 (1152 hidden, 4608 MLP, 3456 qkv), small glyph DiTs (192) and a
// square 3072 (Flux/SD3-class). Companion: examples/bench/gemm_torch.py, examples/bench-gemm.mjs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <ctime>
#include <vector>

#include "ditto/cpu/gemm.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> out;
  for (const char* p = s; *p;) {
    out.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
    if (*p == ',') ++p;
  }
  return out;
}

bool g_cpu_time = false;  // --cpu-time: this thread's CPU time (robust to time-slicing; only with --threads 1)

double seconds_now() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  bool json = false, quick = false;
  int fixed_reps = 0;
  int64_t only_k = 0;  // --k K: only the shapes with this K  // --reps N: exactly N timed calls (for cycle-count comparisons under perf stat)
  std::vector<DType> dtypes = {DType::F32, DType::BF16};
  Isa isa = best_isa();
  std::vector<int64_t> ms = {64, 256, 1024, 4096};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
    else if (a == "--quick") quick = true;
    else if (a == "--cpu-time") g_cpu_time = true;
    else if (a == "--k" && i + 1 < argc) only_k = std::atoll(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) fixed_reps = std::atoi(argv[++i]);
    else if (a == "--m" && i + 1 < argc) ms = parse_list(argv[++i]);
    else if (a == "--dtype" && i + 1 < argc) {
      std::string d = argv[++i];
      dtypes = d == "f32" ? std::vector<DType>{DType::F32} : d == "bf16" ? std::vector<DType>{DType::BF16} : dtypes;
    } else if (a == "--isa" && i + 1 < argc) {
      if (!parse_isa(argv[++i], &isa)) {
        std::fprintf(stderr, "unknown isa %s\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--json] [--dtype f32|bf16|both] [--isa NAME] [--m 64,256] [--quick] [--reps N] [--cpu-time] [--k K]\n", argv[0]);
      return 2;
    }
  }
  ThreadPool pool(threads);
  const std::vector<std::pair<int64_t, int64_t>> kn = {{192, 576},   {192, 768},   {768, 192},  {1152, 3456},
                                                       {1152, 4608}, {4608, 1152}, {3072, 3072}};
  const double min_seconds = quick ? 0.05 : 0.3;
  if (json) std::printf("{\"threads\": %d, \"results\": [\n", pool.size());
  else std::printf("threads=%d best_isa=%s\n%6s %6s %6s %5s %-11s %10s\n", pool.size(), isa_name(best_isa()), "M", "K",
                   "N", "dtype", "isa", "GFLOP/s");
  bool first = true;
  for (DType dtype : dtypes) {
    for (int64_t m : ms) {
      for (auto [k, n] : kn) {
        if (only_k && k != only_k) continue;
        std::vector<float> w(n * k), x(m * k), y(m * n);
        for (size_t i = 0; i < w.size(); ++i) w[i] = float((i * 2654435761u) % 2001) / 1000.f - 1.f;
        for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 40503u) % 1999) / 1000.f - 1.f;
        auto packed = PackedWeight::pack(w.data(), n, k, dtype, isa);
        if (!packed.ok()) {
          std::fprintf(stderr, "pack failed: %s\n", packed.status().message().c_str());
          return 1;
        }
        linear(pool, x.data(), m, k, *packed, y.data(), n);  // warm-up
        std::vector<double> times;
        const double start = seconds_now();
        while (fixed_reps > 0 ? times.size() < size_t(fixed_reps)
                             : (times.size() < 3 || (seconds_now() - start < min_seconds && times.size() < 50))) {
          const double t0 = seconds_now();
          linear(pool, x.data(), m, k, *packed, y.data(), n);
          times.push_back(seconds_now() - t0);
        }
        std::sort(times.begin(), times.end());
        const double gflops = 2.0 * m * n * k / times[times.size() / 2] * 1e-9;
        if (json) {
          std::printf("%s  {\"m\": %lld, \"k\": %lld, \"n\": %lld, \"dtype\": \"%s\", \"isa\": \"%s\", \"gflops\": %.2f}",
                      first ? "" : ",\n", (long long)m, (long long)k, (long long)n, dtype == DType::F32 ? "f32" : "bf16",
                      isa_name(packed->isa()), gflops);
        } else {
          std::printf("%6lld %6lld %6lld %5s %-11s %10.1f\n", (long long)m, (long long)k, (long long)n,
                      dtype == DType::F32 ? "f32" : "bf16", isa_name(packed->isa()), gflops);
        }
        std::fflush(stdout);
        first = false;
      }
    }
  }
  if (json) std::printf("\n]}\n");
  return 0;
}
