// 2-D convolution for the VAE (diffusers AutoencoderKL: 3x3 pad 1, 3x3 stride 2 after a (0,1,0,1) pad, 1x1).
// Activations are channels-last ([B, H, W, C], a pixel is a row of C floats), so a convolution is one GEMM:
// each output pixel's receptive field is gathered into a row (im2col, in bands of output rows so the gathered
// buffer stays small) and multiplied by the weight packed once at load time through the shared GEMM
// (ditto/cpu/gemm.h), which carries the per-ISA kernels; a 1x1 stride-1 convolution is the GEMM alone.
#pragma once
#include <cstdint>
#include <vector>

#include "ditto/cpu/gemm.h"
#include "ditto/status.h"
#include "ditto/thread_pool.h"

namespace ditto::cpu {

struct Conv2dGeometry {
  int64_t stride = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // zero padding per side
};

// A convolution's weight, packed for the GEMM with its columns ordered (ky, kx, c_in) to match channels-last
// patches, and its bias.
struct Conv2dWeight {
  PackedWeight packed;
  std::vector<float> bias;  // empty = no bias
  int64_t out_channels = 0, in_channels = 0, kernel_h = 0, kernel_w = 0;
};

// w in PyTorch layout [c_out, c_in, kh, kw]; bias [c_out] or null.
Result<Conv2dWeight> pack_conv2d(const float* w, const float* bias, int64_t out_channels, int64_t in_channels,
                                 int64_t kernel_h, int64_t kernel_w, DType dtype = DType::F32, Isa isa = best_isa());

// Output size of one spatial dimension: (in + pad_before + pad_after - kernel) / stride + 1.
int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after);

// x [batch, h, w, c_in] -> out [batch, h_out, w_out, c_out], channels-last. out must not alias x.
void conv2d_nhwc(ThreadPool& pool, const Conv2dWeight& weight, const Conv2dGeometry& geometry, const float* x,
                 int64_t batch, int64_t h, int64_t w, float* out);

// The oracle: direct convolution in PyTorch's channels-first layout (x [B, C_in, H, W], w [C_out, C_in, kh, kw],
// out [B, C_out, H_out, W_out]) with double accumulation.
void conv2d_reference(const float* x, int64_t batch, int64_t in_channels, int64_t h, int64_t w, const float* weight,
                      const float* bias, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                      const Conv2dGeometry& geometry, float* out);

}  // namespace ditto::cpu
