// GroupNorm (+ SiLU) over channels-last activations (ditto/cpu/group_norm.h), after torch.nn.GroupNorm.
// Channels-last puts a group's values in short strided runs, so the statistics are gathered per band of pixels
// (each task sums every group of its band) and reduced, rather than one task per group; all three passes (mean,
// centred variance, normalise) are parallel over pixel bands. The normalise pass is a plain loop the compiler
// vectorises; the pass is memory-bound, so no hand-written ISA twins (the VAE's time is in its convolutions).
#include "ditto/cpu/group_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ditto/cpu/elementwise.h"

namespace ditto::cpu {

namespace {

int64_t pixels_per_band(int64_t pixels, int64_t channels) {
  return std::clamp<int64_t>(65536 / std::max<int64_t>(1, channels), 1, std::max<int64_t>(1, pixels));
}

}  // namespace

void group_norm_nhwc(ThreadPool& pool, const float* x, float* out, int64_t batch, int64_t pixels, int64_t channels,
                     int64_t groups, float eps, const float* weight, const float* bias, bool silu) {
  if (batch <= 0 || pixels <= 0 || channels <= 0 || groups <= 0) return;
  const int64_t per_group = channels / groups;
  const int64_t band = pixels_per_band(pixels, channels);
  const int64_t bands = (pixels + band - 1) / band;
  const double count = static_cast<double>(pixels * per_group);
  std::vector<double> partial(static_cast<size_t>(bands * groups));
  std::vector<float> mean(static_cast<size_t>(groups)), rstd(static_cast<size_t>(groups));
  std::vector<float> a(static_cast<size_t>(channels)), b(static_cast<size_t>(channels));
  for (int64_t s = 0; s < batch; ++s) {
    const float* xs = x + s * pixels * channels;
    float* os = out + s * pixels * channels;
    // Pass 1: mean per group. Pass 2: centred sum of squares per group.
    for (int pass = 0; pass < 2; ++pass) {
      pool.parallel_for(bands, [&](int64_t t, int) {
        double* acc = partial.data() + t * groups;
        std::fill(acc, acc + groups, 0.0);
        const int64_t end = std::min(pixels, (t + 1) * band);
        for (int64_t p = t * band; p < end; ++p) {
          const float* row = xs + p * channels;
          for (int64_t g = 0; g < groups; ++g) {
            double sum = 0;
            const float* v = row + g * per_group;
            if (pass == 0) {
              for (int64_t c = 0; c < per_group; ++c) sum += v[c];
            } else {
              const float m = mean[static_cast<size_t>(g)];
              for (int64_t c = 0; c < per_group; ++c) {
                const double d = static_cast<double>(v[c] - m);
                sum += d * d;
              }
            }
            acc[g] += sum;
          }
        }
      });
      for (int64_t g = 0; g < groups; ++g) {
        double total = 0;
        for (int64_t t = 0; t < bands; ++t) total += partial[static_cast<size_t>(t * groups + g)];
        if (pass == 0) {
          mean[static_cast<size_t>(g)] = static_cast<float>(total / count);
        } else {
          const float var = static_cast<float>(total / count);
          rstd[static_cast<size_t>(g)] = 1.f / std::sqrt(var + eps);
        }
      }
    }
    // y = x * a[c] + b[c] with a = rstd * w, b = bias - mean * rstd * w (PyTorch's CPU kernel folds it the same way).
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t g = c / per_group;
      const float wc = weight ? weight[c] : 1.f;
      const float bc = bias ? bias[c] : 0.f;
      a[static_cast<size_t>(c)] = rstd[static_cast<size_t>(g)] * wc;
      b[static_cast<size_t>(c)] = bc - mean[static_cast<size_t>(g)] * rstd[static_cast<size_t>(g)] * wc;
    }
    pool.parallel_for(bands, [&](int64_t t, int) {
      const int64_t end = std::min(pixels, (t + 1) * band);
      const float* pa = a.data();
      const float* pb = b.data();
      for (int64_t p = t * band; p < end; ++p) {
        const float* row = xs + p * channels;
        float* dst = os + p * channels;
        for (int64_t c = 0; c < channels; ++c) dst[c] = row[c] * pa[c] + pb[c];
        if (silu)
          for (int64_t c = 0; c < channels; ++c) dst[c] = silu_scalar(dst[c]);
      }
    });
  }
}

void group_norm_reference(const float* x, float* out, int64_t batch, int64_t channels, int64_t pixels, int64_t groups,
                          float eps, const float* weight, const float* bias, bool silu) {
  const int64_t per_group = channels / groups;
  for (int64_t s = 0; s < batch; ++s)
    for (int64_t g = 0; g < groups; ++g) {
      const float* base = x + (s * channels + g * per_group) * pixels;
      const int64_t n = per_group * pixels;
      double mean = 0;
      for (int64_t i = 0; i < n; ++i) mean += base[i];
      mean /= static_cast<double>(n);
      double var = 0;
      for (int64_t i = 0; i < n; ++i) var += (base[i] - mean) * (base[i] - mean);
      var /= static_cast<double>(n);
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c)
        for (int64_t p = 0; p < pixels; ++p) {
          const int64_t i = (s * channels + c) * pixels + p;
          double v = (x[i] - mean) * rstd * (weight ? weight[c] : 1.0) + (bias ? bias[c] : 0.0);
          if (silu) v = v / (1.0 + std::exp(-v));
          out[i] = static_cast<float>(v);
        }
    }
}

}  // namespace ditto::cpu
