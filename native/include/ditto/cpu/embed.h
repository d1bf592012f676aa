// Embeddings and layout ops of DiT-style models: sinusoidal timestep features, 2-D sin-cos position tables,
// patchify / unpatchify, embedding-table lookup. Conventions follow shared/golden/README.md exactly.
#pragma once
#include <cstdint>

#include "ditto/status.h"

namespace ditto::cpu {

// Sinusoidal timestep features, `dim` wide, in the reference op order (all float32):
//   freq_i = exp((-ln(max_period) * i) / (half - downscale_freq_shift)),  arg = t * freq_i
//   out = [cos(arg) | sin(arg)] if flip_sin_to_cos, else [sin | cos]; odd dim gets a zero pad column.
// sin/cos are evaluated accurately (double precision of the float32 argument, then rounded) because
// arguments reach ~1000 rad where sloppy approximations drift (golden README).
void timestep_embedding(const float* t, int64_t n, int64_t dim, float max_period, float downscale_freq_shift,
                        bool flip_sin_to_cos, float* out);

// Fixed 2-D sin-cos table [grid_h*grid_w, dim], token = row*grid_w + col, each row = [e(col) | e(row)],
// e(p) = [sin(p·ω_j) | cos(p·ω_j)], ω_j = 10000^(-j/(dim/4)), computed in double then cast to float.
// Positions p = index / pos_scale (official DiT: pos_scale = 1; diffusers: (n/base_size)*interpolation_scale).
void sincos_2d_table(int64_t grid_h, int64_t grid_w, int64_t dim, double pos_scale_h, double pos_scale_w, float* out);

// x [B,C,H,W] -> tokens [B, (H/p)*(W/p), C*p*p] with feature index c*p*p + py*p + px (Conv2d weight order),
// so patch embedding is patchify + Linear with weight conv.weight.reshape(D, C*p*p).
void patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
              float* tokens);
// tokens [B, T, p*p*C] with feature index (py*p + px)*C + c  ->  x [B,C,H,W]   (einsum nhwpqc->nchpwq)
void unpatchify(const float* tokens, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                float* x);

// Video latents x [B,C,F,H,W] -> tokens [B, (F/pt)*(H/ph)*(W/pw), C*pt*ph*pw], token (f*H' + h)*W' + w, feature
// c*pt*ph*pw + (i*ph + j)*pw + k (Conv3d-with-stride weight order, Wan2.1's patch_embedding).
void patchify_3d(const float* x, int64_t batch, int64_t channels, int64_t frames, int64_t height, int64_t width,
                 int64_t pt, int64_t ph, int64_t pw, float* tokens);
// tokens [B, T, pt*ph*pw*C] with feature ((i*ph + j)*pw + k)*C + c -> x [B,C,F,H,W]
// (Wan: reshape(B,F',H',W',pt,ph,pw,C).permute(0,7,1,4,2,5,3,6)).
void unpatchify_3d(const float* tokens, int64_t batch, int64_t channels, int64_t frames, int64_t height,
                   int64_t width, int64_t pt, int64_t ph, int64_t pw, float* x);

// out[i,:] = table[ids[i],:]; an id outside [0, rows) is kInvalidArgument naming the id and the range.
Status embedding_lookup(const float* table, int64_t rows, int64_t dim, const int64_t* ids, int64_t n, float* out);

}  // namespace ditto::cpu
