// GEMM for Linear layers on the GPU: y = epilogue(x · Wᵀ), W in PyTorch layout [N, K].
// bf16: tensor cores through WMMA (16x16x16 bf16 fragments, f32 accumulate) on 128x128x32 block tiles with
// a two-stage cp.async pipeline (the classic CUTLASS "multistage" shape, kept deliberately simple); edges and
// unaligned leading dimensions fall back to zero-filled scalar loads. The epilogue (bias, GELU-tanh / SiLU,
// DiT's gated residual y += gate ⊙ v, optional bf16 copy) runs on each 16x16 fragment staged in shared memory.
// f32: a 64x64 SIMT tile kernel (4x4 outputs per thread), the reference path.
// gemm_epilogue_apply: the same epilogue over an f32 product another GEMM (cuBLASLt, cublaslt_gemm.cpp) wrote.
// The bf16 dispatch between WMMA and cuBLASLt is gemm_dispatch.cpp.
#include <mma.h>

#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

using namespace nvcuda;

constexpr int kBM = 128, kBN = 128, kBK = 32;
constexpr int kPad = 8;                   // bf16 elements of padding per smem row (bank-conflict relief)
constexpr int kLds = kBK + kPad;          // 40 elements = 80 bytes: 16-byte aligned rows, valid WMMA ldm
constexpr int kThreads = 256;             // 8 warps: 2 (M) x 4 (N), each warp 64x32 = 4x2 fragments
constexpr int kWarpM = 64, kWarpN = 32;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

// Loads a 128x32 tile of rows [row0, row0+128) x cols [k0, k0+32) of a row-major bf16 matrix into smem.
// Each of the 256 threads moves two 8-element chunks.
__device__ __forceinline__ void load_tile(bf16* smem, const bf16* g, int64_t rows, int64_t k, int64_t ld,
                                          int64_t row0, int64_t k0, bool vec) {
  for (int c = threadIdx.x; c < kBM * (kBK / 8); c += kThreads) {
    int r = c / (kBK / 8), col = (c % (kBK / 8)) * 8;
    bf16* dst = smem + r * kLds + col;
    int64_t gr = row0 + r, gc = k0 + col;
    if (vec && gr < rows && gc + 8 <= k) {
      cp_async16(dst, g + gr * ld + gc);
    } else {
      for (int e = 0; e < 8; ++e) {
        dst[e] = (gr < rows && gc + e < k) ? g[gr * ld + gc + e] : __float2bfloat16_rn(0.f);
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads) gemm_bf16_wmma_kernel(const bf16* __restrict__ x, int64_t m, int64_t k,
                                                                  int64_t lda, const bf16* __restrict__ w, int64_t n,
                                                                  int64_t ldw, float* y, int64_t ldy, Epilogue ep,
                                                                  bool vec) {
  __shared__ __align__(128) bf16 smem_a[2][kBM * kLds];
  __shared__ __align__(128) bf16 smem_b[2][kBN * kLds];
  __shared__ __align__(128) float stage[kThreads / 32][16 * 16];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_m = warp / 4, warp_n = warp % 4;
  const int64_t row0 = int64_t(blockIdx.y) * kBM, col0 = int64_t(blockIdx.x) * kBN;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  const int64_t k_tiles = (k + kBK - 1) / kBK;
  load_tile(smem_a[0], x, m, k, lda, row0, 0, vec);
  load_tile(smem_b[0], w, n, k, ldw, col0, 0, vec);
  cp_async_commit();

  for (int64_t t = 0; t < k_tiles; ++t) {
    const int cur = t & 1;
    if (t + 1 < k_tiles) {  // prefetch the next stage while this one is consumed
      load_tile(smem_a[cur ^ 1], x, m, k, lda, row0, (t + 1) * kBK, vec);
      load_tile(smem_b[cur ^ 1], w, n, k, ldw, col0, (t + 1) * kBK, vec);
      cp_async_commit();
      asm volatile("cp.async.wait_group 1;\n" ::);
    } else {
      cp_async_wait_all();
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a_frag[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b_frag[2];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        wmma::load_matrix_sync(a_frag[i], smem_a[cur] + (warp_m * kWarpM + i * 16) * kLds + kk, kLds);
#pragma unroll
      for (int j = 0; j < 2; ++j)  // W rows are the columns of Wᵀ: col-major B with ldm = kLds
        wmma::load_matrix_sync(b_frag[j], smem_b[cur] + (warp_n * kWarpN + j * 16) * kLds + kk, kLds);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a_frag[i], b_frag[j], acc[i][j]);
    }
    __syncthreads();  // the stage just read is overwritten by the prefetch of iteration t+1
  }

  float* my_stage = stage[warp];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(my_stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const int64_t fr = row0 + warp_m * kWarpM + i * 16, fc = col0 + warp_n * kWarpN + j * 16;
      for (int e = lane; e < 256; e += 32) {
        int64_t gi = fr + e / 16, gj = fc + e % 16;
        if (gi < m && gj < n) store_epilogue(my_stage[e], gi, gj, y, ldy, ep);
      }
      __syncwarp();
    }
  }
}

constexpr int kFT = 64, kFK = 16;  // f32 SIMT tile: 64x64 outputs, 16-wide K slab, 256 threads x 4x4

__global__ void __launch_bounds__(256) gemm_f32_kernel(const float* __restrict__ x, int64_t m, int64_t k, int64_t lda,
                                                       const float* __restrict__ w, int64_t n, int64_t ldw, float* y,
                                                       int64_t ldy, Epilogue ep) {
  __shared__ float sa[kFK][kFT + 1];
  __shared__ float sb[kFK][kFT + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t row0 = int64_t(blockIdx.y) * kFT, col0 = int64_t(blockIdx.x) * kFT;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kFK) {
    for (int e = threadIdx.x; e < kFT * kFK; e += 256) {
      int r = e / kFK, c = e % kFK;
      int64_t gk = k0 + c;
      sa[c][r] = (row0 + r < m && gk < k) ? x[(row0 + r) * lda + gk] : 0.f;
      sb[c][r] = (col0 + r < n && gk < k) ? w[(col0 + r) * ldw + gk] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kFK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = sa[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = sb[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int64_t gi = row0 + ty + 16 * i, gj = col0 + tx + 16 * j;
      if (gi < m && gj < n) store_epilogue(acc[i][j], gi, gj, y, ldy, ep);
    }
}

// One thread per output element, consecutive threads along a row (coalesced acc / y reads).
__global__ void gemm_epilogue_kernel(const float* __restrict__ acc, int64_t ldacc, int64_t m, int64_t n, float* y,
                                     int64_t ldy, Epilogue ep) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = blockIdx.y; i < m; i += gridDim.y) {
    if (j < n) store_epilogue(acc[i * ldacc + j], i, j, y, ldy, ep);
  }
}

}  // namespace

Status gemm_check_args(int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldw, const void* y, int64_t ldy,
                       const Epilogue& ep) {
  if (m < 0 || n < 0 || k <= 0 || lda < k || ldw < k) {
    return invalid_argument("gemm: bad shape m=" + std::to_string(m) + " n=" + std::to_string(n) +
                            " k=" + std::to_string(k));
  }
  if (y == nullptr && (ep.gate != nullptr || ep.y_bf16 == nullptr)) {
    return invalid_argument("gemm: y may be null only when y_bf16 is set and there is no gate");
  }
  if ((y != nullptr && ldy < n) || (ep.y_bf16 != nullptr && ep.ldy_bf16 < n) || ep.gate_row_group <= 0) {
    return invalid_argument("gemm: bad output stride or gate grouping");
  }
  if (m >= int64_t(65535) * kBM) return invalid_argument("gemm: m too large for one launch");
  return Status::Ok();
}

Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Status(StatusCode::kCuda, std::string(what) + ": " + cudaGetErrorName(err) + " (" +
                                       cudaGetErrorString(err) + ")");
}

Status gemm_bf16_wmma(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw,
                      float* y, int64_t ldy, const Epilogue& ep, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(gemm_check_args(m, k, n, lda, ldw, y, ldy, ep));
  if (m == 0 || n == 0) return Status::Ok();
  const bool vec = lda % 8 == 0 && ldw % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(w) % 16 == 0;
  dim3 grid(static_cast<unsigned>((n + kBN - 1) / kBN), static_cast<unsigned>((m + kBM - 1) / kBM));
  gemm_bf16_wmma_kernel<<<grid, kThreads, 0, stream>>>(x, m, k, lda, w, n, ldw, y, ldy, ep, vec);
  return cuda_status(cudaGetLastError(), "gemm_bf16 launch");
}

Status gemm_f32(const float* x, int64_t m, int64_t k, int64_t lda, const float* w, int64_t n, int64_t ldw, float* y,
                int64_t ldy, const Epilogue& ep, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(gemm_check_args(m, k, n, lda, ldw, y, ldy, ep));
  if (m == 0 || n == 0) return Status::Ok();
  dim3 grid(static_cast<unsigned>((n + kFT - 1) / kFT), static_cast<unsigned>((m + kFT - 1) / kFT));
  gemm_f32_kernel<<<grid, 256, 0, stream>>>(x, m, k, lda, w, n, ldw, y, ldy, ep);
  return cuda_status(cudaGetLastError(), "gemm_f32 launch");
}

Status gemm_epilogue_apply(const float* acc, int64_t ldacc, int64_t m, int64_t n, float* y, int64_t ldy,
                           const Epilogue& ep, cudaStream_t stream) {
  if (m < 0 || n < 0 || ldacc < n) return invalid_argument("gemm_epilogue_apply: bad shape or stride");
  if (m == 0 || n == 0) return Status::Ok();
  dim3 grid(static_cast<unsigned>((n + 255) / 256), static_cast<unsigned>(m < 65535 ? m : 65535));
  gemm_epilogue_kernel<<<grid, 256, 0, stream>>>(acc, ldacc, m, n, y, ldy, ep);
  return cuda_status(cudaGetLastError(), "gemm_epilogue_apply launch");
}

}  // namespace ditto::cuda
