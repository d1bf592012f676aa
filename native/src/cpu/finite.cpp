// Non-finite detection (see ditto/cpu/finite.h): a branch-free count over the exponent bits that the compiler
// vectorises, and a first-index search that counts block by block and only scans the block that has one.
#include "ditto/cpu/finite.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace ditto::cpu {
namespace {

// Elements whose exponent field is all ones. memcpy loads: safetensors data need not be aligned. The count runs in
// chunks with a counter as wide as the element (no widening in the vector loop), summed into 64 bits per chunk.
template <class Bits, Bits kExponent>
int64_t count_exponent_all_ones(const uint8_t* p, int64_t n) {
  constexpr int64_t kChunk = 1 << 15;  // fits a 16-bit counter
  int64_t total = 0;
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t end = std::min(n, begin + kChunk);
    Bits count = 0;
    for (int64_t i = begin; i < end; ++i) {
      Bits u;
      std::memcpy(&u, p + i * static_cast<int64_t>(sizeof(Bits)), sizeof(Bits));
      count += static_cast<Bits>((u & kExponent) == kExponent);
    }
    total += static_cast<int64_t>(count);
  }
  return total;
}

int64_t count_block(const uint8_t* p, DType dtype, int64_t n) {
  switch (dtype) {
    case DType::F32: return count_exponent_all_ones<uint32_t, 0x7f800000u>(p, n);
    case DType::BF16: return count_exponent_all_ones<uint16_t, 0x7f80u>(p, n);
    case DType::F16: return count_exponent_all_ones<uint16_t, 0x7c00u>(p, n);
    case DType::F64: return count_exponent_all_ones<uint64_t, 0x7ff0000000000000ull>(p, n);
    default: return 0;
  }
}

// "NaN", "Infinity" or "-Infinity" for a non-finite element (mantissa bits set = NaN; else the sign).
std::string non_finite_name(const uint8_t* p, DType dtype) {
  const size_t size = dtype_size(dtype);
  uint64_t bits = 0;
  std::memcpy(&bits, p, size);  // little-endian host
  const int mantissa_bits = dtype == DType::F32 ? 23 : dtype == DType::BF16 ? 7 : dtype == DType::F16 ? 10 : 52;
  if (bits & ((uint64_t(1) << mantissa_bits) - 1)) return "NaN";
  return (bits >> (8 * size - 1)) & 1 ? "-Infinity" : "Infinity";
}

bool is_floating(DType dtype) {
  return dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16 || dtype == DType::F64;
}

}  // namespace

int64_t count_non_finite(const void* data, DType dtype, int64_t n) {
  return is_floating(dtype) ? count_block(static_cast<const uint8_t*>(data), dtype, n) : 0;
}

int64_t first_non_finite(const void* data, DType dtype, int64_t n) {
  if (!is_floating(dtype)) return -1;
  const auto* p = static_cast<const uint8_t*>(data);
  const int64_t size = static_cast<int64_t>(dtype_size(dtype));
  constexpr int64_t kBlock = 4096;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t len = std::min(kBlock, n - begin);
    if (count_block(p + begin * size, dtype, len) == 0) continue;
    for (int64_t i = begin; i < begin + len; ++i)
      if (count_block(p + i * size, dtype, 1) != 0) return i;
  }
  return -1;
}

Status check_finite_weights(const SafetensorsFile& file) {
  for (const SafetensorsEntry& e : file.entries()) {
    if (!is_floating(e.dtype)) continue;
    auto view = file.get(e.name);
    if (!view.ok()) return view.status();
    const int64_t at = first_non_finite(view.value().raw(), e.dtype, view.value().numel());
    if (at < 0) continue;
    const std::string value = non_finite_name(static_cast<const uint8_t*>(view.value().raw()) + at * dtype_size(e.dtype), e.dtype);
    return model_load_error("Tensor \"" + e.name + "\" in \"" + file.path() + "\" holds a non-finite value (" +
                            value +
                            " at element " + std::to_string(at) +
                            "); the checkpoint is corrupt (pass checkFinite: false to load it anyway)");
  }
  return Status::Ok();
}

}  // namespace ditto::cpu
