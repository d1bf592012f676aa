// Status code names: the strings the binding uses as DittoError.code.
#include "ditto/status.h"

namespace ditto {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case StatusCode::kModelLoad: return "ERR_MODEL_LOAD";
    case StatusCode::kUnsupportedModel: return "ERR_UNSUPPORTED_MODEL";
    case StatusCode::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case StatusCode::kCuda: return "ERR_CUDA";
    case StatusCode::kAborted: return "ERR_ABORTED";
    case StatusCode::kNumerics: return "ERR_NUMERICS";
    case StatusCode::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

}  // namespace ditto
