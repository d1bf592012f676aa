// DiT weight plan and CPU loading: reads every tensor of the official (facebookresearch/DiT) or diffusers
// (DiTTransformer2DModel) state_dict, checks its shape against the config, and describes both layouts as the
// same dit::WeightPlan (see dit_internal.h) -- the only place that knows the checkpoint names; the CPU packs
// each planned Linear for the compute dtype, the CUDA DiT (native/src/cuda/dit_cuda_weights.cpp) uploads it:
//   patch embed  Conv2d(C, D, p, stride p) == patchify + Linear with weight.reshape(D, C*p*p)
//   pos table    official: the stored `pos_embed` (the fixture's EMA table differs from exact sin-cos by up
//                to 5e-6, so it is loaded, not recomputed); diffusers: computed (non-persistent buffer) with
//                positions index / (grid / base_size) / interpolation_scale, base_size = sample_size / p.
//   qkv          official: attn.qkv as is; diffusers: to_q | to_k | to_v stacked (same [3, H, Dh] order).
//   adaLN        per conditioning group, all member blocks' 6D rows then the final layer's 2D rows.
#include <cstring>

#include "ditto/cpu/embed.h"
#include "models/dit_internal.h"

namespace ditto::dit {
namespace {

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

struct Loader {
  const SafetensorsFile& file;
  const DitConfig& config;
  const LinearSink& sink;
  int* linears_planned;

  const char* layout_name() const {
    return config.layout == DitLayout::Official ? "facebookresearch/DiT" : "diffusers DiTTransformer2DModel";
  }

  Result<Tensor> read(const std::string& name, const Shape& expected) const {
    const SafetensorsEntry* e = file.find(name);
    if (!e)
      return model_load_error("Tensor " + in_quotes(name) + " is missing from " + in_quotes(file.path()) + " (" +
                              layout_name() + " layout, depth " + std::to_string(config.depth) + ")");
    if (e->shape != expected)
      return model_load_error("Tensor " + in_quotes(name) + " in " + in_quotes(file.path()) + " has shape " +
                              shape_string(e->shape) + " but the config " + in_quotes(config.config_path) +
                              " implies " + shape_string(expected));
    return file.get_f32(name);
  }

  Result<std::vector<float>> read_vector(const std::string& name, const Shape& expected) const {
    DITTO_ASSIGN_OR_RETURN(Tensor t, read(name, expected));
    const float* p = t.data<float>();
    return std::vector<float>(p, p + t.numel());
  }

  // Hands a complete Linear to the backend; the plan keeps only its ref.
  Result<LinearRef> emit(HostLinear&& linear) const {
    const LinearRef ref{(*linears_planned)++, linear.n, linear.k};
    DITTO_RETURN_IF_ERROR(sink(std::move(linear)));
    return ref;
  }

  // Stacks the named [n_i, k] weights (and their biases) into one Linear.
  Result<LinearRef> linear(const std::vector<std::pair<std::string, int64_t>>& parts, int64_t k) const {
    HostLinear out;
    out.k = k;
    for (const auto& part : parts) out.n += part.second;
    out.weight.resize(static_cast<size_t>(out.n * k));
    out.bias.reserve(static_cast<size_t>(out.n));
    int64_t row = 0;
    for (const auto& [prefix, rows] : parts) {
      DITTO_ASSIGN_OR_RETURN(Tensor wt, read(prefix + ".weight", {rows, k}));
      std::memcpy(out.weight.data() + row * k, wt.data<float>(), static_cast<size_t>(rows * k) * sizeof(float));
      DITTO_ASSIGN_OR_RETURN(std::vector<float> b, read_vector(prefix + ".bias", {rows}));
      out.bias.insert(out.bias.end(), b.begin(), b.end());
      row += rows;
    }
    return emit(std::move(out));
  }

  // Patch embedding: Conv2d weight [D, C, p, p] flattened to [D, C*p*p].
  Result<LinearRef> patch_embed(const std::string& prefix) const {
    const int64_t D = config.hidden_size, C = config.in_channels, p = config.patch_size;
    HostLinear out;
    out.n = D;
    out.k = C * p * p;
    DITTO_ASSIGN_OR_RETURN(out.weight, read_vector(prefix + ".weight", {D, C, p, p}));
    DITTO_ASSIGN_OR_RETURN(out.bias, read_vector(prefix + ".bias", {D}));
    return emit(std::move(out));
  }

  // The class table has num_classes rows, plus the null row when trained with label dropout.
  Result<std::vector<float>> label_table(const std::string& name, int64_t* rows) const {
    const SafetensorsEntry* e = file.find(name);
    const int64_t D = config.hidden_size;
    Shape expected = {config.num_classes + 1, D};
    if (e && e->shape == Shape{config.num_classes, D}) expected = e->shape;
    DITTO_ASSIGN_OR_RETURN(std::vector<float> table, read_vector(name, expected));
    *rows = expected[0];
    return table;
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

Result<WeightPlan> plan_official(const Loader& L) {
  const DitConfig& c = L.config;
  const int64_t D = c.hidden_size, T = num_tokens(c), p = c.patch_size;
  WeightPlan w;
  w.mlp_hidden = static_cast<int64_t>(static_cast<double>(D) * c.mlp_ratio);
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, L.patch_embed("x_embedder.proj"));
  DITTO_ASSIGN_OR_RETURN(w.pos_table, L.read_vector("pos_embed", {1, T, D}));

  ConditionGroupOf<LinearRef, std::vector<float>> g;
  DITTO_ASSIGN_OR_RETURN(g.t_fc1, L.linear({{"t_embedder.mlp.0", D}}, kTimestepFeatures));
  DITTO_ASSIGN_OR_RETURN(g.t_fc2, L.linear({{"t_embedder.mlp.2", D}}, D));
  DITTO_ASSIGN_OR_RETURN(g.label_table, L.label_table("y_embedder.embedding_table.weight", &w.label_rows));
  std::vector<std::pair<std::string, int64_t>> adaln_parts;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    BlockOf<LinearRef> bw;
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
  return w;
}

Result<WeightPlan> plan_diffusers(const Loader& L) {
  const DitConfig& c = L.config;
  const int64_t D = c.hidden_size, n = grid_side(c), p = c.patch_size, T = num_tokens(c);
  WeightPlan w;
  w.mlp_hidden = static_cast<int64_t>(static_cast<double>(D) * c.mlp_ratio);
  DITTO_ASSIGN_OR_RETURN(w.patch_embed, L.patch_embed("pos_embed.proj"));
  // diffusers PatchEmbed: base_size = sample_size // patch, interpolation_scale = 1, grid = n x n.
  const double base_size = static_cast<double>(c.input_size / p), interpolation_scale = 1.0;
  const double pos_scale = (static_cast<double>(n) / base_size) * interpolation_scale;
  w.pos_table.resize(static_cast<size_t>(T * D));
  cpu::sincos_2d_table(n, n, D, pos_scale, pos_scale, w.pos_table.data());

  auto emb = [](int64_t i) { return "transformer_blocks." + std::to_string(i) + ".norm1.emb."; };
  const char* kEmbedderTensors[] = {"timestep_embedder.linear_1.weight", "timestep_embedder.linear_1.bias",
                                    "timestep_embedder.linear_2.weight", "timestep_embedder.linear_2.bias",
                                    "class_embedder.embedding_table.weight"};
  std::vector<std::vector<std::pair<std::string, int64_t>>> adaln_parts;
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "transformer_blocks." + std::to_string(i) + ".";
    // Group by byte-identical embedders (real checkpoints: one group; the golden case: one per block).
    int group = -1;
    for (size_t gi = 0; gi < w.groups.size() && group < 0; ++gi) {
      bool same = true;
      for (const char* t : kEmbedderTensors)
        same = same && same_bytes(L.file, emb(w.groups[gi].first_block) + t, emb(i) + t);
      if (same) group = static_cast<int>(gi);
    }
    if (group < 0) {
      ConditionGroupOf<LinearRef, std::vector<float>> g;
      g.first_block = static_cast<int>(i);
      DITTO_ASSIGN_OR_RETURN(g.t_fc1, L.linear({{emb(i) + "timestep_embedder.linear_1", D}}, kTimestepFeatures));
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
    BlockOf<LinearRef> bw;
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
  return w;
}

}  // namespace

Result<WeightPlan> plan_weights(const SafetensorsFile& file, const DitConfig& config, const LinearSink& sink) {
  int linears_planned = 0;
  Loader loader{file, config, sink, &linears_planned};
  return config.layout == DitLayout::Official ? plan_official(loader) : plan_diffusers(loader);
}

Result<Weights> load_weights(const SafetensorsFile& file, const DitConfig& config, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    return invalid_argument(std::string("DiT compute dtype must be F32 or BF16, got ") + dtype_name(dtype));
  std::vector<PackedLinear> packed;
  auto pack = [&](HostLinear&& linear) -> Status {
    PackedLinear out;
    DITTO_ASSIGN_OR_RETURN(out.weight, cpu::PackedWeight::pack(linear.weight.data(), linear.n, linear.k, dtype));
    out.bias.assign(linear.bias.begin(), linear.bias.end());
    packed.push_back(std::move(out));
    return Status::Ok();
  };
  DITTO_ASSIGN_OR_RETURN(WeightPlan plan, plan_weights(file, config, pack));
  // The tables the model keeps are counted engine memory (ditto/memory.h); the plan's copies die here.
  auto keep_on_host = [](std::vector<float>&& table) -> Result<HostVector<float>> {
    return HostVector<float>(table.begin(), table.end());
  };
  return materialize<PackedLinear, HostVector<float>>(std::move(plan), packed, keep_on_host);
}

}  // namespace ditto::dit
