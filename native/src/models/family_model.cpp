// The shared CPU family pieces declared in family_model.h (see there; DiT-style attention per Peebles & Xie 2023).
#include "models/family_model.h"

#include "ditto/cpu/finite.h"

namespace ditto::family {

Status begin_load(const SafetensorsFile& file, const LoadOptions& options, const std::string& title) {
  if (options.dtype != DType::F32 && options.dtype != DType::BF16)
    return invalid_argument(title + " compute dtype must be F32 or BF16, got " + dtype_name(options.dtype));
  if (options.check_finite) DITTO_RETURN_IF_ERROR(cpu::check_finite_weights(file));
  release_all_pages(file);
  return Status::Ok();
}

Status detect(const SafetensorsFile& file, const FamilyKeys& keys) {
  const std::vector<KeyLayout> ls = keys.layouts();
  auto layout = detect_layout(file, keys.title, keys.anchors, ls, keys.block_prefixes);
  return layout.ok() ? Status::Ok() : layout.status();
}

Result<std::string> resolve_layout(const SafetensorsFile& file, const ConfigKwargs& kw, const FamilyKeys& keys) {
  DITTO_ASSIGN_OR_RETURN(std::string forced, kw.string("layout", ""));
  const std::vector<KeyLayout> ls = keys.layouts();
  DITTO_ASSIGN_OR_RETURN(const KeyLayout* layout,
                         detect_layout(file, keys.title, keys.anchors, ls, keys.block_prefixes, forced));
  return layout->name;
}

Result<Tensor> f32_buffer(int64_t rows, int64_t cols) { return Tensor::empty(DType::F32, {rows, cols}); }

cpu::AttentionArgs fused_self_attention(int64_t B, int64_t T, int64_t heads, int64_t head_dim, const float* qkv,
                                        float* out, float scale) {
  const int64_t D = heads * head_dim;
  cpu::AttentionArgs a;
  a.batch = B;
  a.heads = heads;
  a.q_len = a.kv_len = T;
  a.head_dim = head_dim;
  a.q = qkv;
  a.k = qkv + D;
  a.v = qkv + 2 * D;
  a.q_batch_stride = a.k_batch_stride = a.v_batch_stride = T * 3 * D;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * D;
  a.out = out;
  a.out_batch_stride = T * D;
  a.out_row_stride = D;
  a.scale = scale;
  return a;
}

cpu::AttentionArgs cross_attention(int64_t B, int64_t T, int64_t L, int64_t heads, int64_t head_dim, const float* q,
                                   const float* kv, float* out, float scale) {
  const int64_t D = heads * head_dim;
  cpu::AttentionArgs x;
  x.batch = B;
  x.heads = heads;
  x.q_len = T;
  x.kv_len = L;
  x.head_dim = head_dim;
  x.q = q;
  x.q_batch_stride = T * D;
  x.q_row_stride = D;
  x.k = kv;
  x.v = kv + D;
  x.k_batch_stride = x.v_batch_stride = L * 2 * D;
  x.k_row_stride = x.v_row_stride = 2 * D;
  x.out = out;
  x.out_batch_stride = T * D;
  x.out_row_stride = D;
  x.scale = scale;
  return x;
}

cpu::Epilogue gated(const float* gate, int64_t row_group, int64_t gate_stride) {
  cpu::Epilogue e;
  e.gate = gate;
  e.gate_row_group = row_group;
  e.gate_stride = gate_stride;
  return e;
}

CpuModel::CpuModel(int threads)
    : pool_(std::make_unique<ThreadPool>(threads)), ops_(std::make_unique<CpuOps>(*pool_)) {}

void CpuModel::emit(const IntermediateSink* o, std::string_view name, const float* p, Shape shape) {
  if (o) (*o)(name, Tensor::borrow(nullptr, const_cast<float*>(p), DType::F32, std::move(shape)));
}

}  // namespace ditto::family
