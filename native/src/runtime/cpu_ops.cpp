// CpuOps: the executor's op table on the host (see cpu_ops.h).
#include "runtime/cpu_ops.h"

#include <cstring>

#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/reductions.h"

namespace ditto {

Result<BackendBuffer> CpuOps::allocate(int64_t floats) {
  DITTO_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(DType::F32, {floats}));
  auto holder = std::make_shared<Tensor>(std::move(t));
  BackendBuffer b;
  b.data = std::shared_ptr<float>(holder, holder->data<float>());  // aliasing: the tensor owns the memory
  b.floats = floats;
  return b;
}

Status CpuOps::copy(float* dst, const float* src, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  return Status::Ok();
}

Status CpuOps::lerp(const float* x, const float* y, float w, float* out, int64_t n) {
  cpu::lerp(pool_, x, y, w, out, n);
  return Status::Ok();
}

Status CpuOps::axpby(float a, const float* x, float b, const float* y, float* out, int64_t n) {
  cpu::axpby(pool_, a, x, b, y, out, n);
  return Status::Ok();
}

Status CpuOps::mul(const float* x, const float* y, float* out, int64_t n) {
  cpu::mul(pool_, x, y, out, n);
  return Status::Ok();
}

Status CpuOps::relative_l1(const float* cur, const float* ref, int64_t batch, int64_t n, float* rel_l1) {
  cpu::relative_l1(pool_, cur, ref, batch, n, rel_l1);
  return Status::Ok();
}

Status CpuOps::dot_norm(const float* x, const float* y, int64_t batch, int64_t n, float* dot, float* norm_x,
                        float* norm_y) {
  cpu::dot_norm(pool_, x, y, batch, n, dot, norm_x, norm_y);
  return Status::Ok();
}

}  // namespace ditto
