// gaussianNoise(kind, keys, countPerSample) → Promise<NativeTensor [samples, countPerSample]>: a batch's initial
// noise generated on libuv's thread pool (an AsyncWorker), so an O(batch) loop never runs on the JS thread. `keys`
// holds each sample's seed as two uint32 words (low, high), split and validated in src/noise/; `kind` is "philox"
// or "reference" (ditto/noise.h).
#include <napi.h>

#include <string>
#include <vector>

#include "addon.h"
#include "ditto/noise.h"
#include "ditto/tensor.h"
#include "errors.h"
#include "tensor_binding.h"

namespace ditto_node {
namespace {

class NoiseWorker : public Napi::AsyncWorker {
 public:
  NoiseWorker(Napi::Env env, bool reference, std::vector<uint32_t> keys, int64_t count)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), reference_(reference),
        keys_(std::move(keys)), count_(count) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    const int64_t samples = static_cast<int64_t>(keys_.size() / 2);
    auto tensor = ditto::Tensor::empty(ditto::DType::F32, {samples, count_});
    if (!tensor.ok()) {
      status_ = tensor.status();
      return;
    }
    out_ = std::move(tensor).value();
    float* data = out_.data<float>();
    for (int64_t i = 0; i < samples; ++i) {
      const uint32_t lo = keys_[2 * i], hi = keys_[2 * i + 1];
      if (reference_) {
        ditto::splitmix_gaussian((static_cast<uint64_t>(hi) << 32) | lo, data + i * count_, count_);
      } else {
        ditto::philox_gaussian(lo, hi, 0, data + i * count_, count_);
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    deferred_.Resolve(TensorWrap::NewInstance(env, std::move(out_)));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  bool reference_;
  std::vector<uint32_t> keys_;
  int64_t count_;
  ditto::Tensor out_;
  ditto::Status status_;
};

Napi::Value GaussianNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (kind != "philox" && kind != "reference") ThrowTypeError(env, "Expected philox or reference for kind");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[1].As<Napi::Uint32Array>().ElementLength() % 2 != 0) {
    ThrowTypeError(env, "Expected Uint32Array of (low, high) seed words for keys");
  }
  Napi::Uint32Array keys = info[1].As<Napi::Uint32Array>();
  const double count = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(count >= 0) || count != static_cast<double>(static_cast<int64_t>(count))) {
    ThrowTypeError(env, "Expected non-negative integer for countPerSample");
  }
  auto* worker = new NoiseWorker(env, kind == "reference", std::vector<uint32_t>(keys.Data(), keys.Data() + keys.ElementLength()),
                                 static_cast<int64_t>(count));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterNoise(Napi::Env env, Napi::Object exports) {
  exports.Set("gaussianNoise", Napi::Function::New<GaussianNoise>(env, "gaussianNoise"));
}

}  // namespace ditto_node
