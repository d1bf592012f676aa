// Tensor: a dense row-major array with a dtype and a shape over shared storage. Storage is either owned
// (64-byte aligned heap) or borrowed from an mmap'd safetensors file; the shared_ptr keeps it alive.
// Views (reshape, dim-0 slices) share storage; nothing here ever copies implicitly. A tensor may live in a
// backend's device memory (device() >= 0, a CUDA ordinal; borrow_device): its bytes are only touched through
// that backend's BackendOps (ditto/executor.h), so clone() / to() refuse it (docs/cuda.md, "Device tensors").
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ditto/status.h"

namespace ditto {

enum class DType : uint8_t { F32, BF16, F16, I64, I32, U8, F64 };  // F64: read-only data (e.g. metric stats)

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...

using Shape = std::vector<int64_t>;
std::string shape_string(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised owned tensor; fails with kOutOfMemory instead of throwing.
  static Result<Tensor> empty(DType dtype, Shape shape);
  static Result<Tensor> zeros(DType dtype, Shape shape);
  // A tensor over memory someone else owns; `owner` keeps it alive (may be null for static data).
  static Tensor borrow(std::shared_ptr<const void> owner, void* data, DType dtype, Shape shape);
  // A tensor in device memory of CUDA device `device` (>= 0); `owner` frees it.
  static Tensor borrow_device(std::shared_ptr<const void> owner, void* data, DType dtype, Shape shape, int device);

  int device() const { return device_; }  // -1: host memory; N: cuda:N
  bool on_host() const { return device_ < 0; }
  std::string device_name() const;       // "cpu" / "cuda:N"

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }
  void* raw() { return data_; }
  const void* raw() const { return data_; }

  // Same storage, new shape with the same element count.
  Result<Tensor> reshape(Shape shape) const;
  // Rows [begin, end) along dim 0, sharing storage.
  Result<Tensor> slice0(int64_t begin, int64_t end) const;
  // Deep copy into owned storage.
  Result<Tensor> clone() const;
  // Converted copy (F32 <-> BF16/F16, I32 <-> I64; identity makes a copy).
  Result<Tensor> to(DType dtype) const;

 private:
  std::shared_ptr<const void> storage_;
  void* data_ = nullptr;
  DType dtype_ = DType::F32;
  Shape shape_;
  int device_ = -1;
};

// bf16 / f16 scalar conversions (round-to-nearest-even), shared by kernels and loaders.
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t x);
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t x);

}  // namespace ditto
