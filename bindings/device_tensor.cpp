// Device tensor arithmetic and copies for the binding (see device_tensor.h).
#include "device_tensor.h"

#include <cmath>
#include <string>

#include "ditto/cpu/finite.h"
#include "errors.h"

namespace ditto_node::device_tensor {

void RequireSameDevice(Napi::Env env, const ditto::Tensor& a, const ditto::Tensor& b, const char* what) {
  if (a.device() == b.device()) return;
  ThrowIfError(env, ditto::invalid_argument(std::string("Expected ") + what + " on " + a.device_name() +
                                            " (where this is) but it is on " + b.device_name()));
}

ditto::Tensor Empty(Napi::Env env, ditto::BackendOps& ops, const ditto::Shape& shape, int device) {
  auto buffer = ops.allocate(std::max<int64_t>(ditto::shape_numel(shape), 1));
  ThrowIfError(env, buffer.status());
  std::shared_ptr<float> data = buffer.value().data;
  float* raw = data.get();
  return ditto::Tensor::borrow_device(std::move(data), raw, ditto::DType::F32, shape, device);
}

ditto::Tensor Upload(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& host, int device) {
  if (host.dtype() != ditto::DType::F32) ThrowTypeError(env, "Expected a float32 tensor for tensor");
  ditto::Tensor out = Empty(env, ops, host.shape(), device);
  ThrowIfError(env, ops.upload(out.data<float>(), host.data<float>(), host.numel()));
  return out;
}

void Download(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& t, float* host) {
  ThrowIfError(env, ops.download(host, t.data<float>(), t.numel()));
}

ditto::Tensor Axpby(Napi::Env env, ditto::BackendOps& ops, float a, const ditto::Tensor& x, float b,
                    const ditto::Tensor& y) {
  ditto::Tensor out = Empty(env, ops, x.shape(), x.device());
  ThrowIfError(env, ops.axpby(a, x.data<float>(), b, y.data<float>(), out.data<float>(), x.numel()));
  return out;
}

ditto::Tensor Mul(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& x, const ditto::Tensor& y) {
  ditto::Tensor out = Empty(env, ops, x.shape(), x.device());
  ThrowIfError(env, ops.mul(x.data<float>(), y.data<float>(), out.data<float>(), x.numel()));
  return out;
}

ditto::Tensor Lerp(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& x, const ditto::Tensor& y, float w) {
  ditto::Tensor out = Empty(env, ops, x.shape(), x.device());
  ThrowIfError(env, ops.lerp(x.data<float>(), y.data<float>(), w, out.data<float>(), x.numel()));
  return out;
}

ditto::Tensor Combine(Napi::Env env, ditto::BackendOps& ops, const std::vector<const ditto::Tensor*>& parts,
                      const std::vector<float>& c) {
  const ditto::Tensor& first = *parts[0];
  ditto::Tensor out = Empty(env, ops, first.shape(), first.device());
  const int64_t n = first.numel();
  float* acc = out.data<float>();
  ThrowIfError(env, ops.axpby(c[0], first.data<float>(), 0.f, first.data<float>(), acc, n));
  for (size_t j = 1; j < parts.size(); ++j)
    ThrowIfError(env, ops.axpby(1.f, acc, c[j], parts[j]->data<float>(), acc, n));
  return out;
}

ditto::Tensor Concat(Napi::Env env, ditto::BackendOps& ops, const std::vector<const ditto::Tensor*>& parts,
                     const ditto::Shape& shape) {
  ditto::Tensor out = Empty(env, ops, shape, parts[0]->device());
  float* dst = out.data<float>();
  for (const ditto::Tensor* part : parts) {
    if (part->numel() > 0) ThrowIfError(env, ops.copy(dst, part->data<float>(), part->numel()));
    dst += part->numel();
  }
  return out;
}

double CountNonFinite(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& t) {
  const int64_t n = t.numel();
  if (n == 0) return 0;
  float dot = 0, norm_x = 0, norm_y = 0;
  ThrowIfError(env, ops.dot_norm(t.data<float>(), t.data<float>(), 1, n, &dot, &norm_x, &norm_y));
  if (std::isfinite(dot)) return 0;
  // Something is NaN / Inf, or finite values overflow the sum of squares: count exactly on the host.
  std::vector<float> host(static_cast<size_t>(n));
  Download(env, ops, t, host.data());
  return static_cast<double>(ditto::cpu::count_non_finite(host.data(), ditto::DType::F32, n));
}

}  // namespace ditto_node::device_tensor
