// GEMM driver for Linear layers: weight packing (PackedWeight::pack), kernel choice per ISA and dtype, the
// BLIS-style blocked loop nest parallelised over output tiles (linear), the shared scalar A-packing and
// epilogue pieces, and the double-precision oracle (linear_reference). Layouts: see gemm_kernels.h.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "cpu/gemm_kernels.h"
#include "ditto/memory.h"

namespace ditto::cpu {
namespace gemm {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

float round_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

// The f32 kernel of an ISA (served to F32 layers, or to BF16 layers as the rounding fallback).
const MicroKernel* f32_kernel(Isa isa, DType dtype) {
  switch (isa) {
    case Isa::Avx512: return avx512_kernel(dtype);
    case Isa::Avx2: return avx2_kernel(dtype);
    default: return portable_kernel(dtype);
  }
}

// Picks the best compiled kernel at or below `isa` that the machine (and DITTO_ISA) allow for `dtype`.
const MicroKernel* choose_kernel(Isa isa, DType dtype) {
  int level = std::min(static_cast<int>(isa), static_cast<int>(best_isa()));
  for (; level > 0; --level) {
    const Isa candidate = static_cast<Isa>(level);
    if (!isa_supported(candidate)) continue;
    const MicroKernel* k = nullptr;
    if (candidate == Isa::Amx) k = dtype == DType::BF16 ? amx_kernel() : nullptr;
    else if (candidate == Isa::Avx512Bf16) k = dtype == DType::BF16 ? avx512bf16_kernel() : nullptr;
    else k = f32_kernel(candidate, dtype);
    if (k) return k;
  }
  return portable_kernel(dtype);
}

// Per-thread scratch for the packed A block and the f32 accumulator tiles; grows on demand, reused.
struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  ~Scratch() { counted_free(ptr, bytes); }
  void* get(size_t want) {
    if (want > bytes) {
      counted_free(ptr, bytes);
      bytes = round_up(static_cast<int64_t>(want), 4096);
      ptr = counted_alloc(bytes);
      if (!ptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
    }
    return ptr;
  }
};

}  // namespace

const MicroKernel* kernel_for(Isa isa, DType dtype) {
  switch (isa) {
    case Isa::Amx: return amx_kernel();
    case Isa::Avx512Bf16: return avx512bf16_kernel();
    default: return f32_kernel(isa, dtype);
  }
}

void pack_a_f32_rows(const float* x, int64_t lda, int rows, int mr, bool round_bf16_values, int64_t k0,
                     int64_t kc_valid, int64_t kc_padded, int64_t a_stride, float* dst) {
  for (int i = 0; i < mr; ++i) {
    float* out = dst + i * a_stride;
    const float* src = x + i * lda + k0;
    const int64_t valid = i < rows ? kc_valid : 0;
    if (round_bf16_values)
      for (int64_t kk = 0; kk < valid; ++kk) out[kk] = round_bf16(src[kk]);
    else
      for (int64_t kk = 0; kk < valid; ++kk) out[kk] = src[kk];
    for (int64_t kk = valid; kk < kc_padded; ++kk) out[kk] = 0.f;
  }
}

void epilogue_row_scalar(const float* c, float* y, int64_t n, int64_t row, int64_t j0, const Epilogue& e) {
  const float* gate = e.gate ? e.gate + gate_row_offset(e, row) + j0 : nullptr;
  for (int64_t j = 0; j < n; ++j) {
    float v = c[j];
    if (e.bias) v += e.bias[j0 + j];
    if (e.activation == Activation::GeluTanh) {
      const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
      v = v / (1.f + std::exp(-2.f * u));
    } else if (e.activation == Activation::Silu) {
      v = v / (1.f + std::exp(-v));
    }
    y[j] = gate ? y[j] + gate[j] * v : v;
  }
}

}  // namespace gemm

Result<PackedWeight> PackedWeight::pack(const float* w, int64_t n, int64_t k, DType dtype, Isa isa) {
  if (!w) return invalid_argument("PackedWeight::pack: null weight");
  if (n <= 0 || k <= 0) return invalid_argument("PackedWeight::pack: bad shape [" + std::to_string(n) + ", " +
                                                std::to_string(k) + "]");
  if (dtype != DType::F32 && dtype != DType::BF16)
    return invalid_argument(std::string("PackedWeight::pack: unsupported compute dtype ") + dtype_name(dtype));
  const gemm::MicroKernel* kern = gemm::choose_kernel(isa, dtype);
  const int nr = kern->nr;
  const int64_t kp = gemm::round_up(k, kern->k_align);
  const int64_t panels = gemm::ceil_div(n, nr);
  const size_t elem = kern->bf16_operands ? 2 : 4;
  const size_t bytes = static_cast<size_t>(panels * kp * nr) * elem;
  const size_t capacity = static_cast<size_t>(gemm::round_up(static_cast<int64_t>(bytes), 64));
  void* raw = counted_alloc(capacity);
  if (!raw) return out_of_memory("PackedWeight::pack: could not allocate " + std::to_string(bytes) + " bytes");
  std::shared_ptr<void> data(raw, [capacity](void* p) { counted_free(p, capacity); });
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t kk = 0; kk < kp; ++kk) {
      for (int j = 0; j < nr; ++j) {
        const int64_t col = p * nr + j;
        const float v = (col < n && kk < k) ? w[col * k + kk] : 0.f;
        if (kern->bf16_operands) {
          uint16_t* panel = static_cast<uint16_t*>(raw) + p * kp * nr;
          panel[((kk / 2) * nr + j) * 2 + (kk & 1)] = f32_to_bf16(v);
        } else {
          float* panel = static_cast<float*>(raw) + p * kp * nr;
          panel[kk * nr + j] = kern->round_to_bf16 ? gemm::round_bf16(v) : v;
        }
      }
    }
  }
  PackedWeight out;
  PackedWeightAccess::set(out, n, k, dtype, kern->isa, bytes, std::move(data));
  return out;
}

void linear(ThreadPool& pool, const float* x, int64_t m, int64_t lda, const PackedWeight& w, float* y, int64_t ldy,
            const Epilogue& epilogue) {
  using namespace gemm;
  if (m <= 0 || w.empty()) return;
  const MicroKernel& kern = *kernel_for(w.isa(), w.dtype());
  const int mr = kern.mr, nr = kern.nr;
  const int64_t n = w.n(), k = w.k();
  const int64_t kp = round_up(k, kern.k_align);
  const size_t elem = kern.bf16_operands ? 2 : 4;
  const size_t panel_bytes = static_cast<size_t>(kp * nr) * elem;
  const size_t a_elem = kern.a_bf16 ? 2 : 4;

  // Blocking. The output is cut into MC×NC blocks (≤ ~128 rows × ~512 columns: the f32 tile buffer of one
  // block stays in L2). When there are enough row blocks to keep every thread busy, a task is one row block
  // across all of N, so its A rows are packed once; otherwise (small M) a task is one MC×NC block and the
  // blocks are split until each thread gets several, so dynamic scheduling balances even M = 64 on 2 threads.
  // Below ~8 MFLOP (≲ 80 µs on one Zen 4 core) waking the pool costs more than it saves, and on a busy
  // machine a worker descheduled in the middle of one of the call's tasks holds it up for a whole time slice
  // (the pool no longer waits for workers that have not started, see thread_pool.h): run such calls inline.
  const bool inline_call = 2.0 * double(m) * double(n) * double(k) < 8e6;
  const int64_t threads = inline_call ? 1 : pool.size();
  const int64_t strips_total = ceil_div(m, mr), panels_total = ceil_div(n, nr);
  int64_t ms = std::min<int64_t>(strips_total, std::max(1, 128 / mr));
  int64_t ps = std::min<int64_t>(panels_total, std::max(1, 512 / nr));
  const int64_t want = threads > 1 ? 4 * threads : 1;
  int64_t row_blocks = ceil_div(strips_total, ms), col_blocks = ceil_div(panels_total, ps);
  bool whole_rows = row_blocks >= want;
  if (whole_rows) {
    // Few tasks: make their count a multiple of the thread count (9 equal tasks on 2 threads idle one for a ninth).
    if (threads > 1 && row_blocks < 16 * threads) row_blocks = round_up(row_blocks, threads);
  } else {
    auto task_count = [&] { return ceil_div(strips_total, ms) * ceil_div(panels_total, ps); };
    while (task_count() < want) {
      if (ps > 2 && ps * nr >= ms * mr) ps = (ps + 1) / 2;
      else if (ms > 1) ms = (ms + 1) / 2;
      else if (ps > 1) ps = (ps + 1) / 2;
      else break;
    }
    row_blocks = ceil_div(strips_total, ms);
    col_blocks = ceil_div(panels_total, ps);
    if (threads > 1 && row_blocks * col_blocks < 16 * threads) {
      int64_t cb = col_blocks;
      while (cb < panels_total && (row_blocks * cb) % threads != 0) ++cb;
      if ((row_blocks * cb) % threads == 0) col_blocks = cb;
    }
  }
  // Even out the blocks so the last one is not a sliver; rounding up can leave fewer blocks, never an empty one.
  ms = ceil_div(strips_total, row_blocks);
  ps = ceil_div(panels_total, col_blocks);
  row_blocks = ceil_div(strips_total, ms);
  col_blocks = ceil_div(panels_total, ps);
  const int64_t col_groups = whole_rows ? 1 : col_blocks;  // tasks along N
  const int64_t blocks_per_group = ceil_div(col_blocks, col_groups);

  // K blocking: KC per kernel (DITTO_GEMM_KC overrides it, for tuning). A packed A of a task holds every
  // K block: slot (kb, s) is strip s of K block kb, row-major with a row stride padded by 64 bytes. F32
  // kernels skip packing and read x in place unless its row stride is a multiple of 4 KiB (then all rows of
  // a strip would fall into one L1 set).
  static const int64_t kc_env = std::getenv("DITTO_GEMM_KC") ? std::atoll(std::getenv("DITTO_GEMM_KC")) : 0;
  const int64_t kc_block = kc_env > 0 ? round_up(kc_env, kern.k_align) : kern.kc;
  const int64_t k_blocks = ceil_div(kp, kc_block);
  const int64_t kc_max = std::min<int64_t>(kc_block, kp);
  const bool a_in_place = kern.a_in_place && (lda * 4) % 4096 != 0;
  const int64_t packed_stride = kc_max + 64 / static_cast<int64_t>(a_elem);
  const size_t strip_bytes = static_cast<size_t>(round_up(mr * packed_stride * static_cast<int64_t>(a_elem), 64));
  const size_t a_bytes = a_in_place ? 0 : strip_bytes * ms * k_blocks;
  const int64_t a_stride = a_in_place ? lda : packed_stride;
  const size_t c_bytes = static_cast<size_t>(ms * mr * (ps * nr + 16)) * sizeof(float);
  const char* packed_b = static_cast<const char*>(w.data());
  auto sliver = [&](int64_t panel, int64_t k0) {
    return packed_b + panel * panel_bytes + static_cast<size_t>(k0 * nr) * elem;
  };

  auto run_task = [&](int64_t task, int) {
    thread_local Scratch scratch;
    char* a_buf = static_cast<char*>(scratch.get(a_bytes + c_bytes));
    float* c_buf = reinterpret_cast<float*>(a_buf + a_bytes);
    const int64_t rb = task / col_groups, group = task % col_groups;
    const int64_t row0 = rb * ms * mr, rows = std::min(ms * mr, m - row0);
    const int64_t strips = ceil_div(rows, mr);
    auto a_slot = [&](int64_t kb, int64_t s) -> const void* {
      if (a_in_place) return x + (row0 + s * mr) * lda + kb * kc_block;
      return a_buf + (kb * ms + s) * strip_bytes;
    };
    for (int64_t kb = 0; kb < k_blocks && !a_in_place; ++kb) {
      const int64_t k0 = kb * kc_block, kc = std::min<int64_t>(kc_block, kp - k0);
      const int64_t kc_valid = std::max<int64_t>(0, std::min(kc, k - k0));
      for (int64_t s = 0; s < strips; ++s) {
        const int r = static_cast<int>(std::min<int64_t>(mr, rows - s * mr));
        kern.pack_a(x + (row0 + s * mr) * lda, lda, r, k0, kc_valid, kc, packed_stride,
                    a_buf + (kb * ms + s) * strip_bytes);
      }
    }
    const int64_t cb_end = std::min(col_blocks, (group + 1) * blocks_per_group);
    for (int64_t cb = group * blocks_per_group; cb < cb_end; ++cb) {
      const int64_t col0 = cb * ps * nr, cols = std::min(ps * nr, n - col0);
      const int64_t panels = ceil_div(cols, nr);
      const int64_t ldc = panels * nr + 16;  // +16 floats: no power-of-two row stride (cache-set aliasing)
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t k0 = kb * kc_block, kc = std::min<int64_t>(kc_block, kp - k0);
        const bool last = kb + 1 == k_blocks;
        const int64_t sliver_lines = ceil_div(kc * nr * static_cast<int64_t>(elem), 64);
        const int64_t lines_per_strip = ceil_div(sliver_lines, strips);
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t panel = cb * ps + p;
          const char* b = sliver(panel, k0);
          const int64_t pc = std::min<int64_t>(nr, cols - p * nr);
          // The sliver used next (next panel; or the block's first panel in the next K block; or the next
          // column block's first panel), prefetched a share per strip.
          const char* next = p + 1 < panels     ? sliver(panel + 1, k0)
                             : !last            ? sliver(cb * ps, k0 + kc)
                             : cb + 1 < cb_end  ? sliver((cb + 1) * ps, 0)
                                                : nullptr;
          for (int64_t s = 0; s < strips; ++s) {
            const int r = static_cast<int>(std::min<int64_t>(mr, rows - s * mr));
            float* c = c_buf + s * mr * ldc + p * nr;
            const int64_t pf_first = s * lines_per_strip;
            const int64_t pf_lines =
                next ? std::max<int64_t>(0, std::min(lines_per_strip, sliver_lines - pf_first)) : 0;
            if (last) {
              // Pull this tile's y lines into cache while the kernel runs: with large M, y is far from cache
              // and the epilogue's stores would otherwise stall on their misses.
              for (int i = 0; i < r; ++i) {
                const float* yrow = y + (row0 + s * mr + i) * ldy + col0 + p * nr;
                for (int64_t j = 0; j < pc; j += 16) __builtin_prefetch(yrow + j, 1, 3);
              }
            }
            kern.compute(kc, a_slot(kb, s), a_stride, b, c, ldc, kb > 0, r, next ? next + pf_first * 64 : nullptr,
                         pf_lines);
            if (last) {
              for (int i = 0; i < r; ++i) {
                const int64_t row = row0 + s * mr + i;
                kern.epilogue_row(c + i * ldc, y + row * ldy + col0 + p * nr, pc, row, col0 + p * nr, epilogue);
              }
            }
          }
        }
      }
    }
  };
  if (inline_call) {
    for (int64_t t = 0; t < row_blocks * col_groups; ++t) run_task(t, 0);
  } else {
    pool.parallel_for(row_blocks * col_groups, run_task);
  }
}

void linear_reference(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, float* y,
                      int64_t ldy, const Epilogue& e) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double v = 0;
      for (int64_t kk = 0; kk < k; ++kk) v += double(x[i * lda + kk]) * double(w[j * k + kk]);
      if (e.bias) v += e.bias[j];
      if (e.activation == Activation::GeluTanh) {
        v = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
      } else if (e.activation == Activation::Silu) {
        v = v / (1.0 + std::exp(-v));
      }
      if (e.gate) {
        const double g = e.gate[gemm::gate_row_offset(e, i) + j];
        y[i * ldy + j] = static_cast<float>(double(y[i * ldy + j]) + g * v);
      } else {
        y[i * ldy + j] = static_cast<float>(v);
      }
    }
  }
}

}  // namespace ditto::cpu
