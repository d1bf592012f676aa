// Multi-head attention on the GPU with FlashAttention-2's tiled online softmax (Dao 2023): a block owns 64
// query rows of one (batch, head); it streams 64-key tiles of K and V through shared memory, so the N×N score
// matrix never exists. Each of its 4 warps owns 16 query rows:
//   S = Q Kᵀ on tensor cores (WMMA bf16, f32 accumulate) -> shared memory
//   online softmax per row in f32 (running max m, running sum l, rescale factor alpha = exp(m_old - m_new))
//   O = alpha ⊙ O + P V on tensor cores (P rounded to bf16, O kept in f32 in shared memory)
// Keeping O in shared memory (not registers) is the simple, obviously-correct choice: WMMA's accumulator
// layout is opaque, so per-row rescaling happens on a staged copy. head_dim is padded with zeros to a
// multiple of 16 (DiT-XL's 72 -> 80). attention_f32 is the reference: one warp per query row.
#include <mma.h>

#include "cuda_common.cuh"

namespace ditto::cuda {
namespace {

using namespace nvcuda;

constexpr int kBr = 64, kBc = 64, kWarps = 4, kThreads = kWarps * 32;
constexpr int kPLd = kBc + 8;  // bf16 P row stride

struct SmemLayout {
  int dp, ld;  // padded head dim, bf16 row stride of Q/K/V tiles
  size_t q, k, v, s, p, o, scratch, stats, total;
};

__host__ __device__ inline size_t align128(size_t x) { return (x + 127) & ~size_t(127); }

__host__ __device__ inline SmemLayout smem_layout(int head_dim) {
  SmemLayout L{};
  L.dp = (head_dim + 15) / 16 * 16;
  L.ld = L.dp + 8;
  size_t off = 0;
  L.q = off; off = align128(off + size_t(kBr) * L.ld * 2);
  L.k = off; off = align128(off + size_t(kBc) * L.ld * 2);
  L.v = off; off = align128(off + size_t(kBc) * L.ld * 2);
  L.s = off; off = align128(off + size_t(kWarps) * 16 * kBc * 4);
  L.p = off; off = align128(off + size_t(kWarps) * 16 * kPLd * 2);
  L.o = off; off = align128(off + size_t(kWarps) * 16 * L.dp * 4);
  L.scratch = off; off = align128(off + size_t(kWarps) * 256 * 4);
  L.stats = off; off = align128(off + size_t(kWarps) * 16 * 3 * 4);  // m, l, alpha per row
  L.total = off;
  return L;
}

// rows [row0, row0+count) of a strided [len, head_dim] slice -> smem tile [count, ld], zero padded.
__device__ void load_rows(bf16* dst, int ld, int dp, const bf16* src, int64_t row_stride, int64_t len, int64_t row0,
                          int count, int head_dim, bool vec) {
  const int chunks = dp / 8;
  for (int c = threadIdx.x; c < count * chunks; c += kThreads) {
    int r = c / chunks, col = (c % chunks) * 8;
    bf16* d = dst + r * ld + col;
    int64_t gr = row0 + r;
    if (vec && gr < len && col + 8 <= head_dim) {
      *reinterpret_cast<uint4*>(d) = *reinterpret_cast<const uint4*>(src + gr * row_stride + col);
    } else {
      for (int e = 0; e < 8; ++e)
        d[e] = (gr < len && col + e < head_dim) ? src[gr * row_stride + col + e] : __float2bfloat16_rn(0.f);
    }
  }
}

__global__ void __launch_bounds__(kThreads) attention_bf16_kernel(AttentionArgsT<bf16> a, bool vec) {
  extern __shared__ __align__(128) unsigned char smem[];
  const SmemLayout L = smem_layout(int(a.head_dim));
  bf16* sq = reinterpret_cast<bf16*>(smem + L.q);
  bf16* sk = reinterpret_cast<bf16*>(smem + L.k);
  bf16* sv = reinterpret_cast<bf16*>(smem + L.v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ss = reinterpret_cast<float*>(smem + L.s) + warp * 16 * kBc;
  bf16* sp = reinterpret_cast<bf16*>(smem + L.p) + warp * 16 * kPLd;
  float* so = reinterpret_cast<float*>(smem + L.o) + warp * 16 * L.dp;
  float* scratch = reinterpret_cast<float*>(smem + L.scratch) + warp * 256;
  float* stats = reinterpret_cast<float*>(smem + L.stats) + warp * 48;  // [0,16) m, [16,32) l, [32,48) alpha

  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kBr;
  const int hd = int(a.head_dim), dp = L.dp, ld = L.ld;
  const bf16* qb = a.q + b * a.q_batch_stride + h * a.head_dim;
  const bf16* kb = a.k + b * a.k_batch_stride + h * a.head_dim;
  const bf16* vb = a.v + b * a.v_batch_stride + h * a.head_dim;
  const float* bias = a.key_bias ? a.key_bias + b * a.kv_len : nullptr;
  const float log2e = 1.4426950408889634f;
  const float scale_log2 = a.scale * log2e;

  load_rows(sq, ld, dp, qb, a.q_row_stride, a.q_len, q0, kBr, hd, vec);
  for (int e = lane; e < 16 * dp; e += 32) so[e] = 0.f;
  if (lane < 16) { stats[lane] = -INFINITY; stats[16 + lane] = 0.f; }

  // Lane pair (2r, 2r+1) owns row r of this warp's 16 rows; each lane half of the 64 key columns.
  const int my_row = lane / 2, my_half = lane % 2;

  for (int64_t k0 = 0; k0 < a.kv_len; k0 += kBc) {
    __syncthreads();  // previous K/V tiles fully consumed
    load_rows(sk, ld, dp, kb, a.k_row_stride, a.kv_len, k0, kBc, hd, vec);
    load_rows(sv, ld, dp, vb, a.v_row_stride, a.kv_len, k0, kBc, hd, vec);
    __syncthreads();

    // S = Q Kᵀ for this warp's 16 rows x 64 keys.
    for (int j = 0; j < kBc / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
      for (int d = 0; d < dp; d += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kf;
        wmma::load_matrix_sync(qf, sq + warp * 16 * ld + d, ld);
        wmma::load_matrix_sync(kf, sk + j * 16 * ld + d, ld);
        wmma::mma_sync(acc, qf, kf, acc);
      }
      wmma::store_matrix_sync(ss + j * 16, acc, kBc, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax in base 2: s2 = s * scale * log2(e) (+ bias * log2(e)); masked keys are -inf.
    float row_max = -INFINITY;
    float s2[32];
#pragma unroll
    for (int c = 0; c < 32; ++c) {
      int col = my_half * 32 + c;
      int64_t key = k0 + col;
      float v = -INFINITY;
      if (key < a.kv_len) v = ss[my_row * kBc + col] * scale_log2 + (bias ? bias[key] * log2e : 0.f);
      s2[c] = v;
      row_max = fmaxf(row_max, v);
    }
    row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1));
    const float m_old = stats[my_row];
    const float m_new = fmaxf(m_old, row_max);
    const float m_use = m_new == -INFINITY ? 0.f : m_new;  // a fully masked row so far keeps p = 0
    float row_sum = 0.f;
#pragma unroll
    for (int c = 0; c < 32; ++c) {
      float p = exp2f(s2[c] - m_use);
      row_sum += p;
      sp[my_row * kPLd + my_half * 32 + c] = __float2bfloat16_rn(p);
    }
    row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 1);
    const float alpha = exp2f(m_old - m_use);  // m_old = -inf -> 0 (O and l are still 0 then)
    __syncwarp();
    if (my_half == 0) {
      stats[my_row] = m_new;
      stats[16 + my_row] = stats[16 + my_row] * alpha + row_sum;
      stats[32 + my_row] = alpha;
    }
    __syncwarp();

    // O = alpha ⊙ O + P V, one 16-wide slice of the head dim at a time.
    for (int d = 0; d < dp; d += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < kBc; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, sp + kk, kPLd);
        wmma::load_matrix_sync(vf, sv + kk * ld + d, ld);
        wmma::mma_sync(acc, pf, vf, acc);
      }
      wmma::store_matrix_sync(scratch, acc, 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        int r = e / 16, c = e % 16;
        so[r * dp + d + c] = so[r * dp + d + c] * stats[32 + r] + scratch[e];
      }
      __syncwarp();
    }
  }

  // out = O / l for the valid rows and head dims.
  bf16* ob = a.out + b * a.out_batch_stride + h * a.head_dim;
  for (int e = lane; e < 16 * hd; e += 32) {
    int r = e / hd, c = e % hd;
    int64_t row = q0 + warp * 16 + r;
    if (row < a.q_len) {
      float l = stats[16 + r];
      ob[row * a.out_row_stride + c] = __float2bfloat16_rn(l > 0.f ? so[r * dp + c] / l : 0.f);
    }
  }
}

// Reference: one warp per query row; lane holds head dims lane, lane+32, ... (up to 256).
__global__ void attention_f32_kernel(AttentionArgsT<float> a) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + warp;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  if (row >= a.q_len) return;
  const int hd = int(a.head_dim);
  const float* q = a.q + b * a.q_batch_stride + row * a.q_row_stride + h * a.head_dim;
  const float* kb = a.k + b * a.k_batch_stride + h * a.head_dim;
  const float* vb = a.v + b * a.v_batch_stride + h * a.head_dim;
  const float* bias = a.key_bias ? a.key_bias + b * a.kv_len : nullptr;
  float qv[8], acc[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    int d = lane + 32 * i;
    qv[i] = d < hd ? q[d] : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int64_t j = 0; j < a.kv_len; ++j) {
    const float* kr = kb + j * a.k_row_stride;
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int d = lane + 32 * i;
      if (d < hd) dot = fmaf(qv[i], kr[d], dot);
    }
    float s = warp_sum(dot) * a.scale + (bias ? bias[j] : 0.f);
    if (s == -INFINITY) continue;
    float m_new = fmaxf(m, s);
    float alpha = expf(m - m_new), p = expf(s - m_new);
    l = l * alpha + p;
    const float* vr = vb + j * a.v_row_stride;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int d = lane + 32 * i;
      acc[i] = acc[i] * alpha + (d < hd ? p * vr[d] : 0.f);
    }
    m = m_new;
  }
  float* o = a.out + b * a.out_batch_stride + row * a.out_row_stride + h * a.head_dim;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    int d = lane + 32 * i;
    if (d < hd) o[d] = l > 0.f ? acc[i] / l : 0.f;
  }
}

template <class T>
Status check_attention_args(const AttentionArgsT<T>& a, int max_head_dim, int head_dim_multiple) {
  if (a.batch <= 0 || a.heads <= 0 || a.q_len < 0 || a.kv_len <= 0 || a.head_dim <= 0 || !a.q || !a.k || !a.v ||
      !a.out) {
    return invalid_argument("attention: empty shape or null pointer");
  }
  if (a.head_dim > max_head_dim || a.head_dim % head_dim_multiple != 0) {
    return invalid_argument("attention: head_dim " + std::to_string(a.head_dim) + " unsupported (need <= " +
                            std::to_string(max_head_dim) + ", multiple of " + std::to_string(head_dim_multiple) + ")");
  }
  if (a.batch > 65535 || a.heads > 65535) return invalid_argument("attention: batch or heads too large");
  return Status::Ok();
}

}  // namespace

Status attention_bf16(const AttentionArgsT<bf16>& a, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(check_attention_args(a, 128, 8));
  if (a.q_len == 0) return Status::Ok();
  const SmemLayout L = smem_layout(int(a.head_dim));
  DITTO_CUDA_RETURN(cudaFuncSetAttribute(attention_bf16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(L.total)),
                    "attention_bf16 shared memory");
  auto aligned = [](const void* p, int64_t s1, int64_t s2) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0 && s1 % 8 == 0 && s2 % 8 == 0;
  };
  const bool vec = a.head_dim % 8 == 0 && aligned(a.q, a.q_row_stride, a.q_batch_stride) &&
                   aligned(a.k, a.k_row_stride, a.k_batch_stride) && aligned(a.v, a.v_row_stride, a.v_batch_stride);
  dim3 grid(static_cast<unsigned>((a.q_len + kBr - 1) / kBr), unsigned(a.heads), unsigned(a.batch));
  attention_bf16_kernel<<<grid, kThreads, L.total, stream>>>(a, vec);
  return cuda_status(cudaGetLastError(), "attention_bf16 launch");
}

Status attention_f32(const AttentionArgsT<float>& a, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(check_attention_args(a, 256, 1));
  if (a.q_len == 0) return Status::Ok();
  dim3 grid(static_cast<unsigned>((a.q_len + 3) / 4), unsigned(a.heads), unsigned(a.batch));
  attention_f32_kernel<<<grid, 128, 0, stream>>>(a);
  return cuda_status(cudaGetLastError(), "attention_f32 launch");
}

}  // namespace ditto::cuda
