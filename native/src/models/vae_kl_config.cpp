// AutoencoderKL config and files (vae_kl_internal.h): reads diffusers' AutoencoderKL config.json (the `vae/`
// folder of a Hub repo) or a golden case's config (../shared/golden/vae-kl: full_config, else
// constructor_kwargs). Every architecture field the engine follows is checked; a video VAE's class
// (AutoencoderKLWan, ...) or block types other than DownEncoderBlock2D / UpDecoderBlock2D are kUnsupportedModel.
#include <filesystem>

#include "models/vae_kl_internal.h"

namespace ditto::vae_detail {

namespace fs = std::filesystem;

Result<VaeFiles> resolve_vae_files(const std::string& path) {
  std::error_code ec;
  VaeFiles files;
  if (fs::is_directory(path, ec)) {
    for (const char* name : {"model.safetensors", "diffusion_pytorch_model.safetensors"}) {
      if (fs::is_regular_file(fs::path(path) / name, ec)) {
        files.weights = (fs::path(path) / name).string();
        break;
      }
    }
    if (files.weights.empty()) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(path, ec))
        if (entry.path().extension() == ".safetensors" && entry.path().filename() != "io.safetensors")
          found.push_back(entry.path().string());
      if (found.size() != 1)
        return model_load_error("Expected one VAE .safetensors file in " + path + " (model.safetensors or " +
                                "diffusion_pytorch_model.safetensors) but found " + std::to_string(found.size()));
      files.weights = found[0];
    }
    files.config = (fs::path(path) / "config.json").string();
  } else if (fs::is_regular_file(path, ec)) {
    files.weights = path;
    files.config = (fs::path(path).parent_path() / "config.json").string();
  } else {
    return model_load_error("VAE path not found: " + path);
  }
  if (!fs::is_regular_file(files.config, ec))
    return model_load_error("Missing VAE config " + files.config + " (a diffusers AutoencoderKL config.json)");
  return files;
}

namespace {

Status read_int(const JsonValue& cfg, const char* key, int64_t& out, const std::string& path) {
  const JsonValue* v = cfg.find(key);
  if (!v || v->is_null()) return Status::Ok();  // diffusers default
  if (!v->is_integer() || v->as_int() <= 0)
    return model_load_error("VAE config " + path + ": " + key + " must be a positive integer");
  out = v->as_int();
  return Status::Ok();
}

Status read_bool(const JsonValue& cfg, const char* key, bool& out, const std::string& path) {
  const JsonValue* v = cfg.find(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_bool()) return model_load_error("VAE config " + path + ": " + key + " must be a boolean");
  out = v->as_bool();
  return Status::Ok();
}

Status read_number(const JsonValue& cfg, const char* key, double& out, const std::string& path) {
  const JsonValue* v = cfg.find(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_number()) return model_load_error("VAE config " + path + ": " + key + " must be a number");
  out = v->as_double();
  return Status::Ok();
}

Status check_block_types(const JsonValue& cfg, const char* key, const char* expected, size_t levels,
                         const std::string& path) {
  const JsonValue* v = cfg.find(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_array() || v->items().size() != levels)
    return model_load_error("VAE config " + path + ": " + key + " must list one block type per block_out_channels entry");
  for (const auto& item : v->items())
    if (!item.is_string() || item.as_string() != expected)
      return unsupported_model("VAE config " + path + ": " + key + " entry " +
                               (item.is_string() ? item.as_string() : std::string("(not a string)")) +
                               " is not supported (only " + expected + ")");
  return Status::Ok();
}

}  // namespace

Result<VaeConfig> parse_vae_config(const JsonValue& root, const std::string& path) {
  if (!root.is_object()) return model_load_error("VAE config " + path + " is not a JSON object");
  const JsonValue* cfg = &root;
  if (const JsonValue* full = root.find("full_config"); full && full->is_object()) {
    cfg = full;
  } else if (const JsonValue* kwargs = root.find("constructor_kwargs"); kwargs && kwargs->is_object()) {
    cfg = kwargs;
  }
  std::string class_name;
  if (const JsonValue* ref = root.find("reference"); ref && ref->is_object()) {
    if (const JsonValue* c = ref->find("class"); c && c->is_string()) class_name = c->as_string();
  }
  if (const JsonValue* c = cfg->find("_class_name"); c && c->is_string()) class_name = c->as_string();
  if (!class_name.empty() && class_name != "AutoencoderKL" && class_name != "diffusers.AutoencoderKL")
    return unsupported_model("VAE config " + path + ": " + class_name +
                             " is not supported (only AutoencoderKL; 3-D video VAEs such as AutoencoderKLWan are not)");
  VaeConfig config;
  config.layers_per_block = 1;  // diffusers' AutoencoderKL default
  config.norm_num_groups = 32;
  DITTO_RETURN_IF_ERROR(read_int(*cfg, "in_channels", config.in_channels, path));
  DITTO_RETURN_IF_ERROR(read_int(*cfg, "out_channels", config.out_channels, path));
  DITTO_RETURN_IF_ERROR(read_int(*cfg, "latent_channels", config.latent_channels, path));
  DITTO_RETURN_IF_ERROR(read_int(*cfg, "layers_per_block", config.layers_per_block, path));
  DITTO_RETURN_IF_ERROR(read_int(*cfg, "norm_num_groups", config.norm_num_groups, path));
  DITTO_RETURN_IF_ERROR(read_number(*cfg, "scaling_factor", config.scaling_factor, path));
  DITTO_RETURN_IF_ERROR(read_number(*cfg, "shift_factor", config.shift_factor, path));
  DITTO_RETURN_IF_ERROR(read_bool(*cfg, "use_quant_conv", config.use_quant_conv, path));
  DITTO_RETURN_IF_ERROR(read_bool(*cfg, "use_post_quant_conv", config.use_post_quant_conv, path));
  DITTO_RETURN_IF_ERROR(read_bool(*cfg, "mid_block_add_attention", config.mid_block_add_attention, path));
  const JsonValue* channels = cfg->find("block_out_channels");
  if (!channels || channels->is_null()) {
    config.block_out_channels = {64};  // diffusers' default
  } else {
    if (!channels->is_array() || channels->items().empty())
      return model_load_error("VAE config " + path + ": block_out_channels must be a non-empty array");
    for (const auto& c : channels->items()) {
      if (!c.is_integer() || c.as_int() <= 0)
        return model_load_error("VAE config " + path + ": block_out_channels must hold positive integers");
      config.block_out_channels.push_back(c.as_int());
    }
  }
  for (int64_t c : config.block_out_channels)
    if (c % config.norm_num_groups != 0)
      return model_load_error("VAE config " + path + ": block_out_channels entry " + std::to_string(c) +
                              " is not divisible by norm_num_groups " + std::to_string(config.norm_num_groups));
  const size_t levels = config.block_out_channels.size();
  DITTO_RETURN_IF_ERROR(check_block_types(*cfg, "down_block_types", "DownEncoderBlock2D", levels, path));
  DITTO_RETURN_IF_ERROR(check_block_types(*cfg, "up_block_types", "UpDecoderBlock2D", levels, path));
  if (const JsonValue* act = cfg->find("act_fn"); act && act->is_string() && act->as_string() != "silu")
    return unsupported_model("VAE config " + path + ": act_fn " + act->as_string() + " is not supported (only silu)");
  if (!(config.scaling_factor > 0))
    return model_load_error("VAE config " + path + ": scaling_factor must be positive");
  return config;
}

}  // namespace ditto::vae_detail
