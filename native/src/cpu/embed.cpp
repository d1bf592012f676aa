// DiT embeddings and layout ops: sinusoidal timestep features (diffusers get_timestep_embedding / official DiT
// TimestepEmbedder.timestep_embedding, float32 in their op order), the 2-D sin-cos position table (MAE /
// diffusers get_2d_sincos_pos_embed, float64 then cast), patchify (Conv2d-with-stride-p weight order),
// unpatchify (DiT's einsum nhwpqc->nchpwq) and embedding-table lookup. Conventions: shared/golden/README.md.
#include "ditto/cpu/embed.h"

#include <cmath>
#include <string>

namespace ditto::cpu {

void timestep_embedding(const float* t, int64_t n, int64_t dim, float max_period, float downscale_freq_shift,
                        bool flip_sin_to_cos, float* out) {
  const int64_t half = dim / 2;
  // The reference computes `-math.log(max_period) * arange(half, float32)`: a float32 multiply by the
  // Python float rounded to float32, then a float32 divide by (half - shift), then float32 exp.
  const float neg_log_period = static_cast<float>(-std::log(static_cast<double>(max_period)));
  const float denom = static_cast<float>(half) - downscale_freq_shift;
  for (int64_t r = 0; r < n; ++r) {
    float* row = out + r * dim;
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = (neg_log_period * static_cast<float>(i)) / denom;
      const float freq = std::exp(exponent);
      const float arg = t[r] * freq;
      // Accurate sin/cos of the float32 argument: evaluate in double and round once (arguments reach ~1000 rad).
      const float s = static_cast<float>(std::sin(static_cast<double>(arg)));
      const float c = static_cast<float>(std::cos(static_cast<double>(arg)));
      row[i] = flip_sin_to_cos ? c : s;
      row[half + i] = flip_sin_to_cos ? s : c;
    }
    if (dim % 2) row[dim - 1] = 0.f;
  }
}

void sincos_2d_table(int64_t grid_h, int64_t grid_w, int64_t dim, double pos_scale_h, double pos_scale_w, float* out) {
  // Each half of a row (dim/2) embeds one coordinate as [sin(p·ω) | cos(p·ω)] with dim/4 frequencies.
  const int64_t quarter = dim / 4;
  const int64_t half = dim / 2;
  for (int64_t row = 0; row < grid_h; ++row) {
    const double p_row = static_cast<double>(row) / pos_scale_h;
    for (int64_t col = 0; col < grid_w; ++col) {
      const double p_col = static_cast<double>(col) / pos_scale_w;
      float* dst = out + (row * grid_w + col) * dim;
      for (int64_t j = 0; j < quarter; ++j) {
        const double omega = 1.0 / std::pow(10000.0, static_cast<double>(j) / static_cast<double>(quarter));
        dst[j] = static_cast<float>(std::sin(p_col * omega));
        dst[quarter + j] = static_cast<float>(std::cos(p_col * omega));
        dst[half + j] = static_cast<float>(std::sin(p_row * omega));
        dst[half + quarter + j] = static_cast<float>(std::cos(p_row * omega));
      }
    }
  }
}

void patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
              float* tokens) {
  const int64_t gh = height / patch, gw = width / patch;
  const int64_t features = channels * patch * patch;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* plane = x + (b * channels + c) * height * width;
      for (int64_t y = 0; y < gh * patch; ++y) {
        const int64_t gy = y / patch, py = y % patch;
        for (int64_t gx = 0; gx < gw; ++gx) {
          float* dst = tokens + ((b * gh + gy) * gw + gx) * features + c * patch * patch + py * patch;
          const float* src = plane + y * width + gx * patch;
          for (int64_t px = 0; px < patch; ++px) dst[px] = src[px];
        }
      }
    }
  }
}

void unpatchify(const float* tokens, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                float* x) {
  const int64_t gh = height / patch, gw = width / patch;
  const int64_t features = patch * patch * channels;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      float* plane = x + (b * channels + c) * height * width;
      for (int64_t y = 0; y < gh * patch; ++y) {
        const int64_t gy = y / patch, py = y % patch;
        for (int64_t xx = 0; xx < gw * patch; ++xx) {
          const int64_t gx = xx / patch, px = xx % patch;
          plane[y * width + xx] = tokens[((b * gh + gy) * gw + gx) * features + (py * patch + px) * channels + c];
        }
      }
    }
  }
}

void patchify_3d(const float* x, int64_t batch, int64_t channels, int64_t frames, int64_t height, int64_t width,
                 int64_t pt, int64_t ph, int64_t pw, float* tokens) {
  const int64_t gf = frames / pt, gh = height / ph, gw = width / pw;
  const int64_t features = channels * pt * ph * pw;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t f = 0; f < gf * pt; ++f)
        for (int64_t y = 0; y < gh * ph; ++y) {
          const float* src = x + (((b * channels + c) * frames + f) * height + y) * width;
          const int64_t token_row = (b * gf + f / pt) * gh + y / ph;
          const int64_t feature = c * pt * ph * pw + ((f % pt) * ph + y % ph) * pw;
          for (int64_t xx = 0; xx < gw * pw; ++xx)
            tokens[(token_row * gw + xx / pw) * features + feature + xx % pw] = src[xx];
        }
}

void unpatchify_3d(const float* tokens, int64_t batch, int64_t channels, int64_t frames, int64_t height,
                   int64_t width, int64_t pt, int64_t ph, int64_t pw, float* x) {
  const int64_t gf = frames / pt, gh = height / ph, gw = width / pw;
  const int64_t features = pt * ph * pw * channels;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t f = 0; f < gf * pt; ++f)
        for (int64_t y = 0; y < gh * ph; ++y) {
          float* dst = x + (((b * channels + c) * frames + f) * height + y) * width;
          const int64_t token_row = (b * gf + f / pt) * gh + y / ph;
          const int64_t feature = ((f % pt) * ph + y % ph) * pw;
          for (int64_t xx = 0; xx < gw * pw; ++xx)
            dst[xx] = tokens[(token_row * gw + xx / pw) * features + (feature + xx % pw) * channels + c];
        }
}

Status embedding_lookup(const float* table, int64_t rows, int64_t dim, const int64_t* ids, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= rows) {
      return invalid_argument("Embedding id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                              " is outside [0, " + std::to_string(rows) + ")");
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const float* src = table + ids[i] * dim;
    float* dst = out + i * dim;
    for (int64_t d = 0; d < dim; ++d) dst[d] = src[d];
  }
  return Status::Ok();
}

}  // namespace ditto::cpu
