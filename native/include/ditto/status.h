// Status and Result<T>: how the engine reports failure. The engine never aborts or exits on user input;
// every fallible call returns a Status (or a Result carrying one), and the N-API binding maps the code to
// a typed JS error (docs/architecture.md: DittoError with ERR_* codes).
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace ditto {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // ERR_INVALID_ARGUMENT: bad shapes, dtypes, labels, options
  kModelLoad,         // ERR_MODEL_LOAD: missing/malformed files, bad safetensors, missing tensors
  kUnsupportedModel,  // ERR_UNSUPPORTED_MODEL: a family or layout the engine does not run
  kOutOfMemory,       // ERR_OUT_OF_MEMORY
  kCuda,              // ERR_CUDA
  kAborted,           // ERR_ABORTED: the caller's abort flag was raised
  kNumerics,          // ERR_NUMERICS: a computation produced NaN/Inf (e.g. a sampling step's latents)
  kInternal,          // a bug in Ditto, never the user's fault
};

const char* status_code_name(StatusCode code);  // "ERR_INVALID_ARGUMENT", ...

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status model_load_error(std::string m) { return Status(StatusCode::kModelLoad, std::move(m)); }
inline Status unsupported_model(std::string m) { return Status(StatusCode::kUnsupportedModel, std::move(m)); }
inline Status out_of_memory(std::string m) { return Status(StatusCode::kOutOfMemory, std::move(m)); }
inline Status aborted_error() { return Status(StatusCode::kAborted, "The operation was aborted"); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

// Result<T>: a value or a non-ok Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}     // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ditto

#define DITTO_CONCAT_INNER(a, b) a##b
#define DITTO_CONCAT(a, b) DITTO_CONCAT_INNER(a, b)

#define DITTO_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::ditto::Status ditto_status_ = (expr);      \
    if (!ditto_status_.ok()) return ditto_status_; \
  } while (0)

#define DITTO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define DITTO_ASSIGN_OR_RETURN(lhs, expr) \
  DITTO_ASSIGN_OR_RETURN_IMPL(DITTO_CONCAT(ditto_result_, __LINE__), lhs, expr)
