// Tensor storage (owned blocks through the storage cache, core/storage_cache.h), views, copies and scalar dtype
// conversions.
#include "ditto/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/storage_cache.h"

namespace ditto {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
    case DType::F64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::F64: return "F64";
  }
  return "?";
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<Tensor> Tensor::empty(DType dtype, Shape shape) {
  for (int64_t d : shape)
    if (d < 0) return invalid_argument("Negative dimension in shape " + shape_string(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  const size_t bytes = t.nbytes();
  // Large blocks come from (and go back to) the storage cache: reused memory is already mapped (storage_cache.h).
  const detail::StorageBlock block = detail::storage_acquire(bytes);
  if (!block.ptr) return out_of_memory("Could not allocate " + std::to_string(bytes) + " bytes for a tensor");
  t.storage_ = std::shared_ptr<const void>(block.ptr, [block](const void*) { detail::storage_release(block); });
  t.data_ = block.ptr;
  return t;
}

Result<Tensor> Tensor::zeros(DType dtype, Shape shape) {
  DITTO_ASSIGN_OR_RETURN(Tensor t, empty(dtype, std::move(shape)));
  std::memset(t.data_, 0, t.nbytes());
  return t;
}

Tensor Tensor::borrow(std::shared_ptr<const void> owner, void* data, DType dtype, Shape shape) {
  Tensor t;
  t.storage_ = std::move(owner);
  t.data_ = data;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::borrow_device(std::shared_ptr<const void> owner, void* data, DType dtype, Shape shape, int device) {
  Tensor t = borrow(std::move(owner), data, dtype, std::move(shape));
  t.device_ = device < 0 ? 0 : device;
  return t;
}

std::string Tensor::device_name() const { return on_host() ? "cpu" : "cuda:" + std::to_string(device_); }

Result<Tensor> Tensor::reshape(Shape shape) const {
  if (shape_numel(shape) != numel())
    return invalid_argument("Cannot reshape " + shape_string(shape_) + " to " + shape_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Result<Tensor> Tensor::slice0(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end < begin || end > shape_[0])
    return invalid_argument("Slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " +
                            shape_string(shape_));
  Tensor t = *this;
  int64_t row = numel() / (shape_[0] == 0 ? 1 : shape_[0]);
  t.data_ = static_cast<uint8_t*>(data_) + static_cast<size_t>(begin * row) * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

Result<Tensor> Tensor::clone() const {
  if (!on_host()) return invalid_argument("Cannot copy a tensor on " + device_name() + " on the host; use its backend's ops");
  DITTO_ASSIGN_OR_RETURN(Tensor t, empty(dtype_, shape_));
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Result<Tensor> Tensor::to(DType target) const {
  if (!on_host()) return invalid_argument("Cannot convert a tensor on " + device_name() + " on the host; use its backend's ops");
  if (target == dtype_) return clone();
  DITTO_ASSIGN_OR_RETURN(Tensor t, empty(target, shape_));
  const int64_t n = numel();
  auto as_f32 = [&](int64_t i) -> float {
    switch (dtype_) {
      case DType::F32: return data<float>()[i];
      case DType::BF16: return bf16_to_f32(data<uint16_t>()[i]);
      case DType::F16: return f16_to_f32(data<uint16_t>()[i]);
      case DType::I64: return static_cast<float>(data<int64_t>()[i]);
      case DType::I32: return static_cast<float>(data<int32_t>()[i]);
      case DType::U8: return static_cast<float>(data<uint8_t>()[i]);
      case DType::F64: return static_cast<float>(data<double>()[i]);
    }
    return 0.f;
  };
  const bool int_src = dtype_ == DType::I64 || dtype_ == DType::I32 || dtype_ == DType::U8;
  for (int64_t i = 0; i < n; ++i) {
    switch (target) {
      case DType::F32: t.data<float>()[i] = as_f32(i); break;
      case DType::BF16: t.data<uint16_t>()[i] = f32_to_bf16(as_f32(i)); break;
      case DType::F16: t.data<uint16_t>()[i] = f32_to_f16(as_f32(i)); break;
      case DType::I64:
        t.data<int64_t>()[i] = int_src ? (dtype_ == DType::I64 ? data<int64_t>()[i]
                                          : dtype_ == DType::I32 ? data<int32_t>()[i] : data<uint8_t>()[i])
                                       : static_cast<int64_t>(as_f32(i));
        break;
      case DType::I32:
        t.data<int32_t>()[i] = dtype_ == DType::I64 ? static_cast<int32_t>(data<int64_t>()[i])
                                                    : static_cast<int32_t>(as_f32(i));
        break;
      case DType::U8: t.data<uint8_t>()[i] = static_cast<uint8_t>(as_f32(i)); break;
      case DType::F64: t.data<double>()[i] = dtype_ == DType::I64 ? static_cast<double>(data<int64_t>()[i]) : as_f32(i); break;
    }
  }
  return t;
}

uint16_t f32_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_f32(uint16_t x) {
  uint32_t u = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float x) {
#if defined(__F16C__)
  return _cvtss_sh(x, 0);
#else
  _Float16 h = static_cast<_Float16>(x);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
#endif
}

float f16_to_f32(uint16_t x) {
  _Float16 h;
  std::memcpy(&h, &x, 2);
  return static_cast<float>(h);
}

}  // namespace ditto
