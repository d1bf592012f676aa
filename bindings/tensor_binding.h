// NativeTensor: a JS handle (Napi::ObjectWrap) on a ditto::Tensor. Tensors stay native; toFloat32Array copies out.
// The light arithmetic the samplers need (combine, lerp, add/sub/mul, scale, concat, slice) runs natively on the
// calling thread through ditto/cpu/elementwise.h, never as per-element JS loops. A tensor on a device (returned by
// a CUDA model, or model.upload) carries that model's op table and computes there (device_tensor.h).
#pragma once
#include <napi.h>

#include <memory>

#include "ditto/executor.h"
#include "ditto/tensor.h"
#include "external_memory.h"

namespace ditto_node {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  // Wraps a tensor that owns its storage in a new JS NativeTensor, reporting its bytes as external memory.
  static Napi::Object NewInstance(Napi::Env env, ditto::Tensor tensor);
  // The same for a tensor that may live on a device: `device_ops` (the model's tensor_ops) computes on it.
  static Napi::Object NewInstance(Napi::Env env, ditto::Tensor tensor, std::shared_ptr<ditto::BackendOps> device_ops);
  // Wraps a view on `source`'s storage (reshape): it shares source's account, so the bytes count once and stay
  // reported while either handle lives.
  static Napi::Object NewView(Napi::Env env, ditto::Tensor view, const TensorWrap& source);
  // The tensor behind a JS value; throws TypeError (not a NativeTensor) or ERR_DISPOSED-style Error (disposed).
  static const ditto::Tensor& Get(Napi::Env env, const Napi::Value& value, const char* what);

  const ditto::Tensor& tensor() const { return tensor_; }
  const std::shared_ptr<ditto::BackendOps>& device_ops() const { return device_ops_; }

 private:
  void Reset(ditto::Tensor tensor, std::shared_ptr<ExternalMemory> memory);
  void Release();

  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value ToFloat32Array(const Napi::CallbackInfo& info);
  Napi::Value Clone(const Napi::CallbackInfo& info);
  Napi::Value Reshape(const Napi::CallbackInfo& info);
  Napi::Value Slice(const Napi::CallbackInfo& info);
  Napi::Value Lerp(const Napi::CallbackInfo& info);
  Napi::Value Binary(const Napi::CallbackInfo& info);  // add/sub/mul selected by a string
  Napi::Value Scale(const Napi::CallbackInfo& info);
  Napi::Value CountNonFinite(const Napi::CallbackInfo& info);  // NaN/Inf count (the pipeline's step check)
  Napi::Value DotNorm(const Napi::CallbackInfo& info);  // per-sample <a, b>, |a|, |b> (APG on a device)
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);  // "cpu" / "cuda:N"

  static Napi::Value FromFloat32(const Napi::CallbackInfo& info);
  static Napi::Value Zeros(const Napi::CallbackInfo& info);
  static Napi::Value Concat(const Napi::CallbackInfo& info);
  static Napi::Value Combine(const Napi::CallbackInfo& info);

  ditto::Tensor tensor_;
  std::shared_ptr<ExternalMemory> memory_;  // the storage's account, shared with views of it
  std::shared_ptr<ditto::BackendOps> device_ops_;  // device tensors: the op table of the model that made them
  bool disposed_ = false;
};

// Reads a JS number[] shape; TypeError when it is not an array of non-negative integers.
ditto::Shape ShapeFromValue(Napi::Env env, const Napi::Value& value, const char* what);
Napi::Array ShapeToArray(Napi::Env env, const ditto::Shape& shape);

}  // namespace ditto_node
