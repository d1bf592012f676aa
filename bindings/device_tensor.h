// Device tensors in the binding (docs/cuda.md, "Device tensors"): the arithmetic tensor_binding.cpp offers, for
// tensors in a backend's device memory, through the op table of the model that made them
// (ditto::Denoiser::tensor_ops: the model's stream, its own scratch). Uploads and downloads wait for the stream;
// element-wise ops only enqueue. Tensors of different devices never mix: ERR_INVALID_ARGUMENT.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "ditto/executor.h"
#include "ditto/tensor.h"

namespace ditto_node::device_tensor {

using Ops = std::shared_ptr<ditto::BackendOps>;

// ERR_INVALID_ARGUMENT unless `b` lives where `a` does: "Expected <what> on cuda:0 (where this is) but it is on cpu".
void RequireSameDevice(Napi::Env env, const ditto::Tensor& a, const ditto::Tensor& b, const char* what);
// An uninitialised f32 tensor of `shape` on a's device.
ditto::Tensor Empty(Napi::Env env, ditto::BackendOps& ops, const ditto::Shape& shape, int device);
ditto::Tensor Upload(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& host, int device);
void Download(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& t, float* host);
// out = a·x + b·y
ditto::Tensor Axpby(Napi::Env env, ditto::BackendOps& ops, float a, const ditto::Tensor& x, float b,
                    const ditto::Tensor& y);
// out = x ⊙ y (element-wise product)
ditto::Tensor Mul(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& x, const ditto::Tensor& y);
ditto::Tensor Lerp(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& x, const ditto::Tensor& y, float w);
// Σ c_j·t_j left to right in float32 (Tensor.combine's order): c_0·t_0, then (acc + c_j·t_j) per term.
ditto::Tensor Combine(Napi::Env env, ditto::BackendOps& ops, const std::vector<const ditto::Tensor*>& parts,
                      const std::vector<float>& c);
// Rows of `parts` one after the other (concat, and with one part clone / slice).
ditto::Tensor Concat(Napi::Env env, ditto::BackendOps& ops, const std::vector<const ditto::Tensor*>& parts,
                     const ditto::Shape& shape);
// NaN / ±Inf elements: one fused reduction (Σx² per tensor) decides; only a non-finite result downloads to count.
double CountNonFinite(Napi::Env env, ditto::BackendOps& ops, const ditto::Tensor& t);

}  // namespace ditto_node::device_tensor
