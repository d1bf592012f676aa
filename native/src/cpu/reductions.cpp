// Per-sample reductions (see ditto/cpu/reductions.h): double accumulators, one sample per task.
#include "ditto/cpu/reductions.h"

#include <cmath>
#include <limits>

namespace ditto::cpu {

namespace {
// One sample needs no hand-off to the pool (the executor asks per sample, and a wake-up costs more than the sum).
template <class Fn>
void per_sample(ThreadPool& pool, int64_t batch, const Fn& fn) {
  if (batch == 1) {
    fn(int64_t{0}, 0);
    return;
  }
  pool.parallel_for(batch, fn);
}
}  // namespace

void relative_l1(ThreadPool& pool, const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) {
  per_sample(pool, batch, [&](int64_t s, int) {
    const float* c = cur + s * n;
    const float* r = ref + s * n;
    double diff = 0, base = 0;
    for (int64_t i = 0; i < n; ++i) {
      diff += std::fabs(static_cast<double>(c[i]) - static_cast<double>(r[i]));
      base += std::fabs(static_cast<double>(r[i]));
    }
    rel_l1[s] = base > 0 ? static_cast<float>(diff / base) : std::numeric_limits<float>::infinity();
  });
}

void dot_norm(ThreadPool& pool, const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
              float* norm_y) {
  per_sample(pool, batch, [&](int64_t s, int) {
    const float* a = x + s * n;
    const float* b = y + s * n;
    double d = 0, nx = 0, ny = 0;
    for (int64_t i = 0; i < n; ++i) {
      d += static_cast<double>(a[i]) * b[i];
      nx += static_cast<double>(a[i]) * a[i];
      ny += static_cast<double>(b[i]) * b[i];
    }
    dot[s] = static_cast<float>(d);
    norm_x[s] = static_cast<float>(std::sqrt(nx));
    norm_y[s] = static_cast<float>(std::sqrt(ny));
  });
}

}  // namespace ditto::cpu
