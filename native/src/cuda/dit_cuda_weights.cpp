// DiT checkpoint -> device weights for CudaDit. Name map and stacking are those of
// native/src/models/dit_weights.cpp (the CPU loader; keep the two in step — the golden test compares the GPU
// forward with the CPU DitModel, so a drift fails there):
//   patch embed  Conv2d [D, C, p, p] flattened to a Linear [D, C*p*p]
//   pos table    official: the stored `pos_embed`; diffusers: computed (cpu::sincos_2d_table, as the CPU)
//   qkv          official attn.qkv; diffusers to_q | to_k | to_v stacked
//   adaLN        per conditioning group: member blocks' 6D rows, then the final layer's 2D rows (group 0)
// Weights are rounded to bf16 on the host (round-to-nearest-even, ditto::f32_to_bf16) for the BF16 path.
#include "dit_cuda_weights.h"

#include <cstring>
#include <utility>

#include "ditto/cpu/embed.h"
#include "models/dit_internal.h"

namespace ditto::cuda {

DeviceMemory::~DeviceMemory() {
  if (ptr_) cudaFree(ptr_);
}
DeviceMemory::DeviceMemory(DeviceMemory&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
DeviceMemory& DeviceMemory::operator=(DeviceMemory&& other) noexcept {
  if (this != &other) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Result<DeviceMemory> DeviceMemory::allocate(size_t bytes) {
  DeviceMemory m;
  cudaError_t e = cudaMalloc(&m.ptr_, bytes ? bytes : 1);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // reset the (non-sticky) error so later launches do not report it
    return out_of_memory("CUDA: could not allocate " + std::to_string(bytes) + " bytes of device memory");
  }
  DITTO_RETURN_IF_ERROR(cuda_status(e, "cudaMalloc"));
  m.bytes_ = bytes;
  return m;
}

Result<DeviceMemory> DeviceMemory::upload(const std::vector<float>& host, bool as_bf16) {
  if (!as_bf16) {
    DITTO_ASSIGN_OR_RETURN(DeviceMemory m, allocate(host.size() * sizeof(float)));
    DITTO_CUDA_RETURN(cudaMemcpy(m.get(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
                      "cudaMemcpy (weights)");
    return m;
  }
  std::vector<uint16_t> rounded(host.size());
  for (size_t i = 0; i < host.size(); ++i) rounded[i] = ::ditto::f32_to_bf16(host[i]);  // the host scalar, not the kernel
  DITTO_ASSIGN_OR_RETURN(DeviceMemory m, allocate(rounded.size() * sizeof(uint16_t)));
  DITTO_CUDA_RETURN(cudaMemcpy(m.get(), rounded.data(), rounded.size() * sizeof(uint16_t), cudaMemcpyHostToDevice),
                    "cudaMemcpy (weights)");
  return m;
}

namespace {

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

struct Loader {
  const SafetensorsFile& file;
  const DitConfig& config;
  bool bf16;
  size_t* bytes;

  Result<std::vector<float>> read(const std::string& name, const Shape& expected) const {
    const SafetensorsEntry* e = file.find(name);
    if (!e)
      return model_load_error("Tensor " + in_quotes(name) + " is missing from " + in_quotes(file.path()) + " (" +
                              (config.layout == DitLayout::Official ? "facebookresearch/DiT"
                                                                    : "diffusers DiTTransformer2DModel") +
                              " layout, depth " + std::to_string(config.depth) + ")");
    if (e->shape != expected)
      return model_load_error("Tensor " + in_quotes(name) + " in " + in_quotes(file.path()) + " has shape " +
                              shape_string(e->shape) + " but the config " + in_quotes(config.config_path) +
                              " implies " + shape_string(expected));
    DITTO_ASSIGN_OR_RETURN(Tensor t, file.get_f32(name));
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  }

  Result<DeviceMemory> upload(const std::vector<float>& host, bool as_bf16) const {
    DITTO_ASSIGN_OR_RETURN(DeviceMemory m, DeviceMemory::upload(host, as_bf16));
    *bytes += m.bytes();
    return m;
  }

  // Stacks the named [rows_i, k] weights and their biases into one Linear.
  Result<DeviceLinear> linear(const std::vector<std::pair<std::string, int64_t>>& parts, int64_t k) const {
    std::vector<float> w, b;
    int64_t n = 0;
    for (const auto& [prefix, rows] : parts) {
      DITTO_ASSIGN_OR_RETURN(std::vector<float> wt, read(prefix + ".weight", {rows, k}));
      DITTO_ASSIGN_OR_RETURN(std::vector<float> bt, read(prefix + ".bias", {rows}));
      w.insert(w.end(), wt.begin(), wt.end());
      b.insert(b.end(), bt.begin(), bt.end());
      n += rows;
    }
    DeviceLinear out;
    out.n = n;
    out.k = k;
    DITTO_ASSIGN_OR_RETURN(out.weight, upload(w, bf16));
    DITTO_ASSIGN_OR_RETURN(out.bias, upload(b, false));
    return out;
  }

  Result<DeviceLinear> patch_embed(const std::string& prefix) const {
    const int64_t D = config.hidden_size, C = config.in_channels, p = config.patch_size;
    DITTO_ASSIGN_OR_RETURN(std::vector<float> w, read(prefix + ".weight", {D, C, p, p}));
    DITTO_ASSIGN_OR_RETURN(std::vector<float> b, read(prefix + ".bias", {D}));
    DeviceLinear out;
    out.n = D;
    out.k = C * p * p;
    DITTO_ASSIGN_OR_RETURN(out.weight, upload(w, bf16));
    DITTO_ASSIGN_OR_RETURN(out.bias, upload(b, false));
    return out;
  }

  // num_classes rows, plus the null row when trained with label dropout (as the CPU loader).
  Result<DeviceMemory> label_table(const std::string& name, int64_t* rows) const {
    const SafetensorsEntry* e = file.find(name);
    const int64_t D = config.hidden_size;
    Shape expected = {config.num_classes + 1, D};
    if (e && e->shape == Shape{config.num_classes, D}) expected = e->shape;
    DITTO_ASSIGN_OR_RETURN(std::vector<float> table, read(name, expected));
    *rows = expected[0];
    return upload(table, false);
  }

  Status check_no_extra_block(const std::string& name) const {
    if (file.has(name))
      return model_load_error("Checkpoint " + in_quotes(file.path()) + " has more blocks than the config's depth " +
                              std::to_string(config.depth) + " (found " + in_quotes(name) + ")");
    return Status::Ok();
  }
};

bool same_bytes(const SafetensorsFile& file, const std::string& a, const std::string& b) {
  const SafetensorsEntry* ea = file.find(a);
  const SafetensorsEntry* eb = file.find(b);
  if (!ea || !eb || ea->dtype != eb->dtype || ea->shape != eb->shape) return false;
  auto ta = file.get(a);
  auto tb = file.get(b);
  return ta.ok() && tb.ok() && std::memcmp(ta.value().raw(), tb.value().raw(), ta.value().nbytes()) == 0;
}

Status load_official(const Loader& L, DeviceDitWeights& w) {
  const DitConfig& c = L.config;
  const int64_t D = c.hidden_size, T = dit::num_tokens(c), p = c.patch_size;
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, L.patch_embed("x_embedder.proj"));
  DITTO_ASSIGN_OR_RETURN(w.pos_table_host, L.read("pos_embed", {1, T, D}));

  DeviceConditionGroup g;
  DITTO_ASSIGN_OR_RETURN(g.t_fc1, L.linear({{"t_embedder.mlp.0", D}}, dit::kTimestepFeatures));
  DITTO_ASSIGN_OR_RETURN(g.t_fc2, L.linear({{"t_embedder.mlp.2", D}}, D));
  DITTO_ASSIGN_OR_RETURN(g.label_table, L.label_table("y_embedder.embedding_table.weight", &w.label_rows));
  std::vector<std::pair<std::string, int64_t>> adaln_parts;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    DeviceBlock bw;
    DITTO_ASSIGN_OR_RETURN(bw.qkv, L.linear({{b + "attn.qkv", 3 * D}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.proj, L.linear({{b + "attn.proj", D}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.fc1, L.linear({{b + "mlp.fc1", w.mlp_hidden}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.fc2, L.linear({{b + "mlp.fc2", D}}, w.mlp_hidden));
    bw.group = 0;
    bw.adaln_col = 6 * D * i;
    g.blocks.push_back(static_cast<int>(i));
    adaln_parts.emplace_back(b + "adaLN_modulation.1", 6 * D);
    w.blocks.push_back(std::move(bw));
  }
  DITTO_RETURN_IF_ERROR(L.check_no_extra_block("blocks." + std::to_string(c.depth) + ".attn.qkv.weight"));
  adaln_parts.emplace_back("final_layer.adaLN_modulation.1", 2 * D);
  DITTO_ASSIGN_OR_RETURN(g.adaln, L.linear(adaln_parts, D));
  w.final_group = 0;
  w.final_adaln_col = 6 * D * c.depth;
  w.groups.push_back(std::move(g));
  DITTO_ASSIGN_OR_RETURN(w.final_linear, L.linear({{"final_layer.linear", p * p * c.out_channels}}, D));
  return Status::Ok();
}

Status load_diffusers(const Loader& L, DeviceDitWeights& w) {
  const DitConfig& c = L.config;
  const int64_t D = c.hidden_size, n = dit::grid_side(c), p = c.patch_size, T = dit::num_tokens(c);
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, L.patch_embed("pos_embed.proj"));
  // diffusers PatchEmbed: base_size = sample_size // patch, interpolation_scale = 1, grid n x n.
  const double base_size = static_cast<double>(c.input_size / p);
  const double pos_scale = static_cast<double>(n) / base_size;
  w.pos_table_host.resize(static_cast<size_t>(T * D));
  cpu::sincos_2d_table(n, n, D, pos_scale, pos_scale, w.pos_table_host.data());

  auto emb = [](int64_t i) { return "transformer_blocks." + std::to_string(i) + ".norm1.emb."; };
  const char* kEmbedderTensors[] = {"timestep_embedder.linear_1.weight", "timestep_embedder.linear_1.bias",
                                    "timestep_embedder.linear_2.weight", "timestep_embedder.linear_2.bias",
                                    "class_embedder.embedding_table.weight"};
  std::vector<std::vector<std::pair<std::string, int64_t>>> adaln_parts;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "transformer_blocks." + std::to_string(i) + ".";
    int group = -1;
    for (size_t gi = 0; gi < w.groups.size() && group < 0; ++gi) {
      bool same = true;
      for (const char* t : kEmbedderTensors) same = same && same_bytes(L.file, emb(w.groups[gi].first_block) + t, emb(i) + t);
      if (same) group = static_cast<int>(gi);
    }
    if (group < 0) {
      DeviceConditionGroup g;
      g.first_block = static_cast<int>(i);
      DITTO_ASSIGN_OR_RETURN(g.t_fc1, L.linear({{emb(i) + "timestep_embedder.linear_1", D}}, dit::kTimestepFeatures));
      DITTO_ASSIGN_OR_RETURN(g.t_fc2, L.linear({{emb(i) + "timestep_embedder.linear_2", D}}, D));
      int64_t rows = 0;
      DITTO_ASSIGN_OR_RETURN(g.label_table, L.label_table(emb(i) + "class_embedder.embedding_table.weight", &rows));
      if (i == 0) w.label_rows = rows;
      if (rows != w.label_rows)
        return model_load_error("Checkpoint " + in_quotes(L.file.path()) + ": block " + std::to_string(i) +
                                "'s class table has " + std::to_string(rows) + " rows, block 0's " +
                                std::to_string(w.label_rows));
      group = static_cast<int>(w.groups.size());
      w.groups.push_back(std::move(g));
      adaln_parts.emplace_back();
    }
    DeviceBlock bw;
    DITTO_ASSIGN_OR_RETURN(bw.qkv, L.linear({{b + "attn1.to_q", D}, {b + "attn1.to_k", D}, {b + "attn1.to_v", D}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.proj, L.linear({{b + "attn1.to_out.0", D}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.fc1, L.linear({{b + "ff.net.0.proj", w.mlp_hidden}}, D));
    DITTO_ASSIGN_OR_RETURN(bw.fc2, L.linear({{b + "ff.net.2", D}}, w.mlp_hidden));
    bw.group = group;
    bw.adaln_col = 6 * D * static_cast<int64_t>(adaln_parts[group].size());
    adaln_parts[group].emplace_back(b + "norm1.linear", 6 * D);
    w.groups[group].blocks.push_back(static_cast<int>(i));
    w.blocks.push_back(std::move(bw));
  }
  DITTO_RETURN_IF_ERROR(L.check_no_extra_block("transformer_blocks." + std::to_string(c.depth) + ".norm1.linear.weight"));
  // The final layer is conditioned by transformer_blocks[0].norm1.emb (group 0); proj_out_1 -> (shift, scale).
  w.final_group = 0;
  w.final_adaln_col = 6 * D * static_cast<int64_t>(adaln_parts[0].size());
  adaln_parts[0].emplace_back("proj_out_1", 2 * D);
  for (size_t g = 0; g < w.groups.size(); ++g) {
    DITTO_ASSIGN_OR_RETURN(w.groups[g].adaln, L.linear(adaln_parts[g], D));
  }
  DITTO_ASSIGN_OR_RETURN(w.final_linear, L.linear({{"proj_out_2", p * p * c.out_channels}}, D));
  return Status::Ok();
}

}  // namespace

Result<DeviceDitWeights> load_device_dit_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    return invalid_argument(std::string("CUDA DiT compute dtype must be F32 or BF16, got ") + dtype_name(dtype));
  DeviceDitWeights w;
  w.dtype = dtype;
  w.mlp_hidden = static_cast<int64_t>(static_cast<double>(config.hidden_size) * config.mlp_ratio);
  Loader loader{file, config, dtype == DType::BF16, &w.bytes};
  DITTO_RETURN_IF_ERROR(config.layout == DitLayout::Official ? load_official(loader, w) : load_diffusers(loader, w));
  DITTO_ASSIGN_OR_RETURN(w.pos_table, loader.upload(w.pos_table_host, false));
  return w;
}

}  // namespace ditto::cuda
