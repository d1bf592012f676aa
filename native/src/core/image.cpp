// model_to_u8_nhwc (ditto/image.h): one pass over the NCHW input, writing each pixel's channels interleaved.
#include "ditto/image.h"

namespace ditto {

void model_to_u8_nhwc(const float* x, int64_t count, int64_t channels, int64_t height, int64_t width, uint8_t* out) {
  const int64_t plane = height * width;
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* src = x + (n * channels + c) * plane;
      uint8_t* dst = out + n * plane * channels + c;
      for (int64_t p = 0; p < plane; ++p) {
        // Two float32 roundings, as torch (and quantize.ts's Math.fround pair) compute it; never contracted to
        // an FMA (baseline x86-64 flags).
        const float scaled = 127.5f * src[p];
        const float v = scaled + 128.f;
        dst[p * channels] = v >= 255.f ? 255 : v > 0.f ? static_cast<uint8_t>(v) : 0;  // NaN fails both: 0
      }
    }
  }
}

}  // namespace ditto
