// DiT architecture config parsing, model-file resolution and checkpoint layout detection.
// Accepts (a) a golden case's config.json (`constructor_kwargs`, plus `full_config` for diffusers extras such
// as norm_eps), (b) the glyph fixture's dit.json (`kwargs`), (c) a plain HF diffusers config.json (kwargs at
// the top level, `_class_name: DiTTransformer2DModel`). Kwarg names and defaults follow the constructors:
// facebookresearch/DiT models.DiT (input_size=32, patch_size=2, in_channels=4, hidden_size=1152, depth=28,
// num_heads=16, mlp_ratio=4, class_dropout_prob=0.1, num_classes=1000, learn_sigma=True) and diffusers
// DiTTransformer2DModel (num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=None,
// num_layers=28, sample_size=32, patch_size=2, num_embeds_ada_norm=1000, norm_eps=1e-5).
// The checkpoint layout (and with it the numeric conventions: timestep freq shift, FF-norm eps) comes from
// the tensor names, never from which kwarg names the config uses (golden README "dit-diffusers").
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "ditto/json.h"
#include "ditto/memory.h"
#include "models/dit_internal.h"

namespace ditto {
namespace {

namespace fs = std::filesystem;

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

// The shortest text that reads back as `v` (the number as the config wrote it).
std::string shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// The largest structural size a config may give (widths, image side, depth, classes): far above any DiT, and small
// enough that the products the loader forms (weight shapes, MLP width) stay exact in int64 and double.
constexpr int64_t kMaxConfigInt = int64_t{1} << 20;
// The widest MLP (mlp_ratio × hidden size) accepted.
constexpr double kMaxMlpWidth = 1e9;

class KwargReader {
 public:
  KwargReader(const std::string& path, const JsonValue& kwargs, const JsonValue* extra)
      : path_(path), kwargs_(kwargs), extra_(extra) {}

  const JsonValue* find(const char* key) const {
    const JsonValue* v = kwargs_.find(key);
    if (!v && extra_) v = extra_->find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  bool has(const char* key) const { return find(key) != nullptr; }

  Status positive_int(const char* key, int64_t fallback, int64_t* out) const {
    const JsonValue* v = find(key);
    if (!v) {
      *out = fallback;
      return Status::Ok();
    }
    if (!v->is_integer() || v->as_int() <= 0)
      return error(in_quotes(key) + " must be a positive integer, got " + to_json(*v));
    if (v->as_int() > kMaxConfigInt)
      return error(in_quotes(key) + " must be at most " + std::to_string(kMaxConfigInt) + ", got " + to_json(*v));
    *out = v->as_int();
    return Status::Ok();
  }
  Status number(const char* key, double fallback, double* out) const {
    const JsonValue* v = find(key);
    if (!v) {
      *out = fallback;
      return Status::Ok();
    }
    if (!v->is_number()) return error(in_quotes(key) + " must be a number, got " + to_json(*v));
    *out = v->as_double();
    return Status::Ok();
  }
  Status boolean(const char* key, bool fallback, bool* out) const {
    const JsonValue* v = find(key);
    if (!v) {
      *out = fallback;
      return Status::Ok();
    }
    if (!v->is_bool()) return error(in_quotes(key) + " must be true or false, got " + to_json(*v));
    *out = v->as_bool();
    return Status::Ok();
  }
  Status error(const std::string& what) const {
    return model_load_error("Invalid model config " + in_quotes(path_) + ": " + what);
  }

 private:
  const std::string& path_;
  const JsonValue& kwargs_;
  const JsonValue* extra_;
};

std::string class_hint_of(const JsonValue& root) {
  if (const JsonValue* ref = root.find("reference"))
    if (const JsonValue* cls = ref->find("class"); cls && cls->is_string()) return cls->as_string();
  if (const JsonValue* cls = root.find("_class_name"); cls && cls->is_string()) return cls->as_string();
  if (const JsonValue* model = root.find("model"); model && model->is_string()) return model->as_string();
  return "";
}

}  // namespace

namespace dit {

Result<DitLayout> detect_layout(const SafetensorsFile& weights, const std::string& class_hint) {
  if (weights.has("x_embedder.proj.weight")) return DitLayout::Official;
  if (weights.has("pos_embed.proj.weight") &&
      weights.has("transformer_blocks.0.norm1.emb.timestep_embedder.linear_1.weight"))
    return DitLayout::Diffusers;
  std::string what = "Unsupported model: " + in_quotes(weights.path()) +
                     " is not a DiT checkpoint (it has neither x_embedder.proj.weight of facebookresearch/DiT nor "
                     "transformer_blocks.0.norm1.emb.* of diffusers DiTTransformer2DModel)";
  if (!class_hint.empty()) what += "; its config names " + in_quotes(class_hint);
  return unsupported_model(what);
}

}  // namespace dit

// Shared by every family (declared in ditto/model.h).
Result<ModelFiles> resolve_model_files(const std::string& path) {
  std::error_code ec;
  ModelFiles files;
  fs::path dir;
  if (fs::is_directory(path, ec)) {
    dir = fs::path(path);
    for (const char* name : {"model.safetensors", "dit.safetensors"})
      if (fs::is_regular_file(dir / name, ec)) {
        files.weights = (dir / name).string();
        break;
      }
    if (files.weights.empty()) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".safetensors") found.push_back(entry.path().filename().string());
      if (found.size() == 1) {
        files.weights = (dir / found[0]).string();
      } else if (found.empty()) {
        return model_load_error("No weights found in " + in_quotes(path) +
                                ": expected model.safetensors, dit.safetensors or a single *.safetensors file");
      } else {
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
        return model_load_error("Several weight files in " + in_quotes(path) + " (" + list +
                                "): name one, or provide model.safetensors");
      }
    }
  } else if (fs::is_regular_file(path, ec)) {
    files.weights = path;
    dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
  } else {
    return model_load_error("Model path " + in_quotes(path) + " does not exist (expected a folder or a .safetensors file)");
  }
  for (const char* name : {"config.json", "dit.json"})
    if (fs::is_regular_file(dir / name, ec)) {
      files.config = (dir / name).string();
      break;
    }
  return files;  // config empty when there is none: a family that needs one says so (parse_dit_config)
}


Result<DitConfig> parse_dit_config(const std::string& json_path, const SafetensorsFile& weights) {
  if (json_path.empty()) {
    fs::path dir = fs::path(weights.path()).parent_path();
    if (dir.empty()) dir = ".";
    return model_load_error("No model config found for " + in_quotes(weights.path()) +
                            ": expected config.json or dit.json in " + in_quotes(dir.string()));
  }
  DITTO_ASSIGN_OR_RETURN(JsonValue root, read_json_file(json_path));
  if (!root.is_object()) return model_load_error("Invalid model config " + in_quotes(json_path) + ": not a JSON object");
  const JsonValue* kwargs = root.find("constructor_kwargs");
  if (!kwargs) kwargs = root.find("kwargs");
  if (!kwargs) kwargs = &root;  // plain HF config.json
  if (!kwargs->is_object())
    return model_load_error("Invalid model config " + in_quotes(json_path) + ": the constructor kwargs are not an object");
  const JsonValue* full = root.find("full_config");
  KwargReader kw(json_path, *kwargs, (full && full->is_object()) ? full : nullptr);

  DITTO_ASSIGN_OR_RETURN(DitLayout layout, dit::detect_layout(weights, class_hint_of(root)));
  DitConfig c;
  c.layout = layout;
  c.config_path = json_path;
  c.config_json = to_json(*kwargs);

  const bool diffusers_names = kw.has("num_attention_heads") || kw.has("attention_head_dim") ||
                               kw.has("num_layers") || kw.has("sample_size") || kw.has("num_embeds_ada_norm");
  double class_dropout = 0.1;
  if (diffusers_names) {
    int64_t head_dim = 0;
    DITTO_RETURN_IF_ERROR(kw.positive_int("num_attention_heads", 16, &c.num_heads));
    DITTO_RETURN_IF_ERROR(kw.positive_int("attention_head_dim", 72, &head_dim));
    DITTO_RETURN_IF_ERROR(kw.positive_int("in_channels", 4, &c.in_channels));
    DITTO_RETURN_IF_ERROR(kw.positive_int("out_channels", c.in_channels, &c.out_channels));
    DITTO_RETURN_IF_ERROR(kw.positive_int("num_layers", 28, &c.depth));
    DITTO_RETURN_IF_ERROR(kw.positive_int("sample_size", 32, &c.input_size));
    DITTO_RETURN_IF_ERROR(kw.positive_int("patch_size", 2, &c.patch_size));
    DITTO_RETURN_IF_ERROR(kw.positive_int("num_embeds_ada_norm", 1000, &c.num_classes));
    c.hidden_size = c.num_heads * head_dim;
    if (c.hidden_size > kMaxConfigInt)
      return kw.error("the hidden size \"num_attention_heads\" x \"attention_head_dim\" = " +
                      std::to_string(c.hidden_size) + " must be at most " + std::to_string(kMaxConfigInt));
    c.mlp_ratio = 4.0;  // diffusers FeedForward(mult=4)
    c.learn_sigma = c.out_channels == 2 * c.in_channels;
    if (const JsonValue* nt = kw.find("norm_type"); nt && !(nt->is_string() && nt->as_string() == "ada_norm_zero"))
      return unsupported_model("Unsupported model: " + in_quotes(json_path) + " has norm_type " + to_json(*nt) +
                               "; Ditto's DiT runs ada_norm_zero");
    if (const JsonValue* act = kw.find("activation_fn");
        act && !(act->is_string() && act->as_string() == "gelu-approximate"))
      return unsupported_model("Unsupported model: " + in_quotes(json_path) + " has activation_fn " + to_json(*act) +
                               "; Ditto's DiT runs gelu-approximate");
  } else {
    DITTO_RETURN_IF_ERROR(kw.positive_int("input_size", 32, &c.input_size));
    DITTO_RETURN_IF_ERROR(kw.positive_int("patch_size", 2, &c.patch_size));
    DITTO_RETURN_IF_ERROR(kw.positive_int("in_channels", 4, &c.in_channels));
    DITTO_RETURN_IF_ERROR(kw.positive_int("hidden_size", 1152, &c.hidden_size));
    DITTO_RETURN_IF_ERROR(kw.positive_int("depth", 28, &c.depth));
    DITTO_RETURN_IF_ERROR(kw.positive_int("num_heads", 16, &c.num_heads));
    DITTO_RETURN_IF_ERROR(kw.number("mlp_ratio", 4.0, &c.mlp_ratio));
    DITTO_RETURN_IF_ERROR(kw.positive_int("num_classes", 1000, &c.num_classes));
    DITTO_RETURN_IF_ERROR(kw.boolean("learn_sigma", true, &c.learn_sigma));
    DITTO_RETURN_IF_ERROR(kw.number("class_dropout_prob", 0.1, &class_dropout));
    c.out_channels = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  }
  // Each check names the field that is wrong (a huge hidden_size must not read as a bad mlp_ratio).
  if (!(c.mlp_ratio > 0) || !std::isfinite(c.mlp_ratio))
    return kw.error("\"mlp_ratio\" must be a positive number, got " + shortest(c.mlp_ratio));
  if (c.mlp_ratio * static_cast<double>(c.hidden_size) > kMaxMlpWidth)
    return kw.error("the MLP width \"mlp_ratio\" x hidden size = " + shortest(c.mlp_ratio) + " x " +
                    std::to_string(c.hidden_size) + " must be at most 1e9");
  if (c.hidden_size % c.num_heads != 0)
    return kw.error("hidden size " + std::to_string(c.hidden_size) + " is not divisible by " +
                    std::to_string(c.num_heads) + " heads");
  if (c.input_size % c.patch_size != 0)
    return kw.error("input size " + std::to_string(c.input_size) + " is not divisible by patch size " +
                    std::to_string(c.patch_size));

  if (layout == DitLayout::Official) {
    c.freq_shift = 0.f;
    c.norm_eps = 1e-6f;
    c.ff_norm_eps = 1e-6f;
  } else {
    double norm_eps = 1e-5;
    DITTO_RETURN_IF_ERROR(kw.number("norm_eps", 1e-5, &norm_eps));
    c.freq_shift = 1.f;
    c.norm_eps = 1e-6f;  // AdaLayerNormZero and norm_out are hard-wired to 1e-6 in diffusers
    c.ff_norm_eps = static_cast<float>(norm_eps);
    if (c.hidden_size % 4 != 0) return kw.error("hidden size must be a multiple of 4 for the 2-D sin-cos table");
  }
  (void)class_dropout;  // the label table's row count is read from the checkpoint (num_classes [+1 null row])

  // Refuse before anything is allocated a model that cannot fit: a lower bound of what loading it would hold
  // (every parameter at 2 bytes, the f32 position table and one image's f32 activations), against physical memory.
  const double D = static_cast<double>(c.hidden_size), mlp = c.mlp_ratio * D;
  const double tokens = std::pow(static_cast<double>(c.input_size / c.patch_size), 2.0);
  const double params = static_cast<double>(c.depth) * (10.0 * D * D + 2.0 * mlp * D) +
                        static_cast<double>(c.num_classes + 1) * D +
                        static_cast<double>(c.in_channels * c.patch_size * c.patch_size) * D;
  const double bytes = 2.0 * params + 4.0 * tokens * D + 4.0 * tokens * (4.0 * D + std::max(3.0 * D, mlp));
  const std::string sizes = diffusers_names
      ? "\"num_layers\" " + std::to_string(c.depth) + ", hidden size \"num_attention_heads\" x \"attention_head_dim\" " +
            std::to_string(c.hidden_size) + ", \"sample_size\" " + std::to_string(c.input_size) + " / \"patch_size\" " +
            std::to_string(c.patch_size)
      : "\"depth\" " + std::to_string(c.depth) + ", \"hidden_size\" " + std::to_string(c.hidden_size) +
            ", \"mlp_ratio\" " + shortest(c.mlp_ratio) + ", \"input_size\" " + std::to_string(c.input_size) +
            " / \"patch_size\" " + std::to_string(c.patch_size);
  DITTO_RETURN_IF_ERROR(check_fits_in_memory(bytes, "Model config " + in_quotes(json_path) + " (" + sizes + ")"));
  return c;
}

}  // namespace ditto
