// Status -> JS error mapping (docs/architecture.md, "Errors, async work and devices"). The binding raises plain Error objects carrying `code` (ERR_*) and
// `name`; src/native.ts re-creates them as DittoError so `instanceof DittoError` works in user code.
#pragma once
#include <napi.h>

#include "ditto/status.h"

namespace ditto_node {

// "ERR_INVALID_ARGUMENT", ... ("ERR_INTERNAL" for kInternal).
const char* ErrorCodeFor(ditto::StatusCode code);
// A JS Error for a non-ok status: message from the engine, `code` set, name "AbortError" for aborts.
Napi::Error StatusToError(Napi::Env env, const ditto::Status& status);
// Throws (as a C++ exception, NAPI_CPP_EXCEPTIONS) when !status.ok().
void ThrowIfError(Napi::Env env, const ditto::Status& status);
// Argument-shape problems the TS layer should have caught: TypeError with the given message.
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace ditto_node
