// Nearest 2x upsampling, channels-last (ditto/cpu/upsample.h): each input pixel's C floats are copied to its four
// output pixels; parallel over output rows. A copy kernel: no ISA twins (memcpy is already vectorised).
#include "ditto/cpu/upsample.h"

#include <cstring>

namespace ditto::cpu {

void upsample_nearest2x_nhwc(ThreadPool& pool, const float* x, float* out, int64_t batch, int64_t h, int64_t w,
                             int64_t channels) {
  if (batch <= 0 || h <= 0 || w <= 0 || channels <= 0) return;
  const size_t pixel_bytes = static_cast<size_t>(channels) * sizeof(float);
  pool.parallel_for(batch * 2 * h, [&](int64_t row, int) {
    const int64_t b = row / (2 * h), oy = row % (2 * h);
    const float* src = x + (b * h + oy / 2) * w * channels;
    float* dst = out + row * 2 * w * channels;
    for (int64_t ix = 0; ix < w; ++ix) {
      std::memcpy(dst + (2 * ix) * channels, src + ix * channels, pixel_bytes);
      std::memcpy(dst + (2 * ix + 1) * channels, src + ix * channels, pixel_bytes);
    }
  });
}

void upsample_nearest2x_reference(const float* x, float* out, int64_t batch, int64_t channels, int64_t h, int64_t w) {
  const int64_t ho = 2 * h, wo = 2 * w;
  for (int64_t bc = 0; bc < batch * channels; ++bc)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        out[(bc * ho + oy) * wo + ox] = x[(bc * h + oy * h / ho) * w + ox * w / wo];
}

}  // namespace ditto::cpu
