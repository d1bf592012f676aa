// Gaussian noise generators for sampling, bit-identical to the TypeScript reference implementations in
// src/noise/ (philox.ts: Philox4x32-10 + Box–Muller, Salmon et al. SC'11; reference.ts: the glyph fixture's
// splitmix64 + Box–Muller, Steele et al. OOPSLA'14). The float64 log/sin/cos are js_math.h's ports of V8's fdlibm
// functions, so every value equals what Node computes for the same seed. One sample's noise depends only on
// (seed, count); a batch is the samples' noise concatenated.
#pragma once
#include <array>
#include <cstdint>

namespace ditto {

// Philox4x32 with 10 rounds: encrypts `counter` under (key0, key1).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, uint32_t key0, uint32_t key1);

// `count` N(0, 1) float32 values for the 64-bit seed (key0 = low word, key1 = high word), counter stream `stream`.
void philox_gaussian(uint32_t key0, uint32_t key1, uint32_t stream, float* out, int64_t count);

// The fixture's gaussian(seed, count): splitmix64 from state `seed`, Box–Muller on consecutive pairs.
void splitmix_gaussian(uint64_t seed, float* out, int64_t count);

}  // namespace ditto
