// Status -> JS error mapping; see errors.h.
#include "errors.h"

#include "addon.h"

namespace ditto_node {

const char* ErrorCodeFor(ditto::StatusCode code) {
  switch (code) {
    case ditto::StatusCode::kOk: return "OK";
    case ditto::StatusCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ditto::StatusCode::kModelLoad: return "ERR_MODEL_LOAD";
    case ditto::StatusCode::kUnsupportedModel: return "ERR_UNSUPPORTED_MODEL";
    case ditto::StatusCode::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ditto::StatusCode::kCuda: return "ERR_CUDA";
    case ditto::StatusCode::kAborted: return "ERR_ABORTED";
    case ditto::StatusCode::kNumerics: return "ERR_NUMERICS";
    case ditto::StatusCode::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

Napi::Error StatusToError(Napi::Env env, const ditto::Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message());
  error.Set("code", Napi::String::New(env, ErrorCodeFor(status.code())));
  error.Set("name", Napi::String::New(env, status.code() == ditto::StatusCode::kAborted ? "AbortError" : "DittoError"));
  return error;
}

void ThrowIfError(Napi::Env env, const ditto::Status& status) {
  if (!status.ok()) throw StatusToError(env, status);
}

void ThrowTypeError(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  Napi::Object codes = Napi::Object::New(env);
  for (auto code : {ditto::StatusCode::kInvalidArgument, ditto::StatusCode::kModelLoad,
                    ditto::StatusCode::kUnsupportedModel, ditto::StatusCode::kOutOfMemory, ditto::StatusCode::kCuda,
                    ditto::StatusCode::kAborted, ditto::StatusCode::kNumerics, ditto::StatusCode::kInternal}) {
    codes.Set(ErrorCodeFor(code), Napi::Number::New(env, static_cast<int>(code)));
  }
  exports.Set("errorCodes", codes);
}

}  // namespace ditto_node
