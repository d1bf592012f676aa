// Non-finite (NaN / ±Inf) detection: the weight check at load (a checkpoint with one NaN would otherwise load
// and sample black images) and the per-step latent check of the sampling pipeline (ERR_NUMERICS). Works on the
// exponent bits (all ones = NaN or Inf, IEEE 754), so it is exact, needs no aligned data and vectorises as
// integer compares whatever the floating-point flags.
#pragma once
#include <cstdint>

#include "ditto/safetensors.h"
#include "ditto/status.h"
#include "ditto/tensor.h"

namespace ditto::cpu {

// NaN/Inf elements among `n` values of a floating dtype (F32, BF16, F16, F64) at `data` (any alignment);
// 0 for other dtypes.
int64_t count_non_finite(const void* data, DType dtype, int64_t n);

// Index of the first NaN/Inf element, or -1 when every element is finite (or the dtype is not floating).
int64_t first_non_finite(const void* data, DType dtype, int64_t n);

// kModelLoad naming the first floating-point tensor of `file` (in header order) that holds a NaN or Inf, with
// the element index and its value; Ok when every floating-point tensor is finite.
Status check_finite_weights(const SafetensorsFile& file);

}  // namespace ditto::cpu
