// Host-only stand-in for cuda_bf16.h (emulated DiT test): a bf16 is its 16 bits, rounded to nearest even
// by the engine's own scalar conversion, exactly what __float2bfloat16_rn does on the GPU.
#pragma once
#include <cstdint>
#include "ditto/tensor.h"
struct __nv_bfloat16 { uint16_t x; };
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {ditto::f32_to_bf16(f)}; }
inline float __bfloat162float(__nv_bfloat16 b) { return ditto::bf16_to_f32(b.x); }
