// toUint8NHWC(tensor [N, C, H, W]) → Promise<Buffer>: model-space images to interleaved u8 pixels (ditto/image.h)
// on libuv's thread pool, so the final conversion of a large batch never runs on the JS thread. The worker holds
// its own reference to the tensor's storage, so disposing the tensor meanwhile is safe.
#include <napi.h>

#include <string>
#include <vector>

#include "addon.h"
#include "ditto/image.h"
#include "ditto/tensor.h"
#include "errors.h"
#include "tensor_binding.h"

namespace ditto_node {
namespace {

class ImageWorker : public Napi::AsyncWorker {
 public:
  ImageWorker(Napi::Env env, ditto::Tensor images)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), images_(std::move(images)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    pixels_.resize(static_cast<size_t>(images_.numel()));
    const ditto::Shape& s = images_.shape();
    ditto::model_to_u8_nhwc(images_.data<float>(), s[0], s[1], s[2], s[3], pixels_.data());
  }

  void OnOK() override {
    Napi::Env env = Env();
    // The vector moves into the Buffer's finalizer: no second copy of the pixels.
    auto* owned = new std::vector<uint8_t>(std::move(pixels_));
    deferred_.Resolve(Napi::Buffer<uint8_t>::New(env, owned->data(), owned->size(),
                                                 [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, owned));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  ditto::Tensor images_;
  std::vector<uint8_t> pixels_;
};

Napi::Value ToUint8NHWC(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::Tensor& images = TensorWrap::Get(env, info[0], "images");
  if (images.dtype() != ditto::DType::F32 || images.ndim() != 4) {
    ThrowTypeError(env, "Expected a float32 tensor [N, C, H, W] for images but received " +
                            ditto::shape_string(images.shape()));
  }
  if (!images.on_host()) {
    ThrowIfError(env, ditto::invalid_argument("Expected images on the host but they are on " + images.device_name() +
                                              " (copy them back with toFloat32Array)"));
  }
  auto* worker = new ImageWorker(env, images);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterImage(Napi::Env env, Napi::Object exports) {
  exports.Set("toUint8NHWC", Napi::Function::New<ToUint8NHWC>(env, "toUint8NHWC"));
}

}  // namespace ditto_node
