// CPU feature detection with cpuid/xgetbv (OS-enabled state checked, not just the cpuid bits), the
// DITTO_ISA cap, and the one-time Linux AMX permission request (arch_prctl ARCH_REQ_XCOMP_PERM).
#include "ditto/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ditto {
namespace {

#if defined(__x86_64__)
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

bool request_amx_permission() {
#if defined(__linux__)
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  unsigned long bitmask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) != 0) return false;
  return (bitmask & (1ul << kXfeatureXtiledata)) != 0;
#else
  return false;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = c & (1u << 27);
  const bool fma = c & (1u << 12), f16c = c & (1u << 29);
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_ok = (xcr0 & 0x6) == 0x6;
  const bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
  const bool tile_ok = (xcr0 & (3ull << 17)) == (3ull << 17);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = ymm_ok && (b & (1u << 5));
    f.fma = ymm_ok && fma;
    f.f16c = ymm_ok && f16c;
    f.avx512f = zmm_ok && (b & (1u << 16));
    f.avx512dq = zmm_ok && (b & (1u << 17));
    f.avx512bw = zmm_ok && (b & (1u << 30));
    f.avx512vl = zmm_ok && (b & (1u << 31));
    f.avx512_fp16 = zmm_ok && (d & (1u << 23));
    const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24);
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f.avx512_bf16 = zmm_ok && (a1 & (1u << 5));
    if (amx_tile && amx_bf16 && tile_ok && request_amx_permission()) {
      f.amx_tile = true;
      f.amx_bf16 = true;
    }
  }
  char brand[49] = {0};
  unsigned regs[12];
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    std::memcpy(brand, regs, 48);
    f.brand = brand;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
  }
#endif
  return f;
}

std::atomic<int> g_override{-1};

Isa env_cap() {
  const char* env = std::getenv("DITTO_ISA");
  Isa isa;
  if (env && parse_isa(env, &isa)) return isa;
  return Isa::Amx;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Portable: return true;
    case Isa::Avx2: return f.avx2 && f.fma;
    case Isa::Avx512: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case Isa::Avx512Bf16: return isa_supported(Isa::Avx512) && f.avx512_bf16;
    case Isa::Amx: return isa_supported(Isa::Avx512) && f.amx_tile && f.amx_bf16;
  }
  return false;
}

Isa best_isa() {
  int forced = g_override.load();
  Isa cap = forced >= 0 ? static_cast<Isa>(forced) : env_cap();
  for (int i = static_cast<int>(cap); i > 0; --i)
    if (isa_supported(static_cast<Isa>(i))) return static_cast<Isa>(i);
  return Isa::Portable;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Amx: return "amx";
  }
  return "?";
}

bool parse_isa(const std::string& name, Isa* out) {
  for (int i = 0; i <= static_cast<int>(Isa::Amx); ++i)
    if (name == isa_name(static_cast<Isa>(i))) {
      *out = static_cast<Isa>(i);
      return true;
    }
  return false;
}

void set_isa_override(const Isa* isa) { g_override.store(isa ? static_cast<int>(*isa) : -1); }

}  // namespace ditto
