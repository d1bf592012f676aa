// conv2d_nhwc: im2col in bands of output rows + the shared packed GEMM (ditto/cpu/conv2d.h). The band size keeps
// the gathered patches near 8 MiB whatever the image size (a 512x512 decode with 128 channels would need 1.2 GB
// at once); each band is gathered in parallel over its rows, then multiplied by the GEMM, which threads itself.
// Follows torch.nn.functional.conv2d (cross-correlation, zero padding); the oracle is conv2d_reference.
#include "ditto/cpu/conv2d.h"

#include <algorithm>
#include <cstring>

namespace ditto::cpu {

int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after) {
  const int64_t span = in + pad_before + pad_after - kernel;
  if (span < 0 || stride <= 0) return 0;
  return span / stride + 1;
}

Result<Conv2dWeight> pack_conv2d(const float* w, const float* bias, int64_t out_channels, int64_t in_channels,
                                 int64_t kernel_h, int64_t kernel_w, DType dtype, Isa isa) {
  const int64_t k = in_channels * kernel_h * kernel_w;
  // [c_out, c_in, kh, kw] -> [c_out, kh, kw, c_in]: a patch row gathers whole pixels (c_in contiguous floats).
  std::vector<float> reordered(static_cast<size_t>(out_channels * k));
  for (int64_t o = 0; o < out_channels; ++o)
    for (int64_t c = 0; c < in_channels; ++c)
      for (int64_t ky = 0; ky < kernel_h; ++ky)
        for (int64_t kx = 0; kx < kernel_w; ++kx)
          reordered[static_cast<size_t>(o * k + (ky * kernel_w + kx) * in_channels + c)] =
              w[((o * in_channels + c) * kernel_h + ky) * kernel_w + kx];
  Conv2dWeight out;
  DITTO_ASSIGN_OR_RETURN(out.packed, PackedWeight::pack(reordered.data(), out_channels, k, dtype, isa));
  if (bias) out.bias.assign(bias, bias + out_channels);
  out.out_channels = out_channels;
  out.in_channels = in_channels;
  out.kernel_h = kernel_h;
  out.kernel_w = kernel_w;
  return out;
}

void conv2d_nhwc(ThreadPool& pool, const Conv2dWeight& weight, const Conv2dGeometry& g, const float* x,
                 int64_t batch, int64_t h, int64_t w, float* out) {
  const int64_t cin = weight.in_channels, cout = weight.out_channels;
  const int64_t kh = weight.kernel_h, kw = weight.kernel_w;
  const int64_t ho = conv2d_output_size(h, kh, g.stride, g.pad_top, g.pad_bottom);
  const int64_t wo = conv2d_output_size(w, kw, g.stride, g.pad_left, g.pad_right);
  if (batch <= 0 || ho <= 0 || wo <= 0 || cout <= 0) return;
  Epilogue epilogue;
  epilogue.bias = weight.bias.empty() ? nullptr : weight.bias.data();
  const bool pointwise = kh == 1 && kw == 1 && g.stride == 1 && g.pad_top == 0 && g.pad_left == 0 &&
                         g.pad_bottom == 0 && g.pad_right == 0;
  if (pointwise) {
    linear(pool, x, batch * h * w, cin, weight.packed, out, cout, epilogue);
    return;
  }
  const int64_t k = kh * kw * cin;
  const int64_t band_rows = std::clamp<int64_t>((int64_t{8} << 20) / (4 * k * wo), 1, ho);
  std::vector<float> patches(static_cast<size_t>(band_rows * wo * k));
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x + b * h * w * cin;
    float* ob = out + b * ho * wo * cout;
    for (int64_t y0 = 0; y0 < ho; y0 += band_rows) {
      const int64_t rows = std::min(band_rows, ho - y0);
      pool.parallel_for(rows, [&](int64_t r, int) {
        const int64_t oy = y0 + r;
        for (int64_t ox = 0; ox < wo; ++ox) {
          float* row = patches.data() + (r * wo + ox) * k;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * g.stride + ky - g.pad_top;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ox * g.stride + kx - g.pad_left;
              float* dst = row + (ky * kw + kx) * cin;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                std::memset(dst, 0, static_cast<size_t>(cin) * sizeof(float));
              } else {
                std::memcpy(dst, xb + (iy * w + ix) * cin, static_cast<size_t>(cin) * sizeof(float));
              }
            }
          }
        }
      });
      linear(pool, patches.data(), rows * wo, k, weight.packed, ob + y0 * wo * cout, cout, epilogue);
    }
  }
}

void conv2d_reference(const float* x, int64_t batch, int64_t in_channels, int64_t h, int64_t w, const float* weight,
                      const float* bias, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                      const Conv2dGeometry& g, float* out) {
  const int64_t ho = conv2d_output_size(h, kernel_h, g.stride, g.pad_top, g.pad_bottom);
  const int64_t wo = conv2d_output_size(w, kernel_w, g.stride, g.pad_left, g.pad_right);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < out_channels; ++o)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < in_channels; ++c)
            for (int64_t ky = 0; ky < kernel_h; ++ky) {
              const int64_t iy = oy * g.stride + ky - g.pad_top;
              if (iy < 0 || iy >= h) continue;
              for (int64_t kx = 0; kx < kernel_w; ++kx) {
                const int64_t ix = ox * g.stride + kx - g.pad_left;
                if (ix < 0 || ix >= w) continue;
                acc += double(x[((b * in_channels + c) * h + iy) * w + ix]) *
                       weight[((o * in_channels + c) * kernel_h + ky) * kernel_w + kx];
              }
            }
          out[((b * out_channels + o) * ho + oy) * wo + ox] = static_cast<float>(acc);
        }
}

}  // namespace ditto::cpu
