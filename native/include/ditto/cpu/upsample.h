// Nearest-neighbour 2x upsampling of channels-last activations: F.interpolate(x, scale_factor=2.0,
// mode="nearest") as diffusers' Upsample2D applies it before its 3x3 convolution (out[2y+i, 2x+j] = in[y, x]).
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

// x [batch, h, w, channels] -> out [batch, 2h, 2w, channels]; out must not alias x.
void upsample_nearest2x_nhwc(ThreadPool& pool, const float* x, float* out, int64_t batch, int64_t h, int64_t w,
                             int64_t channels);

// The oracle in channels-first layout, with PyTorch's source index floor(dst * in / out).
void upsample_nearest2x_reference(const float* x, float* out, int64_t batch, int64_t channels, int64_t h, int64_t w);

}  // namespace ditto::cpu
