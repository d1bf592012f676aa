// Issue 20 item 6: a Wan2.1-T2V-1.3B-shaped random checkpoint (diffusers layout, BF16, dim 1536, ffn 8960, 30
// blocks, 12 heads, text_dim 4096, freq_dim 256; ~1.42 B parameters, ~2.8 GB) is written to a temporary folder
// (never committed), then loaded by a fresh process with dtype bf16 (bf16 weights stay bf16) through
// load_model() — the checkpoint is mmapped — and the loader's peak RSS is reported (VmHWM, with RssAnon /
// RssFile: packed weights vs mapped checkpoint pages), with one forward at a small size (1 frame, 16x16
// latents, 32 text tokens) to show the loaded model runs. Too slow and too large for CI: run by hand.
// Usage (from the repo root): build-native/bench_wan_rss [dir]   (default: $TMPDIR/ditto-wan-1.3b; removed after)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ditto/executor.h"
#include "ditto/model.h"

using namespace ditto;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kDim = 1536, kFfn = 8960, kDepth = 30, kHeads = 12, kText = 4096, kFreq = 256, kIn = 16,
                  kOut = 16;

std::map<std::string, Shape> wan_13b_shapes() {
  std::map<std::string, Shape> s;
  auto linear = [&](const std::string& p, int64_t n, int64_t k) {
    s[p + ".weight"] = {n, k};
    s[p + ".bias"] = {n};
  };
  s["patch_embedding.weight"] = {kDim, kIn, 1, 2, 2};
  s["patch_embedding.bias"] = {kDim};
  linear("condition_embedder.text_embedder.linear_1", kDim, kText);
  linear("condition_embedder.text_embedder.linear_2", kDim, kDim);
  linear("condition_embedder.time_embedder.linear_1", kDim, kFreq);
  linear("condition_embedder.time_embedder.linear_2", kDim, kDim);
  linear("condition_embedder.time_proj", 6 * kDim, kDim);
  linear("proj_out", kOut * 4, kDim);
  s["scale_shift_table"] = {1, 2, kDim};
  for (int64_t i = 0; i < kDepth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    for (const char* a : {"attn1", "attn2"}) {
      for (const char* p : {"to_q", "to_k", "to_v", "to_out.0"}) linear(b + a + "." + p, kDim, kDim);
      s[b + a + ".norm_q.weight"] = {kDim};
      s[b + a + ".norm_k.weight"] = {kDim};
    }
    s[b + "norm2.weight"] = {kDim};
    s[b + "norm2.bias"] = {kDim};
    linear(b + "ffn.net.0.proj", kFfn, kDim);
    linear(b + "ffn.net.2", kDim, kFfn);
    s[b + "scale_shift_table"] = {1, 6, kDim};
  }
  return s;
}

// Streams the checkpoint tensor by tensor (the writer never holds the model): BF16, weights ~ U(-a, a) with
// a = 1/sqrt(fan_in), norm weights near 1, biases and tables small.
Status write_checkpoint(const std::string& path, uint64_t* bytes_out, uint64_t* params_out) {
  const auto shapes = wan_13b_shapes();
  std::string header = "{";
  uint64_t offset = 0, params = 0;
  for (const auto& [name, shape] : shapes) {
    const uint64_t n = static_cast<uint64_t>(shape_numel(shape));
    params += n;
    header += (header.size() > 1 ? "," : "") + std::string("\"") + name + "\":{\"dtype\":\"BF16\",\"shape\":" +
              shape_string(shape) + ",\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + 2 * n) + "]}";
    offset += 2 * n;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::ofstream out(path, std::ios::binary);
  if (!out) return model_load_error("cannot write " + path);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  uint64_t state = 0x9E3779B97F4A7C15ull;
  std::vector<uint16_t> buf;
  for (const auto& [name, shape] : shapes) {
    const int64_t n = shape_numel(shape);
    const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && shape.size() >= 2;
    const bool norm = name.find("norm") != std::string::npos && shape.size() == 1;
    const float amp = weight ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(n / shape[0]))) : 0.05f;
    buf.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      const float u = static_cast<float>(state >> 40) / static_cast<float>(1 << 24) * 2.f - 1.f;
      buf[i] = f32_to_bf16(norm ? 1.f + 0.1f * u : amp * u);
    }
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n * 2));
  }
  if (!out) return model_load_error("short write to " + path);
  *bytes_out = 8 + len + offset;
  *params_out = params;
  return Status::Ok();
}

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::atol(line.c_str() + k.size());
  return -1;
}

int load_and_report(const std::string& dir) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadOptions opts;
  opts.dtype = DType::BF16;
  auto model = load_model(dir, opts);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!model.ok()) {
    std::fprintf(stderr, "load failed: %s\n", model.status().message().c_str());
    return 1;
  }
  Denoiser& m = *model.value();
  std::printf("loaded %s (%s layout) in %.1f s: model.memory_bytes %.2f GB\n", m.info().family.c_str(),
              m.info().layout.c_str(), load_s, m.memory_bytes() / 1e9);
  std::printf("after load: VmHWM (peak RSS) %.2f GB, VmRSS %.2f GB (RssAnon %.2f GB packed weights + workspace, "
              "RssFile %.2f GB mapped checkpoint pages)\n",
              status_kb("VmHWM") / 1048576.0, status_kb("VmRSS") / 1048576.0, status_kb("RssAnon") / 1048576.0,
              status_kb("RssFile") / 1048576.0);
  Tensor x = Tensor::zeros(DType::F32, {1, kIn, 1, 16, 16}).value();
  Tensor text = Tensor::zeros(DType::F32, {1, 32, kText}).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(0.1f * i);
  for (int64_t i = 0; i < text.numel(); ++i) text.data<float>()[i] = std::cos(0.01f * i);
  const auto t1 = std::chrono::steady_clock::now();
  auto out = m.forward(x, {500.f}, Conditions{{}, {text}});
  const double fwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (!out.ok()) {
    std::fprintf(stderr, "forward failed: %s\n", out.status().message().c_str());
    return 1;
  }
  bool finite = true;
  for (int64_t i = 0; i < out.value().numel(); ++i) finite = finite && std::isfinite(out.value().data<float>()[i]);
  std::printf("forward [1, 16, 1, 16, 16] with 32 text tokens: %.2f s, output %s, finite %s\n", fwd_s,
              shape_string(out.value().shape()).c_str(), finite ? "yes" : "NO");
  std::printf("peak RSS over load + forward: %.2f GB\n", status_kb("VmHWM") / 1048576.0);
  return finite ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--load") return load_and_report(argv[2]);
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = argc > 1 ? argv[1] : std::string(tmp ? tmp : "/tmp") + "/ditto-wan-1.3b";
  fs::create_directories(dir);
  uint64_t bytes = 0, params = 0;
  const auto t0 = std::chrono::steady_clock::now();
  Status s = write_checkpoint(dir + "/model.safetensors", &bytes, &params);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  std::ofstream(dir + "/config.json") << "{\"_class_name\": \"WanTransformer3DModel\", \"num_attention_heads\": "
                                      << kHeads << ", \"attention_head_dim\": 128, \"eps\": 1e-06}";
  std::printf("wrote %s: %.3f B parameters, %.2f GB BF16 in %.1f s\n", dir.c_str(), params / 1e9, bytes / 1e9,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::fflush(stdout);
  // A fresh process, so its peak RSS is the loader's alone.
  const std::string cmd = "\"" + std::string(argv[0]) + "\" --load \"" + dir + "\"";
  const int rc = std::system(cmd.c_str());
  fs::remove_all(dir);
  return rc == 0 ? 0 : 1;
}
