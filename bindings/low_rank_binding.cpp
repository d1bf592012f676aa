// truncateRank(w, out, in, rank) → Promise<Float32Array>: the best rank-`rank` approximation of a row-major out×in
// float32 matrix (ditto/low_rank.h), computed on libuv's thread pool (an AsyncWorker) so deriving autoguidance's
// low-rank weak model (src/guidance/lowRank.ts) never holds the JS thread; several matrices run in parallel, one
// per pool thread. Shapes are validated in src/guidance/lowRank.ts; the checks here only guard the memory.
#include <napi.h>

#include <cstring>
#include <vector>

#include "addon.h"
#include "ditto/low_rank.h"
#include "errors.h"

namespace ditto_node {
namespace {

class TruncateRankWorker : public Napi::AsyncWorker {
 public:
  TruncateRankWorker(Napi::Env env, std::vector<float> w, int64_t out, int64_t in, int64_t rank)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), w_(std::move(w)), out_(out), in_(in), rank_(rank) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    result_.resize(w_.size());
    status_ = ditto::truncate_rank(w_.data(), out_, in_, rank_, result_.data());
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusToError(env, status_).Value());
      return;
    }
    Napi::Float32Array array = Napi::Float32Array::New(env, result_.size());
    std::memcpy(array.Data(), result_.data(), result_.size() * sizeof(float));
    deferred_.Resolve(array);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<float> w_, result_;
  int64_t out_, in_, rank_;
  ditto::Status status_;
};

int64_t PositiveInteger(const Napi::Value& v, const char* name) {
  const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(x >= 1) || x != static_cast<double>(static_cast<int64_t>(x))) ThrowTypeError(v.Env(), std::string("Expected positive integer for ") + name);
  return static_cast<int64_t>(x);
}

Napi::Value TruncateRank(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    ThrowTypeError(env, "Expected Float32Array for w");
  }
  Napi::Float32Array w = info[0].As<Napi::Float32Array>();
  const int64_t out = PositiveInteger(info[1], "out"), in = PositiveInteger(info[2], "in"), rank = PositiveInteger(info[3], "rank");
  if (static_cast<int64_t>(w.ElementLength()) != out * in) ThrowTypeError(env, "Expected out·in values in w");
  auto* worker = new TruncateRankWorker(env, std::vector<float>(w.Data(), w.Data() + w.ElementLength()), out, in, rank);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterLowRank(Napi::Env env, Napi::Object exports) {
  exports.Set("truncateRank", Napi::Function::New<TruncateRank>(env, "truncateRank"));
}

}  // namespace ditto_node
