// DiT forward throughput on a model folder (default: the glyph fixture), f32 and bf16, a few batch sizes.
// Usage (from the repo root): build-*/bench_dit [model_dir] [iterations]
// Prints ms per forward, samples/s and achieved GMAC/s (MACs from DitModel::macs_per_sample()).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "ditto/dit.h"

using namespace ditto;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "../shared/fixtures/glyphs";
  const int iters = argc > 2 ? std::atoi(argv[2]) : 20;
  std::printf("%-6s %6s %10s %10s %10s\n", "dtype", "batch", "ms/fwd", "samples/s", "GMAC/s");
  for (DType dtype : {DType::F32, DType::BF16}) {
    LoadOptions opts;
    opts.dtype = dtype;
    auto model = DitModel::load(dir, opts);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().message().c_str());
      return 1;
    }
    DitModel& m = *model.value();
    const DitConfig& c = m.config();
    for (int64_t batch : {1, 2, 8, 32}) {
      Tensor x = Tensor::empty(DType::F32, {batch, c.in_channels, c.input_size, c.input_size}).value();
      std::mt19937 rng(1);
      std::normal_distribution<float> normal;
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
      std::vector<float> t(batch, 500.f);
      std::vector<int64_t> y(batch);
      for (int64_t i = 0; i < batch; ++i) y[i] = i % c.num_classes;
      (void)m.forward(x, t, y);  // warm-up: workspace, caches
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i)
        if (!m.forward(x, t, y).ok()) return 1;
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters;
      double gmacs = double(m.macs_per_sample().total) * batch / (ms * 1e6);
      std::printf("%-6s %6lld %10.3f %10.1f %10.1f\n", dtype_name(dtype), (long long)batch, ms, batch * 1000.0 / ms,
                  gmacs);
    }
  }
  return 0;
}
