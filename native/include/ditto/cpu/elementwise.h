// Elementwise ops for activations and samplers. Every op is float32, parallel over chunks, and in-place
// safe (out may alias an input). Sampler arithmetic stays in float32 in the order written here so that
// schedulers match diffusers' float32 results.
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

void silu(ThreadPool& pool, const float* x, float* out, int64_t n);
void gelu_tanh(ThreadPool& pool, const float* x, float* out, int64_t n);
// out = a*x + b*y
void axpby(ThreadPool& pool, float a, const float* x, float b, const float* y, float* out, int64_t n);
// out = x + w*(y - x)
void lerp(ThreadPool& pool, const float* x, const float* y, float w, float* out, int64_t n);
// out = sum_j coeffs[j] * inputs[j], accumulated left to right in float32 (a linear combination of up to 8 tensors)
void linear_combination(ThreadPool& pool, const float* const* inputs, const float* coeffs, int num_inputs, float* out,
                        int64_t n);
// out = x + y ; out = x * y ; out = x * s
void add(ThreadPool& pool, const float* x, const float* y, float* out, int64_t n);
void mul(ThreadPool& pool, const float* x, const float* y, float* out, int64_t n);
void scale(ThreadPool& pool, const float* x, float s, float* out, int64_t n);

// Scalar forms shared with fused kernels (identical rounding everywhere).
float gelu_tanh_scalar(float x);
float silu_scalar(float x);

}  // namespace ditto::cpu
