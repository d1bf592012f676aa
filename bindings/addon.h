// Shared state of the N-API addon: per-environment data (class constructors) that the binding files register
// into, so that C++ code can create JS objects of another file's class (e.g. the model returns Tensors).
#pragma once
#include <napi.h>

namespace ditto_node {

struct AddonData {
  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference model_constructor;
  Napi::FunctionReference abort_flag_constructor;
  Napi::FunctionReference session_constructor;
};

AddonData& GetAddonData(Napi::Env env);

// One Register function per concern; addon.cpp calls each once.
void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterModel(Napi::Env env, Napi::Object exports);
void RegisterSession(Napi::Env env, Napi::Object exports);
void RegisterInfo(Napi::Env env, Napi::Object exports);
void RegisterDevice(Napi::Env env, Napi::Object exports);

}  // namespace ditto_node
