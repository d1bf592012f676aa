// Elementwise ops (SiLU, tanh-GELU, axpby, lerp, linear combinations, add/mul/scale): float32, parallel over
// fixed-size chunks, in-place safe. GELU is the tanh approximation PyTorch's CPU kernel computes,
// 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), evaluated as x / (1 + e^(−2u)) (identical in exact
// arithmetic, more accurate in float32). Sampler arithmetic keeps the header's float32 op order.
// The activations dispatch to AVX-512 / AVX2 twins (elementwise_avx512.cpp / _avx2.cpp); the arithmetic
// ops are plain loops the compiler vectorises (SSE2 already streams faster than memory: ~80 GB/s on
// cache-resident sampler tensors, one core), so they run on the calling thread and only tensors of several
// million elements, which stream from DRAM, are split over the pool (waking workers costs more than a
// sampler-sized op: examples/bench-elementwise.mjs).
#include "ditto/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "cpu/elementwise_kernels.h"
#include "ditto/cpu_features.h"

namespace ditto::cpu {

namespace {

// Below this many elements a single task is cheaper than waking workers.
constexpr int64_t kChunk = 32768;

template <class Fn>
void for_chunks(ThreadPool& pool, int64_t n, const Fn& fn) {
  if (n <= 0) return;
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  if (tasks == 1) {
    fn(int64_t{0}, n);
    return;
  }
  pool.parallel_for(tasks, [&](int64_t t, int) {
    const int64_t begin = t * kChunk;
    fn(begin, std::min(n, begin + kChunk));
  });
}

// Memory-bound arithmetic: one thread up to this many elements, then tasks of kArithmeticChunk elements.
constexpr int64_t kArithmeticParallelMin = int64_t{1} << 22;
constexpr int64_t kArithmeticChunk = int64_t{1} << 18;

template <class Fn>
void for_arithmetic_chunks(ThreadPool& pool, int64_t n, const Fn& fn) {
  if (n <= 0) return;
  if (n < kArithmeticParallelMin) {
    fn(int64_t{0}, n);
    return;
  }
  pool.parallel_for((n + kArithmeticChunk - 1) / kArithmeticChunk, [&](int64_t t, int) {
    const int64_t begin = t * kArithmeticChunk;
    fn(begin, std::min(n, begin + kArithmeticChunk));
  });
}

}  // namespace

// 0.5·x·(1 + tanh(u)) written as x / (1 + e^(−2u)): the same function, without libm's (slow) tanhf and
// without the 1 + tanh(u) cancellation for x ≲ −5; the vector twins use the identical form.
float gelu_tanh_scalar(float x) {
  constexpr float kBeta = 0.7978845608028654f;  // sqrt(2/pi)
  constexpr float kKappa = 0.044715f;
  const float inner = kBeta * (x + kKappa * x * x * x);
  return x / (1.f + std::exp(-2.f * inner));
}

float silu_scalar(float x) { return x / (1.f + std::exp(-x)); }

namespace detail {
void silu_portable(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu_scalar(x[i]);
}
void gelu_tanh_portable(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_scalar(x[i]);
}
}  // namespace detail

namespace {
using ActivationFn = void (*)(const float*, float*, int64_t);

ActivationFn pick_silu() {
  switch (best_isa()) {
    case Isa::Amx:
    case Isa::Avx512Bf16:
    case Isa::Avx512: return detail::silu_avx512;
    case Isa::Avx2: return detail::silu_avx2;
    default: return detail::silu_portable;
  }
}
ActivationFn pick_gelu() {
  switch (best_isa()) {
    case Isa::Amx:
    case Isa::Avx512Bf16:
    case Isa::Avx512: return detail::gelu_tanh_avx512;
    case Isa::Avx2: return detail::gelu_tanh_avx2;
    default: return detail::gelu_tanh_portable;
  }
}
}  // namespace

void silu(ThreadPool& pool, const float* x, float* out, int64_t n) {
  const ActivationFn fn = pick_silu();
  for_chunks(pool, n, [&](int64_t b, int64_t e) { fn(x + b, out + b, e - b); });
}

void gelu_tanh(ThreadPool& pool, const float* x, float* out, int64_t n) {
  const ActivationFn fn = pick_gelu();
  for_chunks(pool, n, [&](int64_t b, int64_t e) { fn(x + b, out + b, e - b); });
}

void axpby(ThreadPool& pool, float a, const float* x, float b, const float* y, float* out, int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a * x[i] + b * y[i];
  });
}

void lerp(ThreadPool& pool, const float* x, const float* y, float w, float* out, int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = x[i] + w * (y[i] - x[i]);
  });
}

void linear_combination(ThreadPool& pool, const float* const* inputs, const float* coeffs, int num_inputs, float* out,
                        int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t s, int64_t e) {
    if (num_inputs <= 0) {
      std::fill(out + s, out + e, 0.f);
      return;
    }
    // Blocks of kBlock elements accumulated in a stack buffer, one input at a time (vectorisable loops), so that
    // `out` may alias any input: a block of every input is read before that block of `out` is written. The sum is
    // still c0·x0 + c1·x1 + … left to right per element, in float32.
    constexpr int64_t kBlock = 1024;
    alignas(64) float acc[kBlock];
    for (int64_t b = s; b < e; b += kBlock) {
      const int64_t len = std::min(kBlock, e - b);
      const float c0 = coeffs[0];
      const float* x0 = inputs[0] + b;
      for (int64_t i = 0; i < len; ++i) acc[i] = c0 * x0[i];
      for (int j = 1; j < num_inputs; ++j) {
        const float cj = coeffs[j];
        const float* xj = inputs[j] + b;
        for (int64_t i = 0; i < len; ++i) acc[i] += cj * xj[i];
      }
      std::copy(acc, acc + len, out + b);
    }
  });
}

void add(ThreadPool& pool, const float* x, const float* y, float* out, int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = x[i] + y[i];
  });
}

void mul(ThreadPool& pool, const float* x, const float* y, float* out, int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = x[i] * y[i];
  });
}

void scale(ThreadPool& pool, const float* x, float s, float* out, int64_t n) {
  for_arithmetic_chunks(pool, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = x[i] * s;
  });
}

}  // namespace ditto::cpu
