// What the CPU DitModel and the CUDA CudaDit (native/src/cuda/dit_cuda.cpp) share around the forward itself:
// the input checks with their user-facing messages, and classifier-free guidance as facebookresearch/DiT's
// forward_with_cfg (models.py) does it, so both backends answer the same inputs the same way.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "models/dit_internal.h"

namespace ditto::dit {

Status validate_forward_inputs(const DitConfig& c, int64_t label_rows, const Tensor& x, const std::vector<float>& t,
                               const std::vector<int64_t>& y, const ForwardOptions& options) {
  if (x.dtype() != DType::F32) return invalid_argument(std::string("Expected x of dtype F32 but received ") + dtype_name(x.dtype()));
  const bool any_size = c.layout == DitLayout::Diffusers;
  const bool size_ok = x.ndim() == 4 && (any_size ? (x.dim(2) >= c.patch_size && x.dim(3) >= c.patch_size &&
                                                     x.dim(2) % c.patch_size == 0 && x.dim(3) % c.patch_size == 0)
                                                  : (x.dim(2) == c.input_size && x.dim(3) == c.input_size));
  if (any_size && x.ndim() == 4 && x.dim(0) >= 1 && x.dim(1) == c.in_channels && !size_ok)
    return invalid_argument("Expected x of shape [B, " + std::to_string(c.in_channels) +
                            ", H, W] with H and W multiples of the patch size " + std::to_string(c.patch_size) +
                            " but received " + shape_string(x.shape()));
  if (x.ndim() != 4 || x.dim(0) < 1 || x.dim(1) != c.in_channels || !size_ok)
    return invalid_argument("Expected x of shape [B, " + std::to_string(c.in_channels) + ", " +
                            std::to_string(c.input_size) + ", " + std::to_string(c.input_size) +
                            "] with B >= 1 but received " + shape_string(x.shape()));
  const int64_t B = x.dim(0);
  if (static_cast<int64_t>(t.size()) != B)
    return invalid_argument("Expected " + std::to_string(B) + " timesteps (one per sample) but received " +
                            std::to_string(t.size()));
  if (static_cast<int64_t>(y.size()) != B)
    return invalid_argument("Expected " + std::to_string(B) + " labels (one per sample) but received " +
                            std::to_string(y.size()));
  for (int64_t i = 0; i < B; ++i) {
    if (!std::isfinite(t[i]))
      return invalid_argument("Expected finite timesteps but t[" + std::to_string(i) + "] is " + std::to_string(t[i]));
    if (y[i] < 0 || y[i] >= label_rows)
      return invalid_argument("Label " + std::to_string(y[i]) + " at index " + std::to_string(i) +
                              " is out of range [0, " + std::to_string(label_rows - 1) + "] (num_classes " +
                              std::to_string(c.num_classes) +
                              (label_rows > c.num_classes ? "; " + std::to_string(c.num_classes) + " is the null class)" : ")"));
  }
  if (!options.blocks.empty() && static_cast<int64_t>(options.blocks.size()) != c.depth)
    return invalid_argument("Expected " + std::to_string(c.depth) + " block actions (one per block) but received " +
                            std::to_string(options.blocks.size()));
  for (size_t i = 0; i < options.blocks.size(); ++i)
    if (options.blocks[i].kind == BlockActionKind::Scale && !std::isfinite(options.blocks[i].alpha))
      return invalid_argument("Expected a finite scale for block " + std::to_string(i));
  return Status::Ok();
}

Result<Tensor> forward_with_cfg(const Tensor& x, float cfg_scale, int64_t guided_channels,
                                const std::function<Result<Tensor>(const Tensor& combined)>& forward) {
  if (x.ndim() != 4 || x.dim(0) < 2 || x.dim(0) % 2 != 0 || x.dtype() != DType::F32)
    return invalid_argument("forward_with_cfg expects an F32 batch of 2N samples [2N, C, H, W] but received " +
                            shape_string(x.shape()));
  if (!std::isfinite(cfg_scale)) return invalid_argument("Expected a finite cfg_scale");
  // Official: half = x[:N]; model(cat([half, half]), t, y); guidance on channels [:guided_channels].
  const int64_t N = x.dim(0) / 2;
  const size_t half_bytes = x.nbytes() / 2;
  DITTO_ASSIGN_OR_RETURN(Tensor combined, Tensor::empty(DType::F32, x.shape()));
  std::memcpy(combined.raw(), x.raw(), half_bytes);
  std::memcpy(static_cast<uint8_t*>(combined.raw()) + half_bytes, x.raw(), half_bytes);
  DITTO_ASSIGN_OR_RETURN(Tensor out, forward(combined));
  const int64_t C = out.dim(1), plane = out.dim(2) * out.dim(3);
  const int64_t guided = std::min<int64_t>(std::max<int64_t>(guided_channels, 0), C);
  float* o = out.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < guided; ++ch) {
      float* cond = o + (n * C + ch) * plane;
      float* uncond = o + ((n + N) * C + ch) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        const float guided_value = uncond[i] + cfg_scale * (cond[i] - uncond[i]);
        cond[i] = guided_value;
        uncond[i] = guided_value;
      }
    }
  return out;
}

}  // namespace ditto::dit
