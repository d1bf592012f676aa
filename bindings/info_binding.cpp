// Engine facts for `ditto info` and tests: ISA in use, CPU features, default thread count, the DITTO_ISA-like
// run-time override (setIsa) so tests can exercise every kernel path this machine has, and V8's external-memory
// counter (externalMemory), which is what the native memory reported by tensors and models moves, and the engine's
// own allocation counters (memory, peak trackers: ditto/memory.h).
#include <string>

#include "addon.h"
#include "ditto/cpu_features.h"
#include "ditto/memory.h"
#include "ditto/thread_pool.h"
#include "errors.h"

namespace ditto_node {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ditto::CpuFeatures& f = ditto::cpu_features();
  Napi::Object features = Napi::Object::New(env);
  features.Set("avx2", f.avx2);
  features.Set("fma", f.fma);
  features.Set("f16c", f.f16c);
  features.Set("avx512f", f.avx512f);
  features.Set("avx512bw", f.avx512bw);
  features.Set("avx512vl", f.avx512vl);
  features.Set("avx512dq", f.avx512dq);
  features.Set("avx512bf16", f.avx512_bf16);
  features.Set("avx512fp16", f.avx512_fp16);
  features.Set("amxTile", f.amx_tile);
  features.Set("amxBf16", f.amx_bf16);
  Napi::Array supported = Napi::Array::New(env);
  uint32_t n = 0;
  for (auto isa : {ditto::Isa::Portable, ditto::Isa::Avx2, ditto::Isa::Avx512, ditto::Isa::Avx512Bf16, ditto::Isa::Amx}) {
    if (isa == ditto::Isa::Portable || ditto::isa_supported(isa)) supported.Set(n++, ditto::isa_name(isa));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", ditto::isa_name(ditto::best_isa()));
  o.Set("supportedIsas", supported);
  o.Set("cpu", f.brand);
  o.Set("features", features);
  o.Set("defaultThreads", ditto::ThreadPool::default_thread_count());
  o.Set("napiVersion", NAPI_VERSION);
  return o;
}

// setIsa(name | null): caps the kernel path (as DITTO_ISA does); null restores the default.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsNull() || info[0].IsUndefined()) {
    ditto::set_isa_override(nullptr);
  } else {
    if (!info[0].IsString()) ThrowTypeError(env, "Expected string or null for isa");
    ditto::Isa isa;
    std::string name = info[0].As<Napi::String>().Utf8Value();
    if (!ditto::parse_isa(name, &isa)) {
      throw Napi::RangeError::New(env, "Expected one of portable, avx2, avx512, avx512bf16, amx for isa but received " + name);
    }
    ditto::set_isa_override(&isa);
  }
  return Napi::String::New(env, ditto::isa_name(ditto::best_isa()));
}

// externalMemory(): the isolate's external memory as V8's garbage collector counts it (napi_adjust_external_memory
// by 0 returns the total). Node's process.memoryUsage().external shows only ArrayBuffer backing stores.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  int64_t total = 0;
  napi_adjust_external_memory(info.Env(), 0, &total);
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

// memory(): the engine's allocation counters (process-wide: every model, tensor and worker thread).
Napi::Value Memory(const Napi::CallbackInfo& info) {
  const ditto::MemoryCounters c = ditto::memory_counters();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("allocatedBytes", static_cast<double>(c.allocated_bytes));
  o.Set("peakBytes", static_cast<double>(c.peak_bytes));
  o.Set("allocations", static_cast<double>(c.allocations));
  o.Set("liveBlocks", static_cast<double>(c.live_blocks));
  o.Set("cachedBytes", static_cast<double>(c.cached_bytes));
  return o;
}

Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info) {
  ditto::reset_peak_memory();
  return info.Env().Undefined();
}

// beginPeakTracking() -> id (-1 when every tracker is in use); endPeakTracking(id) -> the peak bytes since begin.
Napi::Value BeginPeakTracking(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ditto::begin_peak_tracking());
}

Napi::Value EndPeakTracking(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), "Expected number for id");
  const int id = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), static_cast<double>(ditto::end_peak_tracking(id)));
}

}  // namespace

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory, "resetPeakMemory"));
  exports.Set("beginPeakTracking", Napi::Function::New(env, BeginPeakTracking, "beginPeakTracking"));
  exports.Set("endPeakTracking", Napi::Function::New(env, EndPeakTracking, "endPeakTracking"));
}

}  // namespace ditto_node
