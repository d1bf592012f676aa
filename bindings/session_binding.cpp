// NativeSession binding (see session_binding.h). step() copies the request (tensors stay native) into a
// ditto::StepRequest on the JS thread and runs it as one job on the model's queue: the branches, the block
// plans, the signal reductions and the linear epilogue all happen in that job. end() also runs on the queue,
// after the steps already queued, so it never races a running step. Arguments are validated in TypeScript
// (src/session.ts); the checks here only keep the addon safe when called directly.
#include "session_binding.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "conditions_binding.h"
#include "ditto/executor.h"
#include "errors.h"
#include "tensor_binding.h"

namespace ditto_node {
namespace {

ditto::BlockAction ParseAction(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowTypeError(env, "Expected an object for each block action");
  Napi::Object o = value.As<Napi::Object>();
  ditto::BlockAction a;
  const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
  if (kind == "compute") a.kind = ditto::BlockActionKind::Compute;
  else if (kind == "skip") a.kind = ditto::BlockActionKind::Skip;
  else if (kind == "scale") a.kind = ditto::BlockActionKind::Scale;
  else if (kind == "perturbAttention") a.kind = ditto::BlockActionKind::PerturbAttention;
  else if (kind == "reuse") a.kind = ditto::BlockActionKind::Reuse;
  else if (kind == "forecast") a.kind = ditto::BlockActionKind::Forecast;
  else ThrowTypeError(env, "Expected compute, skip, scale, perturbAttention, reuse or forecast for block action but received " + kind);
  if (o.Get("alpha").IsNumber()) a.alpha = o.Get("alpha").As<Napi::Number>().FloatValue();
  if (o.Get("spanEnd").IsNumber()) a.span_end = o.Get("spanEnd").As<Napi::Number>().Int32Value();
  if (o.Get("storeEnd").IsNumber()) a.store_end = o.Get("storeEnd").As<Napi::Number>().Int32Value();
  return a;
}

std::vector<float> Numbers(Napi::Env env, const Napi::Value& value, const char* what) {
  std::vector<float> out;
  if (!value.IsArray()) ThrowTypeError(env, std::string("Expected number[] for ") + what);
  Napi::Array a = value.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).As<Napi::Number>().FloatValue());
  return out;
}

ditto::BranchPlan ParseBranch(Napi::Env env, const ditto::ModelInfo& info, const Napi::Value& value) {
  if (!value.IsObject()) ThrowTypeError(env, "Expected an object for each branch");
  Napi::Object o = value.As<Napi::Object>();
  ditto::BranchPlan b;
  if (o.Get("key").IsString()) b.key = o.Get("key").As<Napi::String>().Utf8Value();
  b.conditions = ParseConditions(env, info, o.Get("labels"), o.Get("conditions"), "branch ");
  Napi::Value actions = o.Get("actions");
  if (actions.IsArray()) {
    Napi::Array rows = actions.As<Napi::Array>();
    for (uint32_t s = 0; s < rows.Length(); ++s) {
      if (!rows.Get(s).IsArray()) ThrowTypeError(env, "Expected an array of block actions per sample");
      Napi::Array row = rows.Get(s).As<Napi::Array>();
      std::vector<ditto::BlockAction> plan;
      for (uint32_t i = 0; i < row.Length(); ++i) plan.push_back(ParseAction(env, row.Get(i)));
      b.actions.push_back(std::move(plan));
    }
  }
  Napi::Value signals = o.Get("signals");
  if (signals.IsArray()) {
    Napi::Array list = signals.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Object sig = list.Get(i).As<Napi::Object>();
      ditto::SignalRequest r;
      r.block = sig.Get("block").As<Napi::Number>().Int32Value();
      const std::string kind = sig.Get("kind").As<Napi::String>().Utf8Value();
      r.kind = kind == "input"           ? ditto::SignalKind::InputChange
               : kind == "forecastError" ? ditto::SignalKind::ForecastError
               : kind == "residualNorm"  ? ditto::SignalKind::ResidualNorm
                                         : ditto::SignalKind::ResidualChange;
      if (sig.Get("end").IsNumber()) r.end = sig.Get("end").As<Napi::Number>().Int32Value();
      if (sig.Get("order").IsNumber()) r.order = sig.Get("order").As<Napi::Number>().Int32Value();
      b.signals.push_back(r);
    }
  }
  Napi::Value fbc = o.Get("firstBlockCache");
  if (fbc.IsObject()) {
    Napi::Object f = fbc.As<Napi::Object>();
    b.first_block_cache.enabled = true;
    b.first_block_cache.probe_end = f.Get("probeEnd").As<Napi::Number>().Int32Value();
    b.first_block_cache.threshold = f.Get("threshold").As<Napi::Number>().FloatValue();
    if (f.Get("restEnd").IsNumber()) b.first_block_cache.rest_end = f.Get("restEnd").As<Napi::Number>().Int32Value();
    b.first_block_cache.input_probe = f.Get("probe").IsString() && f.Get("probe").As<Napi::String>().Utf8Value() == "input";
    if (f.Get("coefficients").IsArray()) b.first_block_cache.coefficients = Numbers(env, f.Get("coefficients"), "coefficients");
    if (f.Get("accumulated").IsArray()) b.first_block_cache.accumulated = Numbers(env, f.Get("accumulated"), "accumulated");
    if (f.Get("scale").IsArray()) b.first_block_cache.scale = Numbers(env, f.Get("scale"), "scale");
  }
  return b;
}


// The session shared by the JS object and its queued jobs.
struct SessionState {
  explicit SessionState(std::shared_ptr<ditto::Denoiser> m)
      : model(m), tensor_ops(m->tensor_ops()), session(std::move(m)) {}
  std::shared_ptr<ditto::Denoiser> model;  // for its ModelInfo (condition names) on the JS thread
  std::shared_ptr<ditto::BackendOps> tensor_ops;  // a device model's: its step outputs stay device tensors
  ditto::Session session;
};

class StepJob : public QueuedJob {
 public:
  StepJob(std::shared_ptr<SessionState> state, ditto::StepRequest request, std::shared_ptr<std::atomic<bool>> abort)
      : state_(std::move(state)), request_(std::move(request)), abort_(std::move(abort)) {
    // Environment teardown aborts a running step through this flag (JobQueue), with or without a signal.
    if (!abort_) abort_ = std::make_shared<std::atomic<bool>>(false);
    request_.abort = abort_.get();
  }
  void Abort() override { abort_->store(true); }

 protected:
  ditto::Status Execute() override {
    auto result = state_->session.step(request_);
    if (!result.ok()) return result.status();
    result_ = std::move(result).value();
    return ditto::Status::Ok();
  }
  Napi::Value OnSuccess(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Array outputs = Napi::Array::New(env, result_.branch_outputs.size());
    for (size_t b = 0; b < result_.branch_outputs.size(); ++b)
      outputs.Set(static_cast<uint32_t>(b), TensorWrap::NewInstance(env, std::move(result_.branch_outputs[b]), state_->tensor_ops));
    o.Set("branchOutputs", outputs);
    if (result_.guided.defined() && result_.guided.numel() > 0) {
      o.Set("guided", TensorWrap::NewInstance(env, std::move(result_.guided), state_->tensor_ops));
      o.Set("next", TensorWrap::NewInstance(env, std::move(result_.next), state_->tensor_ops));
    }
    Napi::Array signals = Napi::Array::New(env, result_.signals.size());
    for (size_t b = 0; b < result_.signals.size(); ++b) {
      Napi::Float32Array values = Napi::Float32Array::New(env, result_.signals[b].size());
      std::copy(result_.signals[b].begin(), result_.signals[b].end(), values.Data());
      signals.Set(static_cast<uint32_t>(b), values);
    }
    o.Set("signals", signals);
    Napi::Array hits = Napi::Array::New(env, result_.cache_hits.size());
    for (size_t b = 0; b < result_.cache_hits.size(); ++b) {
      Napi::Uint8Array values = Napi::Uint8Array::New(env, result_.cache_hits[b].size());
      std::copy(result_.cache_hits[b].begin(), result_.cache_hits[b].end(), values.Data());
      hits.Set(static_cast<uint32_t>(b), values);
    }
    o.Set("cacheHits", hits);
    o.Set("macs", double(result_.macs));
    o.Set("macsUncached", double(result_.macs_uncached));
    o.Set("blocksComputed", double(result_.blocks_computed));
    o.Set("blocksReused", double(result_.blocks_reused));
    if (result_.next_non_finite >= 0) o.Set("nextNonFinite", double(result_.next_non_finite));
    o.Set("slotBytes", double(state_->session.slot_bytes()));
    return o;
  }

 private:
  std::shared_ptr<SessionState> state_;
  ditto::StepRequest request_;
  std::shared_ptr<std::atomic<bool>> abort_;
  ditto::StepResult result_;
};

class EndJob : public QueuedJob {
 public:
  explicit EndJob(std::shared_ptr<SessionState> state) : state_(std::move(state)) {}

 protected:
  ditto::Status Execute() override {
    state_->session.end();
    return ditto::Status::Ok();
  }
  Napi::Value OnSuccess(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<SessionState> state_;
};

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<SessionWrap>::DefineClass(env, "NativeSession",
                                                {InstanceMethod<&SessionWrap::Step>("step"),
                                                 InstanceMethod<&SessionWrap::End>("end"),
                                                 InstanceMethod<&SessionWrap::Release>("release"),
                                                 InstanceMethod<&SessionWrap::SlotBytes>("slotBytes")});
  }
  explicit SessionWrap(const Napi::CallbackInfo& info) : ObjectWrap<SessionWrap>(info) {}
  void Attach(std::shared_ptr<ditto::Denoiser> model, std::shared_ptr<JobQueue> queue) {
    state_ = std::make_shared<SessionState>(std::move(model));
    queue_ = std::move(queue);
  }

 private:
  // step(x, t: Float32Array, {branches, epilogue?, returnBranchOutputs?, sharePrefixes?, countNonFinite?, abort?})
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Live(env);
    ditto::StepRequest request;
    request.x = TensorWrap::Get(env, info[0], "x");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      ThrowTypeError(env, "Expected Float32Array for t");
    Napi::Float32Array t = info[1].As<Napi::Float32Array>();
    request.t.assign(t.Data(), t.Data() + t.ElementLength());
    if (!info[2].IsObject()) ThrowTypeError(env, "Expected an object for the step request");
    Napi::Object o = info[2].As<Napi::Object>();
    if (!o.Get("branches").IsArray()) ThrowTypeError(env, "Expected an array for branches");
    Napi::Array branches = o.Get("branches").As<Napi::Array>();
    for (uint32_t b = 0; b < branches.Length(); ++b) request.branches.push_back(ParseBranch(env, state_->model->info(), branches.Get(b)));
    if (o.Get("epilogue").IsObject()) {
      Napi::Object e = o.Get("epilogue").As<Napi::Object>();
      request.epilogue.enabled = true;
      request.epilogue.branch_weights = Numbers(env, e.Get("branchWeights"), "epilogue.branchWeights");
      request.epilogue.a = e.Get("a").As<Napi::Number>().FloatValue();
      request.epilogue.c = e.Get("c").As<Napi::Number>().FloatValue();
      if (e.Get("anchor").IsNumber()) request.epilogue.anchor = e.Get("anchor").As<Napi::Number>().Int32Value();
      if (e.Get("extras").IsArray()) {
        Napi::Array extras = e.Get("extras").As<Napi::Array>();
        for (uint32_t j = 0; j < extras.Length(); ++j)
          request.epilogue.extras.push_back(TensorWrap::Get(env, extras.Get(j), "epilogue.extras"));
        request.epilogue.extra_weights = Numbers(env, e.Get("extraWeights"), "epilogue.extraWeights");
      }
    }
    if (o.Get("returnBranchOutputs").IsBoolean())
      request.return_branch_outputs = o.Get("returnBranchOutputs").As<Napi::Boolean>().Value();
    if (o.Get("sharePrefixes").IsBoolean()) request.share_prefixes = o.Get("sharePrefixes").As<Napi::Boolean>().Value();
    if (o.Get("countNonFinite").IsBoolean()) request.count_non_finite = o.Get("countNonFinite").As<Napi::Boolean>().Value();
    if (o.Get("cacheBudgetBytes").IsNumber())
      request.cache_budget_bytes = static_cast<uint64_t>(std::max(0.0, o.Get("cacheBudgetBytes").As<Napi::Number>().DoubleValue()));
    std::shared_ptr<std::atomic<bool>> abort;
    if (o.Get("abort").IsObject()) abort = AbortFlagOf(env, o.Get("abort"), "abort");
    return QueuedJob::Start(env, *queue_, std::make_unique<StepJob>(state_, std::move(request), std::move(abort)));
  }

  // end() → Promise<void>: frees every slot once the steps queued before it have run.
  Napi::Value End(const Napi::CallbackInfo& info) {
    Live(info.Env());
    return QueuedJob::Start(info.Env(), *queue_, std::make_unique<EndJob>(state_));
  }

  // release(): drops this object's hold on the session (and through it on the model), so a disposed session does
  // not keep a disposed model's weights alive until the garbage collector finds it (issue 24). Jobs already queued
  // hold their own reference and still run; the session's slots and model reference go with the last of them.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    state_.reset();
    queue_.reset();
    return info.Env().Undefined();
  }

  Napi::Value SlotBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), state_ ? double(state_->session.slot_bytes()) : 0.0);
  }

  void Live(Napi::Env env) {
    if (state_) return;
    Napi::Error error = Napi::Error::New(env, "Session has been disposed");
    error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
    throw error;
  }

  std::shared_ptr<SessionState> state_;
  std::shared_ptr<JobQueue> queue_;
};

}  // namespace

Napi::Object NewSession(Napi::Env env, std::shared_ptr<ditto::Denoiser> model, std::shared_ptr<JobQueue> queue) {
  Napi::Object object = GetAddonData(env).session_constructor.New({});
  SessionWrap::Unwrap(object)->Attach(std::move(model), std::move(queue));
  return object;
}

void RegisterSession(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = SessionWrap::DefineClass(env);
  GetAddonData(env).session_constructor = Napi::Persistent(ctor);
  exports.Set("NativeSession", ctor);
}

}  // namespace ditto_node
