// The asynchronous load behind loadModel (model_binding.cpp) and loadVae (vae_binding.cpp): one mechanism for
// both. The load runs on the new object's own job queue (job_queue.h, docs/architecture.md "Errors, async work
// and devices"), so it never blocks the JS thread or libuv's pool; on success the loaded object and the queue are
// handed to a new JS wrapper (Wrap::Attach); a failed load closes the queue, which nothing else will use.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "addon.h"
#include "ditto/status.h"
#include "ditto/tensor.h"
#include "errors.h"
#include "job_queue.h"

namespace ditto_node {

// threads, dtype ('f32' | 'bf16') and checkFinite of a load's options object (LoadOptions, VaeLoadOptions).
template <class Options>
void ReadLoadOptions(Napi::Env env, const Napi::Object& o, Options& options) {
  if (o.Get("threads").IsNumber()) options.threads = o.Get("threads").As<Napi::Number>().Int32Value();
  if (o.Get("dtype").IsString()) {
    std::string dtype = o.Get("dtype").As<Napi::String>().Utf8Value();
    if (dtype == "bf16") options.dtype = ditto::DType::BF16;
    else if (dtype != "f32") ThrowTypeError(env, "Expected 'f32' or 'bf16' for options.dtype but received " + dtype);
  }
  if (o.Get("checkFinite").IsBoolean()) options.check_finite = o.Get("checkFinite").As<Napi::Boolean>().Value();
}

// Runs `load` on the queue's thread; OnSuccess creates a Wrap with the addon's `constructor` and attaches.
template <class Wrap, class Object>
class LoadJob : public QueuedJob {
 public:
  using Loader = std::function<ditto::Result<std::unique_ptr<Object>>()>;
  LoadJob(Loader load, Napi::FunctionReference AddonData::*constructor, std::shared_ptr<JobQueue> queue)
      : load_(std::move(load)), constructor_(constructor), queue_(std::move(queue)) {}
  ~LoadJob() override {
    if (queue_) queue_->Close();  // load failed: nothing will use this queue
  }

 protected:
  ditto::Status Execute() override {
    auto loaded = load_();
    if (!loaded.ok()) return loaded.status();
    object_ = std::move(loaded).value();
    return ditto::Status::Ok();
  }
  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object object = (GetAddonData(env).*constructor_).New({});
    Wrap::Unwrap(object)->Attach(env, std::move(object_), std::move(queue_));
    return object;
  }

 private:
  Loader load_;
  Napi::FunctionReference AddonData::*constructor_;
  std::shared_ptr<JobQueue> queue_;
  std::unique_ptr<Object> object_;
};

// The Promise of a LoadJob on a fresh job queue.
template <class Wrap, class Object>
Napi::Value StartLoad(Napi::Env env, Napi::FunctionReference AddonData::*constructor,
                      typename LoadJob<Wrap, Object>::Loader load) {
  std::shared_ptr<JobQueue> queue = JobQueue::Create(env);
  JobQueue& queue_ref = *queue;
  return QueuedJob::Start(env, queue_ref,
                          std::make_unique<LoadJob<Wrap, Object>>(std::move(load), constructor, std::move(queue)));
}

}  // namespace ditto_node
