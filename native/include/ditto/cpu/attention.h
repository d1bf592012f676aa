// Multi-head scaled-dot-product attention with a tiled online softmax (FlashAttention's recurrence on the
// CPU): scores are produced one key block at a time, never as an N×N matrix. Used for self-attention
// (q, k, v from one fused qkv projection, read in place through strides) and cross-attention.
#pragma once
#include <cstdint>

#include "ditto/thread_pool.h"

namespace ditto::cpu {

// Element (b, i, h, d) of q lives at q[b*q_batch_stride + i*q_row_stride + h*head_dim + d]; likewise k, v
// (with kv_len rows) and out (q_len rows). So a fused qkv buffer [B, T, 3, H, Dh] is read with
// q = buf, k = buf + H*Dh, v = buf + 2*H*Dh, row stride 3*H*Dh, batch stride T*3*H*Dh.
struct AttentionArgs {
  int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0, head_dim = 0;
  const float* q = nullptr; int64_t q_batch_stride = 0, q_row_stride = 0;
  const float* k = nullptr; int64_t k_batch_stride = 0, k_row_stride = 0;
  const float* v = nullptr; int64_t v_batch_stride = 0, v_row_stride = 0;
  float* out = nullptr;     int64_t out_batch_stride = 0, out_row_stride = 0;
  float scale = 0.f;                 // usually 1/sqrt(head_dim)
  const float* key_bias = nullptr;   // optional additive bias per key, [batch, kv_len] (mask: -inf or -1e4)
};

void attention(ThreadPool& pool, const AttentionArgs& args);
// Two-pass softmax in double; the test oracle.
void attention_reference(const AttentionArgs& args);

}  // namespace ditto::cpu
