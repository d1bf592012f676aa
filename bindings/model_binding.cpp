// NativeModel binding: loadModel() and the DiT forward family as promise-returning jobs on a per-model JobQueue.
// Arguments are validated in TypeScript (src/model.ts) with user-facing messages; the checks here only keep the
// addon safe when called directly. The engine re-validates shapes/labels and reports kInvalidArgument.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "ditto/dit.h"
#include "ditto/model.h"
#include "errors.h"
#include "external_memory.h"
#include "job_queue.h"
#include "tensor_binding.h"

namespace ditto_node {
namespace {

// AbortFlag: the std::atomic<bool> the engine checks between blocks, raised from JS by an AbortSignal listener.
class AbortFlagWrap : public Napi::ObjectWrap<AbortFlagWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<AbortFlagWrap>::DefineClass(env, "AbortFlag",
                                                  {InstanceMethod<&AbortFlagWrap::Abort>("abort"),
                                                   InstanceMethod<&AbortFlagWrap::Aborted>("aborted")});
  }
  explicit AbortFlagWrap(const Napi::CallbackInfo& info)
      : ObjectWrap<AbortFlagWrap>(info), flag_(std::make_shared<std::atomic<bool>>(false)) {}
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }

 private:
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    flag_->store(true);
    return info.Env().Undefined();
  }
  Napi::Value Aborted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), flag_->load()); }
  std::shared_ptr<std::atomic<bool>> flag_;
};

// Everything a forward job needs, copied out of JS on the main thread.
struct ForwardRequest {
  ditto::Tensor x;
  std::vector<float> t;
  std::vector<int64_t> y;
  std::vector<ditto::BlockAction> blocks;
  std::shared_ptr<std::atomic<bool>> abort;
  bool capture = false;
  bool with_cfg = false;
  float cfg_scale = 1.f;
  int64_t guided_channels = 0;
};

class ForwardJob : public QueuedJob {
 public:
  ForwardJob(std::shared_ptr<ditto::DitModel> model, ForwardRequest request)
      : model_(std::move(model)), request_(std::move(request)) {
    // Environment teardown aborts a running forward through this flag (JobQueue), with or without a signal.
    if (!request_.abort) request_.abort = std::make_shared<std::atomic<bool>>(false);
  }

 protected:
  void Abort() override { request_.abort->store(true); }

  ditto::Status Execute() override {
    ditto::ForwardOptions options;
    options.blocks = request_.blocks;
    options.abort = request_.abort.get();
    std::string capture_error;
    if (request_.capture) {
      options.capture = [this](std::string_view name, const ditto::Tensor& value) {
        auto copy = value.clone();  // the engine reuses its workspace: keep a copy
        if (copy.ok()) intermediates_[std::string(name)] = std::move(copy).value();
      };
    }
    auto result = request_.with_cfg
                      ? model_->forward_with_cfg(request_.x, request_.t, request_.y, request_.cfg_scale,
                                                 request_.guided_channels, options)
                      : model_->forward(request_.x, request_.t, request_.y, options);
    if (!result.ok()) return result.status();
    out_ = std::move(result).value();
    return ditto::Status::Ok();
  }

  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("out", TensorWrap::NewInstance(env, std::move(out_)));
    Napi::Object intermediates = Napi::Object::New(env);
    for (auto& [name, tensor] : intermediates_) intermediates.Set(name, TensorWrap::NewInstance(env, std::move(tensor)));
    result.Set("intermediates", intermediates);
    return result;
  }

 private:
  std::shared_ptr<ditto::DitModel> model_;
  ForwardRequest request_;
  ditto::Tensor out_;
  std::map<std::string, ditto::Tensor> intermediates_;
};

// A loaded model together with the account of its native memory (weights + workspace). Every holder (the JS
// object, each queued job) shares it through an aliasing shared_ptr<DitModel>, so the bytes stay reported until
// the last holder lets go; all of them are dropped on the JS thread (jobs are deleted there by the JobQueue).
struct AccountedModel {
  AccountedModel(napi_env env, std::unique_ptr<ditto::DitModel> loaded) : model(std::move(loaded)), memory(env) {}
  std::unique_ptr<ditto::DitModel> model;
  ExternalMemory memory;
  void Report() { memory.Set(static_cast<int64_t>(model->memory_bytes())); }
};

const char* LayoutName(ditto::DitLayout layout) {
  return layout == ditto::DitLayout::Official ? "official" : "diffusers";
}

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<ModelWrap>::DefineClass(
        env, "NativeModel",
        {InstanceMethod<&ModelWrap::Config>("config"), InstanceMethod<&ModelWrap::Forward>("forward"),
         InstanceMethod<&ModelWrap::Macs>("macsPerSample"), InstanceMethod<&ModelWrap::Threads>("threads"),
         InstanceMethod<&ModelWrap::Dispose>("dispose")});
  }
  explicit ModelWrap(const Napi::CallbackInfo& info) : ObjectWrap<ModelWrap>(info) {}
  ~ModelWrap() override { Close(); }

  void Attach(Napi::Env env, std::unique_ptr<ditto::DitModel> loaded, std::shared_ptr<JobQueue> queue) {
    auto accounted = std::make_shared<AccountedModel>(env, std::move(loaded));
    accounted->Report();
    // The workspace grows with the largest batch: report again after every job.
    queue->SetOnSettled([weak = std::weak_ptr<AccountedModel>(accounted)](Napi::Env) {
      if (auto held = weak.lock()) held->Report();
    });
    model_ = std::shared_ptr<ditto::DitModel>(accounted, accounted->model.get());
    queue_ = std::move(queue);
  }

 private:
  void Close() {
    if (queue_) queue_->Close();  // queued jobs still finish: each holds its own reference to the model
    queue_.reset();
    model_.reset();
  }

  ditto::DitModel& Live(Napi::Env env) {
    if (!model_) {
      Napi::Error error = Napi::Error::New(env, "Model has been disposed");
      error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
      throw error;
    }
    return *model_;
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ditto::DitConfig& c = Live(env).config();
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", "dit");
    o.Set("layout", LayoutName(c.layout));
    o.Set("inputSize", double(c.input_size));
    o.Set("patchSize", double(c.patch_size));
    o.Set("inChannels", double(c.in_channels));
    o.Set("outChannels", double(c.out_channels));
    o.Set("hiddenSize", double(c.hidden_size));
    o.Set("depth", double(c.depth));
    o.Set("numHeads", double(c.num_heads));
    o.Set("mlpRatio", c.mlp_ratio);
    o.Set("numClasses", double(c.num_classes));
    o.Set("learnSigma", c.learn_sigma);
    o.Set("freqShift", double(c.freq_shift));
    o.Set("normEps", double(c.norm_eps));
    o.Set("ffNormEps", double(c.ff_norm_eps));
    o.Set("configPath", c.config_path);
    o.Set("kwargsJson", c.config_json);
    return o;
  }

  Napi::Value Macs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ditto::MacCount macs = Live(env).macs_per_sample();
    Napi::Object o = Napi::Object::New(env);
    o.Set("total", double(macs.total));
    o.Set("blocks", double(macs.blocks));
    return o;
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), Live(info.Env()).pool().size());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  // forward(x, t: Float32Array, y: Int32Array, options?: {capture, blocks: [{kind, alpha}], abort: AbortFlag,
  //         cfgScale, guidedChannels}) → Promise<{out, intermediates}>; cfgScale present = forward_with_cfg.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ForwardRequest request;
    request.x = TensorWrap::Get(env, info[0], "x");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      ThrowTypeError(env, "Expected Float32Array for t");
    }
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowTypeError(env, "Expected Int32Array for labels");
    }
    Napi::Float32Array t = info[1].As<Napi::Float32Array>();
    Napi::Int32Array y = info[2].As<Napi::Int32Array>();
    request.t.assign(t.Data(), t.Data() + t.ElementLength());
    request.y.assign(y.Data(), y.Data() + y.ElementLength());
    if (info.Length() > 3 && info[3].IsObject()) {
      Napi::Object options = info[3].As<Napi::Object>();
      request.capture = options.Get("capture").ToBoolean();
      Napi::Value blocks = options.Get("blocks");
      if (blocks.IsArray()) {
        Napi::Array list = blocks.As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); ++i) {
          Napi::Object action = list.Get(i).As<Napi::Object>();
          std::string kind = action.Get("kind").As<Napi::String>().Utf8Value();
          ditto::BlockAction a;
          if (kind == "skip") {
            a.kind = ditto::BlockActionKind::Skip;
          } else if (kind == "scale") {
            a.kind = ditto::BlockActionKind::Scale;
            a.alpha = action.Get("alpha").As<Napi::Number>().FloatValue();
          } else if (kind != "compute") {
            ThrowTypeError(env, "Expected compute, skip or scale for block action but received " + kind);
          }
          request.blocks.push_back(a);
        }
      }
      Napi::Value abort = options.Get("abort");
      if (abort.IsObject()) {
        if (!abort.As<Napi::Object>().InstanceOf(GetAddonData(env).abort_flag_constructor.Value())) {
          ThrowTypeError(env, "Expected AbortFlag for options.abort");
        }
        request.abort = AbortFlagWrap::Unwrap(abort.As<Napi::Object>())->flag();
      }
      Napi::Value scale = options.Get("cfgScale");
      if (scale.IsNumber()) {
        request.with_cfg = true;
        request.cfg_scale = scale.As<Napi::Number>().FloatValue();
        request.guided_channels = options.Get("guidedChannels").As<Napi::Number>().Int64Value();
      }
    }
    return QueuedJob::Start(env, *queue_, std::make_unique<ForwardJob>(model_, std::move(request)));
  }

  std::shared_ptr<ditto::DitModel> model_;
  std::shared_ptr<JobQueue> queue_;
};

class LoadJob : public QueuedJob {
 public:
  LoadJob(std::string path, ditto::LoadOptions options, std::shared_ptr<JobQueue> queue)
      : path_(std::move(path)), options_(options), queue_(std::move(queue)) {}
  ~LoadJob() override {
    if (queue_) queue_->Close();  // load failed: nothing will use this queue
  }

 protected:
  ditto::Status Execute() override {
    auto loaded = ditto::DitModel::load(path_, options_);
    if (!loaded.ok()) return loaded.status();
    model_ = std::move(loaded).value();
    return ditto::Status::Ok();
  }
  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object object = GetAddonData(env).model_constructor.New({});
    ModelWrap::Unwrap(object)->Attach(env, std::move(model_), std::move(queue_));
    return object;
  }
 private:
  std::string path_;
  ditto::LoadOptions options_;
  std::shared_ptr<JobQueue> queue_;
  std::unique_ptr<ditto::DitModel> model_;
};

// loadModel(path: string, {threads: number, dtype: 'f32'|'bf16', checkFinite: boolean}) → Promise<NativeModel>
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "Expected string for path");
  ditto::LoadOptions options;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("threads").IsNumber()) options.threads = o.Get("threads").As<Napi::Number>().Int32Value();
    if (o.Get("dtype").IsString()) {
      std::string dtype = o.Get("dtype").As<Napi::String>().Utf8Value();
      if (dtype == "bf16") options.dtype = ditto::DType::BF16;
      else if (dtype != "f32") ThrowTypeError(env, "Expected 'f32' or 'bf16' for options.dtype but received " + dtype);
    }
    if (o.Get("checkFinite").IsBoolean()) options.check_finite = o.Get("checkFinite").As<Napi::Boolean>().Value();
  }
  std::shared_ptr<JobQueue> queue = JobQueue::Create(env);
  JobQueue& queue_ref = *queue;
  return QueuedJob::Start(env, queue_ref,
                          std::make_unique<LoadJob>(info[0].As<Napi::String>().Utf8Value(), options, queue));
}

}  // namespace

void RegisterModel(Napi::Env env, Napi::Object exports) {
  AddonData& data = GetAddonData(env);
  Napi::Function model = ModelWrap::DefineClass(env);
  data.model_constructor = Napi::Persistent(model);
  exports.Set("NativeModel", model);
  Napi::Function abort_flag = AbortFlagWrap::DefineClass(env);
  data.abort_flag_constructor = Napi::Persistent(abort_flag);
  exports.Set("AbortFlag", abort_flag);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel, "loadModel"));
}

}  // namespace ditto_node
