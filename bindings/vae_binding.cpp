// NativeVae: the AutoencoderKL (ditto/vae.h) behind loadVae(path, {threads, dtype, checkFinite}) →
// Promise<NativeVae> with encode(image, {abort, capture}) → Promise<{mean, logvar, intermediates}> and
// decode(latents, {abort, capture}) → Promise<{out, intermediates}>. Like a model, a VAE has its own job queue
// (bindings/job_queue.h): its work never runs on the JS thread or libuv's pool, and teardown aborts it.
#include <map>

#include "addon.h"
#include "errors.h"
#include "external_memory.h"
#include "job_queue.h"
#include "load_job.h"
#include "session_binding.h"
#include "tensor_binding.h"
#include "ditto/vae.h"

namespace ditto_node {

namespace {

struct AccountedVae {
  AccountedVae(napi_env env, std::unique_ptr<ditto::AutoencoderKL> loaded) : vae(std::move(loaded)), memory(env) {
    memory.Set(static_cast<int64_t>(vae->memory_bytes()));
  }
  std::unique_ptr<ditto::AutoencoderKL> vae;
  ExternalMemory memory;
};

struct VaeRequest {
  ditto::Tensor input;
  bool encode = false;
  bool capture = false;
  std::shared_ptr<std::atomic<bool>> abort;
};

class VaeJob : public QueuedJob {
 public:
  VaeJob(std::shared_ptr<ditto::AutoencoderKL> vae, VaeRequest request)
      : vae_(std::move(vae)), request_(std::move(request)) {
    if (!request_.abort) request_.abort = std::make_shared<std::atomic<bool>>(false);
  }

 protected:
  void Abort() override { request_.abort->store(true); }

  ditto::Status Execute() override {
    ditto::VaeRunOptions options;
    options.abort = request_.abort.get();
    if (request_.capture) {
      options.capture = [this](std::string_view name, const ditto::Tensor& value) {
        intermediates_[std::string(name)] = value;  // already a fresh copy
      };
    }
    if (request_.encode) {
      auto post = vae_->encode(request_.input, options);
      if (!post.ok()) return post.status();
      mean_ = std::move(post->mean);
      logvar_ = std::move(post->logvar);
    } else {
      auto out = vae_->decode(request_.input, options);
      if (!out.ok()) return out.status();
      out_ = std::move(out).value();
    }
    return ditto::Status::Ok();
  }

  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    if (request_.encode) {
      result.Set("mean", TensorWrap::NewInstance(env, std::move(mean_)));
      result.Set("logvar", TensorWrap::NewInstance(env, std::move(logvar_)));
    } else {
      result.Set("out", TensorWrap::NewInstance(env, std::move(out_)));
    }
    Napi::Object intermediates = Napi::Object::New(env);
    for (auto& [name, tensor] : intermediates_) intermediates.Set(name, TensorWrap::NewInstance(env, std::move(tensor)));
    result.Set("intermediates", intermediates);
    return result;
  }

 private:
  std::shared_ptr<ditto::AutoencoderKL> vae_;
  VaeRequest request_;
  ditto::Tensor out_, mean_, logvar_;
  std::map<std::string, ditto::Tensor> intermediates_;
};

class VaeWrap : public Napi::ObjectWrap<VaeWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<VaeWrap>::DefineClass(
        env, "NativeVae",
        {InstanceMethod<&VaeWrap::Config>("config"), InstanceMethod<&VaeWrap::Encode>("encode"),
         InstanceMethod<&VaeWrap::Decode>("decode"), InstanceMethod<&VaeWrap::Threads>("threads"),
         InstanceMethod<&VaeWrap::MemoryBytes>("memoryBytes"), InstanceMethod<&VaeWrap::Dispose>("dispose")});
  }
  explicit VaeWrap(const Napi::CallbackInfo& info) : ObjectWrap<VaeWrap>(info) {}
  ~VaeWrap() override { Close(); }

  void Attach(Napi::Env env, std::unique_ptr<ditto::AutoencoderKL> loaded, std::shared_ptr<JobQueue> queue) {
    auto accounted = std::make_shared<AccountedVae>(env, std::move(loaded));
    vae_ = std::shared_ptr<ditto::AutoencoderKL>(accounted, accounted->vae.get());
    queue_ = std::move(queue);
  }

 private:
  void Close() {
    if (queue_) queue_->Close();
    queue_.reset();
    vae_.reset();
  }
  ditto::AutoencoderKL& Live(Napi::Env env) {
    if (!vae_) {
      Napi::Error error = Napi::Error::New(env, "VAE has been disposed");
      error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
      throw error;
    }
    return *vae_;
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ditto::VaeConfig& c = Live(env).config();
    Napi::Object o = Napi::Object::New(env);
    o.Set("family", "autoencoder-kl");
    o.Set("layout", c.layout);
    o.Set("inChannels", double(c.in_channels));
    o.Set("outChannels", double(c.out_channels));
    o.Set("latentChannels", double(c.latent_channels));
    Napi::Array channels = Napi::Array::New(env, c.block_out_channels.size());
    for (size_t i = 0; i < c.block_out_channels.size(); ++i) channels.Set(uint32_t(i), double(c.block_out_channels[i]));
    o.Set("blockOutChannels", channels);
    o.Set("layersPerBlock", double(c.layers_per_block));
    o.Set("normNumGroups", double(c.norm_num_groups));
    o.Set("scalingFactor", c.scaling_factor);
    o.Set("shiftFactor", c.shift_factor);
    o.Set("useQuantConv", c.use_quant_conv);
    o.Set("usePostQuantConv", c.use_post_quant_conv);
    o.Set("midBlockAddAttention", c.mid_block_add_attention);
    o.Set("downscale", double(c.downscale()));
    o.Set("weightsPath", Live(env).weights_path());
    return o;
  }
  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), Live(info.Env()).threads()); }
  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(Live(info.Env()).memory_bytes()));
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  Napi::Value Run(const Napi::CallbackInfo& info, bool encode) {
    Napi::Env env = info.Env();
    Live(env);
    VaeRequest request;
    request.encode = encode;
    request.input = TensorWrap::Get(env, info[0], encode ? "image" : "latents");
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object options = info[1].As<Napi::Object>();
      request.capture = options.Get("capture").ToBoolean();
      Napi::Value abort = options.Get("abort");
      if (abort.IsObject()) request.abort = AbortFlagOf(env, abort, "options.abort");
    }
    return QueuedJob::Start(env, *queue_, std::make_unique<VaeJob>(vae_, std::move(request)));
  }
  Napi::Value Encode(const Napi::CallbackInfo& info) { return Run(info, true); }
  Napi::Value Decode(const Napi::CallbackInfo& info) { return Run(info, false); }

  std::shared_ptr<ditto::AutoencoderKL> vae_;
  std::shared_ptr<JobQueue> queue_;
};

// loadVae(path: string, {threads, dtype: 'f32'|'bf16', checkFinite}) → Promise<NativeVae>
Napi::Value LoadVae(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "Expected string for path");
  ditto::VaeLoadOptions options;
  if (info.Length() > 1 && info[1].IsObject()) ReadLoadOptions(env, info[1].As<Napi::Object>(), options);
  return StartLoad<VaeWrap, ditto::AutoencoderKL>(
      env, &AddonData::vae_constructor,
      [path = info[0].As<Napi::String>().Utf8Value(), options] { return ditto::AutoencoderKL::load(path, options); });
}

}  // namespace

void RegisterVae(Napi::Env env, Napi::Object exports) {
  Napi::Function vae = VaeWrap::DefineClass(env);
  GetAddonData(env).vae_constructor = Napi::Persistent(vae);
  exports.Set("NativeVae", vae);
  exports.Set("loadVae", Napi::Function::New(env, LoadVae, "loadVae"));
}

}  // namespace ditto_node
