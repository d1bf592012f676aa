// NativeTensor binding: ObjectWrap over ditto::Tensor plus the light native tensor ops used by samplers.
// All ops produce new owned float32 tensors (JS tensors are immutable), except reshape, which is a view over
// the same storage (safe because nothing mutates a tensor after creation).
#include "tensor_binding.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "device_tensor.h"
#include "ditto/cpu/elementwise.h"
#include "ditto/cpu/finite.h"
#include "ditto/cpu/reductions.h"
#include "ditto/thread_pool.h"
#include "errors.h"

namespace ditto_node {
namespace {

// Elementwise ops run on the JS thread; a pool per environment (a ThreadPool is not reentrant, and every worker
// thread is a JS thread of its own) spreads large ones over the cores.
ditto::ThreadPool& TensorOpPool(Napi::Env env) {
  AddonData& data = GetAddonData(env);
  if (!data.tensor_op_pool) data.tensor_op_pool = std::make_unique<ditto::ThreadPool>(0);
  return *data.tensor_op_pool;
}

ditto::Tensor NewF32(Napi::Env env, const ditto::Shape& shape) {
  auto result = ditto::Tensor::empty(ditto::DType::F32, shape);
  ThrowIfError(env, result.status());
  return std::move(result).value();
}

const ditto::Tensor& RequireF32(Napi::Env env, const ditto::Tensor& t, const char* what) {
  if (t.dtype() != ditto::DType::F32) {
    ThrowTypeError(env, std::string("Expected a float32 tensor for ") + what + " but received " +
                            ditto::dtype_name(t.dtype()));
  }
  return t;
}

void RequireSameShape(Napi::Env env, const ditto::Tensor& a, const ditto::Tensor& b, const char* what) {
  if (a.shape() != b.shape()) {
    throw Napi::RangeError::New(env, std::string("Expected shape ") + ditto::shape_string(a.shape()) + " for " +
                                         what + " but received " + ditto::shape_string(b.shape()));
  }
}

}  // namespace

ditto::Shape ShapeFromValue(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsArray()) ThrowTypeError(env, std::string("Expected array of non-negative integers for ") + what);
  Napi::Array array = value.As<Napi::Array>();
  ditto::Shape shape(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(d >= 0) || std::floor(d) != d || d > 9.007199254740992e15) {
      ThrowTypeError(env, std::string("Expected array of non-negative integers for ") + what);
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

Napi::Array ShapeToArray(Napi::Env env, const ditto::Shape& shape) {
  Napi::Array array = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) array.Set(static_cast<uint32_t>(i), Napi::Number::New(env, double(shape[i])));
  return array;
}

Napi::Function TensorWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<TensorWrap>::DefineClass(
      env, "NativeTensor",
      {
          InstanceMethod<&TensorWrap::Shape>("shape"),
          InstanceMethod<&TensorWrap::ToFloat32Array>("toFloat32Array"),
          InstanceMethod<&TensorWrap::Clone>("clone"),
          InstanceMethod<&TensorWrap::Reshape>("reshape"),
          InstanceMethod<&TensorWrap::Slice>("slice"),
          InstanceMethod<&TensorWrap::Lerp>("lerp"),
          InstanceMethod<&TensorWrap::Binary>("binary"),
          InstanceMethod<&TensorWrap::Scale>("scale"),
          InstanceMethod<&TensorWrap::CountNonFinite>("countNonFinite"),
          InstanceMethod<&TensorWrap::DotNorm>("dotNorm"),
          InstanceMethod<&TensorWrap::Dispose>("dispose"),
          InstanceMethod<&TensorWrap::Disposed>("disposed"),
          InstanceMethod<&TensorWrap::Device>("device"),
          StaticMethod<&TensorWrap::FromFloat32>("fromFloat32"),
          StaticMethod<&TensorWrap::Zeros>("zeros"),
          StaticMethod<&TensorWrap::Concat>("concat"),
          StaticMethod<&TensorWrap::Combine>("combine"),
      });
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : ObjectWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() { Release(); }

void TensorWrap::Reset(ditto::Tensor tensor, std::shared_ptr<ExternalMemory> memory) {
  Release();
  tensor_ = std::move(tensor);
  memory_ = std::move(memory);
}

void TensorWrap::Release() {
  memory_.reset();  // the last handle on the storage reports its bytes back
  tensor_ = ditto::Tensor();
  device_ops_.reset();
}

Napi::Object TensorWrap::NewInstance(Napi::Env env, ditto::Tensor tensor) {
  Napi::Object object = GetAddonData(env).tensor_constructor.New({});
  auto memory = std::make_shared<ExternalMemory>(env);
  memory->Set(static_cast<int64_t>(tensor.nbytes()));
  TensorWrap::Unwrap(object)->Reset(std::move(tensor), std::move(memory));
  return object;
}

Napi::Object TensorWrap::NewInstance(Napi::Env env, ditto::Tensor tensor, std::shared_ptr<ditto::BackendOps> device_ops) {
  const bool on_device = !tensor.on_host();
  Napi::Object object = NewInstance(env, std::move(tensor));
  if (on_device) TensorWrap::Unwrap(object)->device_ops_ = std::move(device_ops);
  return object;
}

Napi::Object TensorWrap::NewView(Napi::Env env, ditto::Tensor view, const TensorWrap& source) {
  Napi::Object object = GetAddonData(env).tensor_constructor.New({});
  TensorWrap* wrap = TensorWrap::Unwrap(object);
  wrap->Reset(std::move(view), source.memory_);
  wrap->device_ops_ = source.device_ops_;
  return object;
}

namespace {
// The op table of a device tensor's model (every device tensor gets one when it is wrapped).
ditto::BackendOps& OpsOf(Napi::Env env, const Napi::Value& value) {
  const auto& ops = TensorWrap::Unwrap(value.As<Napi::Object>())->device_ops();
  if (!ops) ThrowIfError(env, ditto::Status(ditto::StatusCode::kInternal, "device tensor without its model's ops"));
  return *ops;
}
const std::shared_ptr<ditto::BackendOps>& OpsPtr(const Napi::Value& value) {
  return TensorWrap::Unwrap(value.As<Napi::Object>())->device_ops();
}
}  // namespace

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Get(info.Env(), info.This(), "this").device_name());
}

const ditto::Tensor& TensorWrap::Get(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(GetAddonData(env).tensor_constructor.Value())) {
    ThrowTypeError(env, std::string("Expected Tensor for ") + what);
  }
  TensorWrap* wrap = TensorWrap::Unwrap(value.As<Napi::Object>());
  if (wrap->disposed_) {
    Napi::Error error = Napi::Error::New(env, std::string("Tensor (") + what + ") has been disposed");
    error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
    throw error;
  }
  return wrap->tensor_;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  return ShapeToArray(info.Env(), Get(info.Env(), info.This(), "this").shape());
}

Napi::Value TensorWrap::ToFloat32Array(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& t = Get(env, info.This(), "this");
  const int64_t n = t.numel();
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(n));
  if (!t.on_host()) {  // the one copy back to the host
    if (n > 0) device_tensor::Download(env, OpsOf(env, info.This()), t, out.Data());
  } else if (t.dtype() == ditto::DType::F32) {
    if (n > 0) std::memcpy(out.Data(), t.data<float>(), static_cast<size_t>(n) * sizeof(float));
  } else {
    auto converted = t.to(ditto::DType::F32);
    ThrowIfError(env, converted.status());
    if (n > 0) std::memcpy(out.Data(), converted.value().data<float>(), static_cast<size_t>(n) * sizeof(float));
  }
  return out;
}

Napi::Value TensorWrap::Clone(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& t = Get(env, info.This(), "this");
  if (!t.on_host())
    return NewInstance(env, device_tensor::Concat(env, OpsOf(env, info.This()), {&t}, t.shape()), OpsPtr(info.This()));
  auto copy = t.clone();
  ThrowIfError(env, copy.status());
  return NewInstance(env, std::move(copy).value());
}

Napi::Value TensorWrap::Reshape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& t = Get(env, info.This(), "this");
  auto view = t.reshape(ShapeFromValue(env, info[0], "shape"));
  ThrowIfError(env, view.status());
  return NewView(env, std::move(view).value(), *TensorWrap::Unwrap(info.This().As<Napi::Object>()));
}

Napi::Value TensorWrap::Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& t = Get(env, info.This(), "this");
  auto view = t.slice0(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value());
  ThrowIfError(env, view.status());
  if (!t.on_host()) {
    const ditto::Tensor& rows = view.value();
    return NewInstance(env, device_tensor::Concat(env, OpsOf(env, info.This()), {&rows}, rows.shape()),
                       OpsPtr(info.This()));
  }
  auto copy = view.value().clone();  // a copy: slices never alias their source
  ThrowIfError(env, copy.status());
  return NewInstance(env, std::move(copy).value());
}

Napi::Value TensorWrap::Lerp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& a = RequireF32(env, Get(env, info.This(), "this"), "this");
  const ditto::Tensor& b = RequireF32(env, Get(env, info[0], "other"), "other");
  RequireSameShape(env, a, b, "other");
  device_tensor::RequireSameDevice(env, a, b, "other");
  float w = info[1].As<Napi::Number>().FloatValue();
  if (!a.on_host())
    return NewInstance(env, device_tensor::Lerp(env, OpsOf(env, info.This()), a, b, w), OpsPtr(info.This()));
  ditto::Tensor out = NewF32(env, a.shape());
  ditto::cpu::lerp(TensorOpPool(env), a.data<float>(), b.data<float>(), w, out.data<float>(), a.numel());
  return NewInstance(env, std::move(out));
}

Napi::Value TensorWrap::Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& a = RequireF32(env, Get(env, info.This(), "this"), "this");
  const ditto::Tensor& b = RequireF32(env, Get(env, info[0], "other"), "other");
  RequireSameShape(env, a, b, "other");
  device_tensor::RequireSameDevice(env, a, b, "other");
  std::string op = info[1].As<Napi::String>().Utf8Value();
  if (!a.on_host()) {
    ditto::BackendOps& ops = OpsOf(env, info.This());
    if (op == "add") return NewInstance(env, device_tensor::Axpby(env, ops, 1.f, a, 1.f, b), OpsPtr(info.This()));
    if (op == "sub") return NewInstance(env, device_tensor::Axpby(env, ops, 1.f, a, -1.f, b), OpsPtr(info.This()));
    if (op == "mul") return NewInstance(env, device_tensor::Mul(env, ops, a, b), OpsPtr(info.This()));
    ThrowTypeError(env, "Expected add, sub or mul for op but received " + op);
  }
  ditto::Tensor out = NewF32(env, a.shape());
  ditto::ThreadPool& pool = TensorOpPool(env);
  if (op == "add") {
    ditto::cpu::add(pool, a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
  } else if (op == "sub") {
    // 1·a + (−1)·b is exactly a − b in float32 (both products are exact).
    ditto::cpu::axpby(pool, 1.f, a.data<float>(), -1.f, b.data<float>(), out.data<float>(), a.numel());
  } else if (op == "mul") {
    ditto::cpu::mul(pool, a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
  } else {
    ThrowTypeError(env, "Expected add, sub or mul for op but received " + op);
  }
  return NewInstance(env, std::move(out));
}

Napi::Value TensorWrap::Scale(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& a = RequireF32(env, Get(env, info.This(), "this"), "this");
  if (!a.on_host()) {
    const float s = info[0].As<Napi::Number>().FloatValue();
    return NewInstance(env, device_tensor::Axpby(env, OpsOf(env, info.This()), s, a, 0.f, a), OpsPtr(info.This()));
  }
  ditto::Tensor out = NewF32(env, a.shape());
  ditto::cpu::scale(TensorOpPool(env), a.data<float>(), info[0].As<Napi::Number>().FloatValue(), out.data<float>(),
                    a.numel());
  return NewInstance(env, std::move(out));
}

// ---- Numerics check (not an element-wise op: a read-only reduction) ----------------------------------------
// countNonFinite() → number of NaN/Inf elements; the exponent-bit count of ditto/cpu/finite.h (vectorised,
// a single pass near memory bandwidth: 0.08-0.16 ms for batch-200 glyph latents), cheap enough for every step.
Napi::Value TensorWrap::CountNonFinite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& a = Get(env, info.This(), "this");
  if (!a.on_host()) return Napi::Number::New(env, device_tensor::CountNonFinite(env, OpsOf(env, info.This()), a));
  return Napi::Number::New(env, static_cast<double>(ditto::cpu::count_non_finite(a.raw(), a.dtype(), a.numel())));
}

// dotNorm(other) → Float32Array [3·B]: per sample s of dim 0, (⟨a_s, b_s⟩, |a_s|, |b_s|) accumulated in double
// (ditto::cpu::dot_norm on the host, BackendOps::dot_norm where the tensors live: one reduction, 3·B floats back).
Napi::Value TensorWrap::DotNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& a = RequireF32(env, Get(env, info.This(), "this"), "this");
  const ditto::Tensor& b = RequireF32(env, Get(env, info[0], "other"), "other");
  RequireSameShape(env, a, b, "other");
  device_tensor::RequireSameDevice(env, a, b, "other");
  const int64_t batch = a.ndim() > 0 ? a.dim(0) : 1;
  const int64_t n = batch > 0 ? a.numel() / batch : 0;
  std::vector<float> dot(static_cast<size_t>(batch)), norm_a(dot.size()), norm_b(dot.size());
  if (batch > 0 && n > 0) {
    if (!a.on_host()) {
      ThrowIfError(env, OpsOf(env, info.This()).dot_norm(a.data<float>(), b.data<float>(), batch, n, dot.data(),
                                                         norm_a.data(), norm_b.data()));
    } else {
      ditto::cpu::dot_norm(TensorOpPool(env), a.data<float>(), b.data<float>(), batch, n, dot.data(), norm_a.data(),
                           norm_b.data());
    }
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(3 * batch));
  for (int64_t s = 0; s < batch; ++s) {
    out[static_cast<size_t>(3 * s)] = dot[static_cast<size_t>(s)];
    out[static_cast<size_t>(3 * s + 1)] = norm_a[static_cast<size_t>(s)];
    out[static_cast<size_t>(3 * s + 2)] = norm_b[static_cast<size_t>(s)];
  }
  return out;
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Release();
  disposed_ = true;
  return info.Env().Undefined();
}

Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorWrap::FromFloat32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    ThrowTypeError(env, "Expected Float32Array for data");
  }
  Napi::Float32Array data = info[0].As<Napi::Float32Array>();
  ditto::Shape shape = ShapeFromValue(env, info[1], "shape");
  if (ditto::shape_numel(shape) != static_cast<int64_t>(data.ElementLength())) {
    throw Napi::RangeError::New(env, "Expected data of length " + std::to_string(ditto::shape_numel(shape)) +
                                         " for shape " + ditto::shape_string(shape) + " but received length " +
                                         std::to_string(data.ElementLength()));
  }
  ditto::Tensor out = NewF32(env, shape);
  if (out.numel() > 0) std::memcpy(out.data<float>(), data.Data(), out.nbytes());
  return NewInstance(env, std::move(out));
}

Napi::Value TensorWrap::Zeros(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto zeros = ditto::Tensor::zeros(ditto::DType::F32, ShapeFromValue(env, info[0], "shape"));
  ThrowIfError(env, zeros.status());
  return NewInstance(env, std::move(zeros).value());
}

Napi::Value TensorWrap::Concat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowTypeError(env, "Expected array of Tensor for tensors");
  Napi::Array list = info[0].As<Napi::Array>();
  if (list.Length() == 0) throw Napi::RangeError::New(env, "Expected at least one Tensor for tensors but received []");
  std::vector<const ditto::Tensor*> parts;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    parts.push_back(&RequireF32(env, Get(env, list.Get(i), "tensors[i]"), "tensors[i]"));
  }
  const ditto::Shape& first = parts[0]->shape();
  if (first.empty()) throw Napi::RangeError::New(env, "Expected tensors with at least 1 dimension for concat");
  ditto::Shape shape = first;
  shape[0] = 0;
  for (uint32_t i = 0; i < parts.size(); ++i) {
    const ditto::Shape& s = parts[i]->shape();
    if (s.size() != first.size() || !std::equal(s.begin() + 1, s.end(), first.begin() + 1)) {
      ditto::Shape expected = first;
      expected[0] = s.empty() ? 0 : s[0];
      throw Napi::RangeError::New(env, "Expected shape " + ditto::shape_string(expected) + " for tensors[" +
                                           std::to_string(i) + "] but received " + ditto::shape_string(s));
    }
    shape[0] += s[0];
    device_tensor::RequireSameDevice(env, *parts[0], *parts[i], "tensors[i]");
  }
  if (!parts[0]->on_host())
    return NewInstance(env, device_tensor::Concat(env, OpsOf(env, list.Get(0u)), parts, shape), OpsPtr(list.Get(0u)));
  ditto::Tensor out = NewF32(env, shape);
  char* dst = static_cast<char*>(out.raw());
  for (const ditto::Tensor* part : parts) {
    if (part->nbytes() > 0) std::memcpy(dst, part->raw(), part->nbytes());
    dst += part->nbytes();
  }
  return NewInstance(env, std::move(out));
}

// combine(coefficients: number[], tensors: NativeTensor[]) = Σ c_j·t_j, float32, left to right.
// linear_combination takes at most 8 inputs; longer sums continue from the partial result, which keeps the
// left-to-right float32 order (the partial sum is the first term of the next chunk with coefficient 1).
Napi::Value TensorWrap::Combine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array coeffs = info[0].As<Napi::Array>();
  Napi::Array list = info[1].As<Napi::Array>();
  if (list.Length() == 0 || coeffs.Length() != list.Length()) {
    throw Napi::RangeError::New(env, "Expected at least one [coefficient, Tensor] term for terms");
  }
  std::vector<const ditto::Tensor*> parts;
  std::vector<float> c;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    parts.push_back(&RequireF32(env, Get(env, list.Get(i), "terms[i]"), "terms[i]"));
    c.push_back(coeffs.Get(i).As<Napi::Number>().FloatValue());
    RequireSameShape(env, *parts[0], *parts[i], "terms[i]");
    device_tensor::RequireSameDevice(env, *parts[0], *parts[i], "terms[i]");
  }
  if (!parts[0]->on_host())
    return NewInstance(env, device_tensor::Combine(env, OpsOf(env, list.Get(0u)), parts, c), OpsPtr(list.Get(0u)));
  ditto::Tensor out = NewF32(env, parts[0]->shape());
  const int64_t n = out.numel();
  constexpr size_t kMaxInputs = 8;
  size_t next = 0;
  bool have_partial = false;
  while (next < parts.size()) {
    std::vector<const float*> inputs;
    std::vector<float> weights;
    if (have_partial) {
      inputs.push_back(out.data<float>());
      weights.push_back(1.f);
    }
    while (next < parts.size() && inputs.size() < kMaxInputs) {
      inputs.push_back(parts[next]->data<float>());
      weights.push_back(c[next]);
      ++next;
    }
    ditto::cpu::linear_combination(TensorOpPool(env), inputs.data(), weights.data(), static_cast<int>(inputs.size()),
                                   out.data<float>(), n);
    have_partial = true;
  }
  return NewInstance(env, std::move(out));
}

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = TensorWrap::DefineClass(env);
  GetAddonData(env).tensor_constructor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
}

}  // namespace ditto_node
