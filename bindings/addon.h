// Shared state of the N-API addon: per-environment data (class constructors) that the binding files register
// into, so that C++ code can create JS objects of another file's class (e.g. the model returns Tensors).
#pragma once
#include <napi.h>

#include <memory>

#include "ditto/thread_pool.h"

namespace ditto_node {

// Everything the addon keeps per environment (main thread and each worker_thread load the addon into their own
// environment, so nothing here may be a static); deleted with the environment.
struct AddonData {
  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference model_constructor;
  Napi::FunctionReference abort_flag_constructor;
  std::unique_ptr<ditto::ThreadPool> tensor_op_pool;  // created by the first tensor op (tensor_binding.cpp)
  Napi::FunctionReference session_constructor;
  Napi::FunctionReference vae_constructor;
};

AddonData& GetAddonData(Napi::Env env);

// One Register function per concern; addon.cpp calls each once.
void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterModel(Napi::Env env, Napi::Object exports);
void RegisterSession(Napi::Env env, Napi::Object exports);
void RegisterInfo(Napi::Env env, Napi::Object exports);
void RegisterDevice(Napi::Env env, Napi::Object exports);
void RegisterNoise(Napi::Env env, Napi::Object exports);
void RegisterImage(Napi::Env env, Napi::Object exports);
void RegisterVae(Napi::Env env, Napi::Object exports);
void RegisterLowRank(Napi::Env env, Napi::Object exports);

}  // namespace ditto_node
