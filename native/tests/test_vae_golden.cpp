// AutoencoderKL against ../shared/golden/vae-kl (diffusers AutoencoderKL, random weights):
//  * every io_roles output (encoder / decoder intermediates, quant convs, posterior mean / logvar / std, out,
//    recon) within config.json's tolerances.per_tensor;
//  * the same weights without quant_conv / post_quant_conv (use_quant_conv: false, as SD3 / Flux VAEs):
//    encode gives encoder.out's halves, decode(post_quant_conv.out) gives `out`;
//  * the same weights under the original latent-diffusion (ldm) names: identical results;
//  * errors: a video VAE class, an unknown layout, a stray tensor, wrong input channels, abort.
// Skips (with a message) when the golden folder is absent.
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include <unistd.h>

#include "check.h"
#include "ditto/json.h"
#include "ditto/safetensors.h"
#include "ditto/vae.h"
#include "golden_case.h"

using namespace ditto;
namespace fs = std::filesystem;

namespace {

const std::string kCase = "../shared/golden/vae-kl";

std::vector<float> floats(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

bool close_to(const std::string& what, const std::vector<float>& got, const Tensor& want_t, const JsonValue& per_tensor,
              const std::string& key) {
  const auto want = floats(want_t);
  if (got.size() != want.size()) {
    std::fprintf(stderr, "%s: %zu values, want %zu\n", what.c_str(), got.size(), want.size());
    return false;
  }
  const JsonValue* tol = per_tensor.find(key);
  const double atol = tol ? tol->find("atol")->as_double() : 1e-5, rtol = tol ? tol->find("rtol")->as_double() : 3e-5;
  return ditto_test::within_tolerance(what, got, want, atol, rtol);
}

// Writes `tensors` (renamed by `rename`, dropped when it returns "") and `config` into a fresh folder.
std::string write_variant(const std::string& name, const SafetensorsFile& model,
                          const std::function<std::string(const std::string&)>& rename, const JsonValue& config) {
  const std::string dir = (fs::temp_directory_path() / ("ditto-vae-" + name + "-" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& e : model.entries()) {
    const std::string n = rename(e.name);
    if (!n.empty()) tensors.emplace_back(n, model.get(e.name).value());
  }
  CHECK_OK(write_safetensors(dir + "/model.safetensors", tensors));
  std::ofstream(dir + "/config.json") << to_json(config);
  return dir;
}

std::string to_ldm(const std::string& n, int64_t levels) {
  std::string s = n;
  std::smatch m;
  if (std::regex_match(s, m, std::regex(R"(decoder\.up_blocks\.(\d+)\.(.*))")))
    s = "decoder.up." + std::to_string(levels - 1 - std::stoll(m[1])) + "." + std::string(m[2]);
  s = std::regex_replace(s, std::regex(R"(down_blocks\.)"), "down.");
  s = std::regex_replace(s, std::regex(R"(\.resnets\.(\d+)\.)"), ".block.$1.");
  s = std::regex_replace(s, std::regex(R"(mid_block\.block\.0\.)"), "mid.block_1.");
  s = std::regex_replace(s, std::regex(R"(mid_block\.block\.1\.)"), "mid.block_2.");
  s = std::regex_replace(s, std::regex(R"(mid_block\.attentions\.0\.group_norm)"), "mid.attn_1.norm");
  s = std::regex_replace(s, std::regex(R"(mid_block\.attentions\.0\.to_(q|k|v))"), "mid.attn_1.$1");
  s = std::regex_replace(s, std::regex(R"(mid_block\.attentions\.0\.to_out\.0)"), "mid.attn_1.proj_out");
  s = std::regex_replace(s, std::regex(R"(downsamplers\.0\.conv)"), "downsample.conv");
  s = std::regex_replace(s, std::regex(R"(upsamplers\.0\.conv)"), "upsample.conv");
  s = std::regex_replace(s, std::regex(R"(conv_shortcut)"), "nin_shortcut");
  s = std::regex_replace(s, std::regex(R"(conv_norm_out)"), "norm_out");
  return s;
}

}  // namespace

int main() {
  if (!fs::exists(kCase + "/config.json")) {
    std::printf("SKIP vae-kl: %s not found\n", kCase.c_str());
    return ditto_test::finish("test_vae_golden");
  }
  auto cfg = read_json_file(kCase + "/config.json");
  auto io_r = SafetensorsFile::open(kCase + "/io.safetensors");
  auto model_r = SafetensorsFile::open(kCase + "/model.safetensors");
  auto vae_r = AutoencoderKL::load(kCase, VaeLoadOptions{});
  CHECK_OK(cfg);
  CHECK_OK(io_r);
  CHECK_OK(vae_r);
  if (!cfg.ok() || !io_r.ok() || !vae_r.ok() || !model_r.ok()) return ditto_test::finish("test_vae_golden");
  const SafetensorsFile& io = *io_r.value();
  AutoencoderKL& vae = *vae_r.value();
  const JsonValue& per_tensor = *cfg->find("tolerances")->find("per_tensor");
  CHECK(vae.config().layout == "diffusers");
  CHECK(vae.config().downscale() == 2);
  CHECK(std::fabs(vae.config().scaling_factor - 0.18215) < 1e-12);

  std::map<std::string, std::vector<float>> got;
  VaeRunOptions opts;
  opts.capture = [&](std::string_view n, const Tensor& v) { got[std::string(n)] = floats(v); };
  auto post = vae.encode(io.get("image").value(), opts);
  CHECK_OK(post);
  auto out = vae.decode(io.get("latent").value(), opts);
  CHECK_OK(out);
  if (!post.ok() || !out.ok()) return ditto_test::finish("test_vae_golden");
  got["posterior.mean"] = floats(post->mean);
  got["posterior.logvar"] = floats(post->logvar);
  std::vector<float> stdv = got["posterior.logvar"];
  for (auto& v : stdv) v = std::exp(0.5f * v);
  got["posterior.std"] = stdv;
  got["out"] = floats(*out);
  auto recon = vae.decode(post->mean);
  CHECK_OK(recon);
  if (recon.ok()) got["recon"] = floats(*recon);
  int checked = 0;
  for (const JsonValue& item : cfg->find("io_roles")->find("outputs")->items()) {
    const std::string& key = item.as_string();
    if (!got.count(key)) {
      std::fprintf(stderr, "vae-kl: output %s was not produced\n", key.c_str());
      ++ditto_test::failures();
      continue;
    }
    CHECK(close_to(key, got[key], io.get(key).value(), per_tensor, key));
    ++checked;
  }
  CHECK(checked >= 14);

  // Without quant convs (SD3 / Flux VAEs): the config decides, the weights must agree.
  JsonValue no_quant = *cfg->find("full_config");
  no_quant.set("use_quant_conv", JsonValue::boolean(false));
  no_quant.set("use_post_quant_conv", JsonValue::boolean(false));
  no_quant.set("_class_name", JsonValue::string("AutoencoderKL"));
  const std::string nq_dir = write_variant(
      "noquant", *model_r.value(),
      [](const std::string& n) { return n.find("quant_conv") == std::string::npos ? n : std::string(); }, no_quant);
  auto nq = AutoencoderKL::load(nq_dir);
  CHECK_OK(nq);
  if (nq.ok()) {
    auto p = nq.value()->encode(io.get("image").value());
    CHECK_OK(p);
    if (p.ok()) {
      std::vector<float> enc = floats(io.get("encoder.out").value());
      std::vector<float> mean(enc.begin(), enc.begin() + enc.size() / 2);
      CHECK(ditto_test::all_close(floats(p->mean).data(), mean.data(), mean.size(), 1e-4, 3e-5, "no-quant mean"));
    }
    auto d = nq.value()->decode(io.get("post_quant_conv.out").value());
    CHECK_OK(d);
    if (d.ok()) CHECK(close_to("no post_quant_conv: decode", floats(*d), io.get("out").value(), per_tensor, "out"));
  }
  // A config that wants quant convs the weights lack.
  JsonValue wants_quant = no_quant;
  wants_quant.set("use_quant_conv", JsonValue::boolean(true));
  std::ofstream(nq_dir + "/config.json") << to_json(wants_quant);
  auto missing = AutoencoderKL::load(nq_dir);
  CHECK(!missing.ok() && missing.status().code() == StatusCode::kModelLoad &&
        missing.status().message().find("quant_conv.weight") != std::string::npos);
  fs::remove_all(nq_dir);

  // The original latent-diffusion names give the same numbers.
  const int64_t levels = static_cast<int64_t>(vae.config().block_out_channels.size());
  const std::string ldm_dir = write_variant(
      "ldm", *model_r.value(), [&](const std::string& n) { return to_ldm(n, levels); }, *cfg);
  auto ldm = AutoencoderKL::load(ldm_dir);
  CHECK_OK(ldm);
  if (ldm.ok()) {
    CHECK(ldm.value()->config().layout == "ldm");
    auto d = ldm.value()->decode(io.get("latent").value());
    CHECK_OK(d);
    if (d.ok()) CHECK(floats(*d) == got["out"]);
  }
  fs::remove_all(ldm_dir);

  // A stray tensor is named; an unknown layout is refused with the names it has.
  const std::string stray_dir = write_variant(
      "stray", *model_r.value(),
      [](const std::string& n) { return n == "encoder.conv_in.bias" ? std::string("encoder.extra.bias") : n; }, *cfg);
  auto stray = AutoencoderKL::load(stray_dir);
  CHECK(!stray.ok() && stray.status().code() == StatusCode::kModelLoad &&
        stray.status().message().find("encoder.conv_in.bias") != std::string::npos);
  fs::remove_all(stray_dir);
  const std::string extra_dir = write_variant("extra", *model_r.value(), [](const std::string& n) { return n; }, *cfg);
  {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& e : model_r.value()->entries()) tensors.emplace_back(e.name, model_r.value()->get(e.name).value());
    tensors.emplace_back("encoder.unexpected.weight", io.get("latent").value());
    CHECK_OK(write_safetensors(extra_dir + "/model.safetensors", tensors));
    auto extra = AutoencoderKL::load(extra_dir);
    CHECK(!extra.ok() && extra.status().code() == StatusCode::kUnsupportedModel &&
          extra.status().message().find("encoder.unexpected.weight") != std::string::npos);
    CHECK_OK(write_safetensors(extra_dir + "/model.safetensors", {{"blocks.0.weight", io.get("latent").value()}}));
    auto unknown = AutoencoderKL::load(extra_dir);
    CHECK(!unknown.ok() && unknown.status().code() == StatusCode::kUnsupportedModel &&
          unknown.status().message().find("blocks.0.weight") != std::string::npos);
    JsonValue wan = *cfg->find("full_config");
    wan.set("_class_name", JsonValue::string("AutoencoderKLWan"));
    std::ofstream(extra_dir + "/config.json") << to_json(wan);
    auto video = AutoencoderKL::load(extra_dir);
    CHECK(!video.ok() && video.status().code() == StatusCode::kUnsupportedModel &&
          video.status().message().find("AutoencoderKLWan") != std::string::npos);
  }
  fs::remove_all(extra_dir);

  // Input validation and abort.
  auto bad = vae.decode(io.get("image").value());
  CHECK(!bad.ok() && bad.status().code() == StatusCode::kInvalidArgument &&
        bad.status().message() == "Expected latents of shape [B, 4, H, W] with B, H, W >= 1 but received [1, 3, 32, 32]");
  std::atomic<bool> abort{true};
  VaeRunOptions aborting;
  aborting.abort = &abort;
  auto aborted = vae.decode(io.get("latent").value(), aborting);
  CHECK(!aborted.ok() && aborted.status().code() == StatusCode::kAborted);
  return ditto_test::finish("test_vae_golden");
}
