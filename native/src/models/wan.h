// The Wan2.1 family (wan.cpp): detection from tensor names, the CPU loader for the model registry, and its 3-D
// RoPE split (exposed for the unit test of the 44/42/42 split at head_dim 128).
#pragma once
#include <cstdint>

#include "ditto/model.h"
#include "ditto/safetensors.h"

namespace ditto::wan {

// head_dim split over (frame, row, col): d - 4*(d/6), 2*(d/6), 2*(d/6) (Wan2.1 WanModel / WanRotaryPosEmbed).
struct RopeAxes {
  int64_t frame = 0, row = 0, col = 0;
};
RopeAxes rope_axes(int64_t head_dim);
// Angle tables [F'*H'*W', head_dim/2] for the patch grid, token (f*H' + r)*W' + c: pairs [0, frame/2) rotate by
// f*ω, then row/2 pairs by r*ω, then col/2 by c*ω, ω_j = 10000^(-2j/axis_dim); float64, cast to float32.
void rope_tables(int64_t frames, int64_t rows, int64_t cols, int64_t head_dim, float* cos_out, float* sin_out);

Status detect(const SafetensorsFile& weights);
FamilyLoader cpu_loader();

}  // namespace ditto::wan
