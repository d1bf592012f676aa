// NativeModel binding: loadModel() and the forward family of any Denoiser (ditto/model.h) as promise-returning
// jobs on a per-model JobQueue; the family is found by the engine's registry, the device choice passed down.
// Arguments are validated in TypeScript (src/model.ts) with user-facing messages; the checks here only keep the
// addon safe when called directly. The engine re-validates shapes/labels and reports kInvalidArgument.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "addon.h"
#include "conditions_binding.h"
#include "device_tensor.h"
#include "ditto/executor.h"
#include "ditto/model.h"
#include "errors.h"
#include "external_memory.h"
#include "job_queue.h"
#include "load_job.h"
#include "session_binding.h"
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
  ditto::Conditions conditions;
  std::vector<ditto::BlockAction> blocks;
  std::shared_ptr<std::atomic<bool>> abort;
  bool capture = false;
  bool with_cfg = false;
  float cfg_scale = 1.f;
  int64_t guided_channels = 0;
};

class ForwardJob : public QueuedJob {
 public:
  ForwardJob(std::shared_ptr<ditto::Denoiser> model, ForwardRequest request)
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
        if (!value.on_host()) {  // a device output ("out" of a device x): captures are host tensors
          std::shared_ptr<ditto::BackendOps> ops = model_->tensor_ops();
          auto host = ditto::Tensor::empty(ditto::DType::F32, value.shape());
          if (ops && host.ok() && ops->download(host.value().data<float>(), value.data<float>(), value.numel()).ok())
            intermediates_[std::string(name)] = std::move(host).value();
          return;
        }
        auto copy = value.clone();  // the engine reuses its workspace: keep a copy
        if (copy.ok()) intermediates_[std::string(name)] = std::move(copy).value();
      };
    }
    const ditto::Conditions& conditions = request_.conditions;
    auto result = request_.with_cfg
                      ? model_->forward_with_cfg(request_.x, request_.t, conditions, request_.cfg_scale,
                                                 request_.guided_channels, options)
                      : model_->forward(request_.x, request_.t, conditions, options);
    if (!result.ok()) return result.status();
    out_ = std::move(result).value();
    return ditto::Status::Ok();
  }

  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("out", TensorWrap::NewInstance(env, std::move(out_), model_->tensor_ops()));
    Napi::Object intermediates = Napi::Object::New(env);
    for (auto& [name, tensor] : intermediates_) intermediates.Set(name, TensorWrap::NewInstance(env, std::move(tensor)));
    result.Set("intermediates", intermediates);
    return result;
  }

 private:
  std::shared_ptr<ditto::Denoiser> model_;
  ForwardRequest request_;
  ditto::Tensor out_;
  std::map<std::string, ditto::Tensor> intermediates_;
};

// A loaded model together with the account of its native memory (weights + workspace). Every holder (the JS
// object, each queued job) shares it through an aliasing shared_ptr<Denoiser>, so the bytes stay reported until
// the last holder lets go; all of them are dropped on the JS thread (jobs are deleted there by the JobQueue).
struct AccountedModel {
  AccountedModel(napi_env env, std::unique_ptr<ditto::Denoiser> loaded) : model(std::move(loaded)), memory(env) {}
  std::unique_ptr<ditto::Denoiser> model;
  ExternalMemory memory;
  void Report() { memory.Set(static_cast<int64_t>(model->memory_bytes())); }
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<ModelWrap>::DefineClass(
        env, "NativeModel",
        {InstanceMethod<&ModelWrap::Config>("config"), InstanceMethod<&ModelWrap::Forward>("forward"),
         InstanceMethod<&ModelWrap::Macs>("macsPerSample"), InstanceMethod<&ModelWrap::Threads>("threads"),
         InstanceMethod<&ModelWrap::MemoryBytes>("memoryBytes"),
         InstanceMethod<&ModelWrap::Device>("device"), InstanceMethod<&ModelWrap::Session>("session"),
         InstanceMethod<&ModelWrap::Upload>("upload"),
         InstanceMethod<&ModelWrap::Dispose>("dispose")});
  }
  explicit ModelWrap(const Napi::CallbackInfo& info) : ObjectWrap<ModelWrap>(info) {}
  ~ModelWrap() override { Close(); }

  void Attach(Napi::Env env, std::unique_ptr<ditto::Denoiser> loaded, std::shared_ptr<JobQueue> queue) {
    auto accounted = std::make_shared<AccountedModel>(env, std::move(loaded));
    accounted->Report();
    // The workspace grows with the largest batch: report again after every job.
    queue->SetOnSettled([weak = std::weak_ptr<AccountedModel>(accounted)](Napi::Env) {
      if (auto held = weak.lock()) held->Report();
    });
    model_ = std::shared_ptr<ditto::Denoiser>(accounted, accounted->model.get());
    queue_ = std::move(queue);
  }

 private:
  void Close() {
    if (queue_) queue_->Close();  // queued jobs still finish: each holds its own reference to the model
    queue_.reset();
    model_.reset();
  }

  ditto::Denoiser& Live(Napi::Env env) {
    if (!model_) {
      Napi::Error error = Napi::Error::New(env, "Model has been disposed");
      error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
      throw error;
    }
    return *model_;
  }

  // The architecture as data: family, layout, the family's named fields, where the config came from.
  Napi::Value Config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ditto::ModelInfo& m = Live(env).info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", m.family);
    o.Set("layout", m.layout);
    for (const ditto::ConfigField& f : m.fields) {
      if (const double* d = std::get_if<double>(&f.value)) o.Set(f.name, *d);
      else if (const bool* b = std::get_if<bool>(&f.value)) o.Set(f.name, *b);
      else o.Set(f.name, std::get<std::string>(f.value));
    }
    o.Set("configPath", m.config_path);
    o.Set("kwargsJson", m.config_json);
    o.Set("inputs", TensorSpecsToJs(env, m.inputs));
    o.Set("conditions", TensorSpecsToJs(env, m.conditions));
    o.Set("outputs", TensorSpecsToJs(env, m.outputs));
    const std::vector<ditto::BlockList>& lists = Live(env).backbone().lists;
    Napi::Array block_lists = Napi::Array::New(env, lists.size());
    for (size_t i = 0; i < lists.size(); ++i) {
      Napi::Object l = Napi::Object::New(env);
      l.Set("name", lists[i].name);
      l.Set("count", double(lists[i].count));
      block_lists.Set(uint32_t(i), l);
    }
    o.Set("blockLists", block_lists);
    return o;
  }

  // MACs of one sample's forward at the config's input size, per part of the backbone.
  Napi::Value Macs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ditto::PartMacs& macs = Live(env).backbone().macs;
    uint64_t blocks = 0;
    for (uint64_t b : macs.block) blocks += b;
    Napi::Object o = Napi::Object::New(env);
    o.Set("total", double(macs.total()));
    o.Set("prelude", double(macs.prelude));
    o.Set("blocks", double(blocks));
    o.Set("final", double(macs.final));
    return o;
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), Live(info.Env()).threads());
  }

  // Bytes the model holds now (weights, tables, workspace of the largest batch so far), as reported to V8.
  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(Live(info.Env()).memory_bytes()));
  }

  // session() → NativeSession: generation state whose steps run on this model's queue.
  Napi::Value Session(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    return NewSession(env, model_, queue_);
  }

  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), Live(info.Env()).device());
  }

  // upload(tensor) → a copy of a host tensor on the model's device (a device model), or on the host (a CPU model).
  // Runs on the JS thread: one host-to-device copy of the tensor's bytes.
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ditto::Denoiser& model = Live(env);
    const ditto::Tensor& host = TensorWrap::Get(env, info[0], "tensor");
    if (!host.on_host()) {
      ThrowIfError(env, ditto::invalid_argument("Expected tensor on the host but it is on " + host.device_name()));
    }
    std::shared_ptr<ditto::BackendOps> ops = model.tensor_ops();
    if (!ops) {
      auto copy = host.clone();
      ThrowIfError(env, copy.status());
      return TensorWrap::NewInstance(env, std::move(copy).value());
    }
    const std::string device = model.device();
    const int index = std::stoi(device.substr(device.find(':') + 1));
    return TensorWrap::NewInstance(env, device_tensor::Upload(env, *ops, host, index), ops);
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  // forward(x, t: Float32Array, labels: Int32Array | undefined, options?: {conditions: {name: NativeTensor},
  //         capture, blocks: [{kind, alpha}], abort: AbortFlag, cfgScale, guidedChannels})
  //   → Promise<{out, intermediates}>; cfgScale present = forward_with_cfg.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ForwardRequest request;
    request.x = TensorWrap::Get(env, info[0], "x");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      ThrowTypeError(env, "Expected Float32Array for t");
    }
    Napi::Float32Array t = info[1].As<Napi::Float32Array>();
    request.t.assign(t.Data(), t.Data() + t.ElementLength());
    Napi::Value tensors = env.Undefined();
    if (info.Length() > 3 && info[3].IsObject()) tensors = info[3].As<Napi::Object>().Get("conditions");
    request.conditions = ParseConditions(env, Live(env).info(), info[2], tensors, "");
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
          } else if (kind == "perturbAttention") {
            a.kind = ditto::BlockActionKind::PerturbAttention;
          } else if (kind != "compute") {
            ThrowTypeError(env, "Expected compute, skip, scale or perturbAttention for block action but received " + kind);
          }
          request.blocks.push_back(a);
        }
      }
      Napi::Value abort = options.Get("abort");
      if (abort.IsObject()) {
        if (!abort.As<Napi::Object>().InstanceOf(GetAddonData(env).abort_flag_constructor.Value())) {
          ThrowTypeError(env, "Expected AbortFlag for options.abort");
        }
        request.abort = AbortFlagOf(env, abort, "options.abort");
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

  std::shared_ptr<ditto::Denoiser> model_;
  std::shared_ptr<JobQueue> queue_;
};

// loadModel(path: string, {threads: number, dtype: 'f32'|'bf16', checkFinite: boolean,
//           device: 'cpu'|'cuda:N'}) → Promise<NativeModel>
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "Expected string for path");
  ditto::LoadOptions options;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    ReadLoadOptions(env, o, options);
    if (o.Get("device").IsString()) options.device = o.Get("device").As<Napi::String>().Utf8Value();
  }
  return StartLoad<ModelWrap, ditto::Denoiser>(
      env, &AddonData::model_constructor,
      [path = info[0].As<Napi::String>().Utf8Value(), options] { return ditto::load_model(path, options); });
}

}  // namespace

std::shared_ptr<std::atomic<bool>> AbortFlagOf(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(GetAddonData(env).abort_flag_constructor.Value()))
    ThrowTypeError(env, std::string("Expected AbortFlag for ") + what);
  return AbortFlagWrap::Unwrap(value.As<Napi::Object>())->flag();
}

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
