// LayerNorm (optionally affine) fused with adaLN modulation, and RMSNorm. Statistics follow PyTorch's
// float32 LayerNorm: the mean first, then the biased variance of the centred values, eps inside the sqrt.
// Modulation is DiT's x·(1 + scale) + shift with one (shift, scale) row per group of rows (per sample).
// Rows are split over the pool in blocks; a small input (e.g. 64×192) runs as a single task on the caller.
// The row loops dispatch to AVX-512 / AVX2 twins in norms_avx512.cpp / norms_avx2.cpp.
#include "ditto/cpu/norms.h"

#include <algorithm>
#include <cmath>

#include "cpu/norms_kernels.h"
#include "ditto/cpu_features.h"

namespace ditto::cpu {

namespace detail {

void layer_norm_rows_portable(const float* x, float* out, int64_t rows, int64_t dim, float eps,
                              const float* weight, const float* bias, const float* shift, const float* scale) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    // The fallback sums in double: a serial float32 sum would drift far more than PyTorch's cascaded one
    // for wide rows with a large common offset; the statistics are then rounded to float32 as PyTorch has them.
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) sum += xr[i];
    const float mean = static_cast<float>(sum / static_cast<double>(dim));
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) {
      const float d = xr[i] - mean;
      sq += static_cast<double>(d) * d;
    }
    const float var = static_cast<float>(sq / static_cast<double>(dim));
    const float rstd = 1.f / std::sqrt(var + eps);
    for (int64_t i = 0; i < dim; ++i) {
      float v = (xr[i] - mean) * rstd;
      if (weight) v = v * weight[i];
      if (bias) v = v + bias[i];
      if (scale) v = v * (1.f + scale[i]);
      if (shift) v = v + shift[i];
      yr[i] = v;
    }
  }
}

void rms_norm_rows_portable(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += static_cast<double>(xr[i]) * xr[i];
    const float rinv = 1.f / std::sqrt(static_cast<float>(sq / static_cast<double>(dim)) + eps);
    for (int64_t i = 0; i < dim; ++i) yr[i] = weight ? xr[i] * rinv * weight[i] : xr[i] * rinv;
  }
}

}  // namespace detail

namespace {

// Rows per task: enough work (~64K elements, ~10 µs) that a task outweighs a thread hand-off.
int64_t rows_per_task(int64_t rows, int64_t dim) {
  const int64_t target = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, dim));
  return std::min(rows, target);
}

detail::LayerNormRowsFn pick_layer_norm() {
  switch (best_isa()) {
    case Isa::Amx:
    case Isa::Avx512Bf16:
    case Isa::Avx512: return detail::layer_norm_rows_avx512;
    case Isa::Avx2: return detail::layer_norm_rows_avx2;
    default: return detail::layer_norm_rows_portable;
  }
}

detail::RmsNormRowsFn pick_rms_norm() {
  switch (best_isa()) {
    case Isa::Amx:
    case Isa::Avx512Bf16:
    case Isa::Avx512: return detail::rms_norm_rows_avx512;
    case Isa::Avx2: return detail::rms_norm_rows_avx2;
    default: return detail::rms_norm_rows_portable;
  }
}

}  // namespace

void layer_norm(ThreadPool& pool, const float* x, float* out, int64_t rows, int64_t dim, float eps,
                const float* weight, const float* bias, const Modulation& mod) {
  if (rows <= 0 || dim <= 0) return;
  const detail::LayerNormRowsFn fn = pick_layer_norm();
  const int64_t group = std::max<int64_t>(1, mod.rows_per_group);
  // Tasks are row ranges sized by work alone; a task that crosses a modulation group boundary is split
  // into per-group segments, each with its own (shift, scale) row. So a batch of small samples is still
  // one task when it is small in total.
  const int64_t block = rows_per_task(rows, dim);
  const int64_t tasks = (rows + block - 1) / block;
  auto run = [&](int64_t task, int) {
    const int64_t end = std::min(rows, (task + 1) * block);
    for (int64_t begin = task * block; begin < end;) {
      const int64_t g = begin / group;
      const int64_t seg_end = std::min(end, (g + 1) * group);
      const float* shift = mod.shift ? mod.shift + g * mod.stride : nullptr;
      const float* scale = mod.scale ? mod.scale + g * mod.stride : nullptr;
      fn(x + begin * dim, out + begin * dim, seg_end - begin, dim, eps, weight, bias, shift, scale);
      begin = seg_end;
    }
  };
  if (tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(tasks, run);
  }
}

void rms_norm_rows(const float* x, const float* weight, float* out, int64_t rows, int64_t cols, float eps) {
  if (rows > 0 && cols > 0) pick_rms_norm()(x, out, rows, cols, eps, weight);
}

void rms_norm(ThreadPool& pool, const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight) {
  if (rows <= 0 || dim <= 0) return;
  const detail::RmsNormRowsFn fn = pick_rms_norm();
  const int64_t block = rows_per_task(rows, dim);
  const int64_t tasks = (rows + block - 1) / block;
  auto run = [&](int64_t task, int) {
    const int64_t begin = task * block;
    const int64_t end = std::min(rows, begin + block);
    fn(x + begin * dim, out + begin * dim, end - begin, dim, eps, weight);
  };
  if (tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(tasks, run);
  }
}

void layer_norm_reference(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight,
                          const float* bias, const Modulation& mod) {
  const int64_t group = std::max<int64_t>(1, mod.rows_per_group);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double mean = 0;
    for (int64_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    double var = 0;
    for (int64_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double rstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    const int64_t g = r / group;
    for (int64_t i = 0; i < dim; ++i) {
      double v = (xr[i] - mean) * rstd;
      if (weight) v *= weight[i];
      if (bias) v += bias[i];
      if (mod.scale) v *= 1.0 + static_cast<double>(mod.scale[g * mod.stride + i]);
      if (mod.shift) v += mod.shift[g * mod.stride + i];
      out[r * dim + i] = static_cast<float>(v);
    }
  }
}

void rms_norm_reference(const float* x, float* out, int64_t rows, int64_t dim, float eps, const float* weight) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += static_cast<double>(xr[i]) * xr[i];
    const double rinv = 1.0 / std::sqrt(sq / static_cast<double>(dim) + static_cast<double>(eps));
    for (int64_t i = 0; i < dim; ++i) {
      double v = xr[i] * rinv;
      if (weight) v *= weight[i];
      out[r * dim + i] = static_cast<float>(v);
    }
  }
}

}  // namespace ditto::cpu
