// Run-time ISA detection (cpuid + xgetbv) and the DITTO_ISA override that lets tests force every path this
// machine has: DITTO_ISA=portable|avx2|avx512|avx512bf16|amx caps the best path used. Never compile with
// -march=native: kernels for each ISA live in their own translation units built with per-file flags.
#pragma once
#include <string>

namespace ditto {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, Amx = 4 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false;  // CPU support and OS permission granted
  std::string brand;
};

const CpuFeatures& cpu_features();
bool isa_supported(Isa isa);          // hardware (and OS) support
Isa best_isa();                       // best supported path, capped by DITTO_ISA when set
const char* isa_name(Isa isa);        // "portable", "avx2", ...
bool parse_isa(const std::string& name, Isa* out);
// Override at run time (tests); Isa value beyond support is clamped to the best supported.
void set_isa_override(const Isa* isa);  // nullptr clears

}  // namespace ditto
