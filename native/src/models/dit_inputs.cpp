// The DiT input checks with their user-facing messages, shared by the CPU DitModel and the CUDA CudaDit
// (native/src/cuda/dit_cuda.cpp), so both backends answer the same inputs the same way.
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

}  // namespace ditto::dit
