// NativeSession: a model's generation state (ditto::Session) as a JS object whose steps run on the model's
// job queue. Created by NativeModel.session().
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "ditto/model.h"
#include "job_queue.h"

namespace ditto_node {

Napi::Object NewSession(Napi::Env env, std::shared_ptr<ditto::Denoiser> model, std::shared_ptr<JobQueue> queue);
void RegisterSession(Napi::Env env, Napi::Object exports);
// The flag behind an AbortFlag object (model_binding.cpp); throws TypeError for anything else.
std::shared_ptr<std::atomic<bool>> AbortFlagOf(Napi::Env env, const Napi::Value& value, const char* what);

}  // namespace ditto_node
