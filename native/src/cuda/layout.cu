// Patchify / unpatchify for DiT-style models, element for element the CPU engine's layout
// (ditto/cpu/embed.h): tokens[b, (py_grid*Wp + px_grid), c*p*p + py*p + px] (Conv2d weight order) and back
// from feature order (py*p + px)*C + c (DiT's einsum nhwpqc->nchpwq). One thread per element.
#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

__global__ void patchify_kernel(const float* __restrict__ x, int64_t batch, int64_t channels, int64_t height,
                                int64_t width, int64_t patch, float* tokens) {
  const int64_t total = batch * channels * height * width;
  const int64_t wp = width / patch, hp = height / patch, feat = channels * patch * patch;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t xx = e % width, yy = (e / width) % height, c = (e / (width * height)) % channels;
    const int64_t b = e / (width * height * channels);
    const int64_t token = (yy / patch) * wp + xx / patch;
    const int64_t f = c * patch * patch + (yy % patch) * patch + xx % patch;
    tokens[(b * hp * wp + token) * feat + f] = x[e];
  }
}

__global__ void unpatchify_kernel(const float* __restrict__ tokens, int64_t batch, int64_t channels, int64_t height,
                                  int64_t width, int64_t patch, float* x) {
  const int64_t total = batch * channels * height * width;
  const int64_t wp = width / patch, hp = height / patch, feat = channels * patch * patch;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t xx = e % width, yy = (e / width) % height, c = (e / (width * height)) % channels;
    const int64_t b = e / (width * height * channels);
    const int64_t token = (yy / patch) * wp + xx / patch;
    const int64_t f = ((yy % patch) * patch + xx % patch) * channels + c;
    x[e] = tokens[(b * hp * wp + token) * feat + f];
  }
}

Status check_layout(int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch) {
  if (batch < 0 || channels <= 0 || patch <= 0 || height <= 0 || width <= 0 || height % patch || width % patch) {
    return invalid_argument("patchify: height and width must be positive multiples of the patch size");
  }
  return Status::Ok();
}

}  // namespace

Status patchify(const float* x, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                float* tokens, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(check_layout(batch, channels, height, width, patch));
  const int64_t total = batch * channels * height * width;
  if (total == 0) return Status::Ok();
  patchify_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(x, batch, channels, height, width, patch, tokens);
  return cuda_status(cudaGetLastError(), "patchify launch");
}

Status unpatchify(const float* tokens, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t patch,
                  float* x, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(check_layout(batch, channels, height, width, patch));
  const int64_t total = batch * channels * height * width;
  if (total == 0) return Status::Ok();
  unpatchify_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(tokens, batch, channels, height, width, patch, x);
  return cuda_status(cudaGetLastError(), "unpatchify launch");
}

}  // namespace ditto::cuda
