// Model-space images to u8 pixels, as DiT's sample.py and the glyph fixture convert them (src/images/quantize.ts
// is the TypeScript reference): NCHW float in [-1, 1] → NHWC u8 with u8 = trunc(clamp(127.5·x + 128, 0, 255))
// computed in float32; NaN → 0.
#pragma once
#include <cstdint>

namespace ditto {

void model_to_u8_nhwc(const float* x, int64_t count, int64_t channels, int64_t height, int64_t width, uint8_t* out);

}  // namespace ditto
