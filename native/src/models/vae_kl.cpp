// AutoencoderKL encode / decode (ditto/vae.h), following diffusers.models.autoencoders.vae Encoder / Decoder and
// AutoencoderKL at diffusers 58eb52c (../shared/golden/README.md, `vae-kl`, is the authority):
//   ResNet block: GN -> SiLU -> conv3x3 -> GN -> SiLU -> conv3x3, then shortcut(x) + h (1x1 shortcut when the
//   channel count changes, no output rescale); downsampler: pad (0,1,0,1) then conv3x3 stride 2; upsampler:
//   nearest 2x then conv3x3; mid block: resnet, single-head self-attention over the H*W pixels (GN, q/k/v/out
//   Linear with bias, scale 1/sqrt(C), residual), resnet; both coders end with GN -> SiLU -> conv3x3; the encoder
//   emits mean then logvar (clamped to [-30, 20]); quant_conv / post_quant_conv (1x1) when the config has them.
// Activations are channels-last per sample ([H*W, C]: a pixel per row), so the mid-block attention reads them as
// tokens directly; samples run one at a time to bound memory (a 1024x1024 decode holds 512 MB per activation).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>

#include "ditto/cpu/attention.h"
#include "ditto/cpu/finite.h"
#include "ditto/cpu/group_norm.h"
#include "ditto/cpu/upsample.h"
#include "models/vae_kl_internal.h"

namespace ditto {

using namespace vae_detail;

struct AutoencoderKL::Impl {
  VaeConfig config;
  VaeWeights weights;
  std::shared_ptr<SafetensorsFile> file;
  std::unique_ptr<ThreadPool> pool;
  std::string weights_path;
  std::mutex mutex;  // one encode / decode at a time: the pool is not reentrant
};

namespace {

// One sample's activation, channels-last.
struct Act {
  std::vector<float> data;
  int64_t h = 0, w = 0, c = 0;
  int64_t pixels() const { return h * w; }
};

class Runner {
 public:
  Runner(ThreadPool& pool, const VaeConfig& config, const VaeRunOptions& options)
      : pool_(pool), config_(config), options_(options) {}

  Status check_abort() const {
    return options_.abort && options_.abort->load() ? aborted_error() : Status::Ok();
  }

  Act conv(const cpu::Conv2dWeight& w, const Act& x, const cpu::Conv2dGeometry& g = same()) {
    Act y;
    y.h = cpu::conv2d_output_size(x.h, w.kernel_h, g.stride, g.pad_top, g.pad_bottom);
    y.w = cpu::conv2d_output_size(x.w, w.kernel_w, g.stride, g.pad_left, g.pad_right);
    y.c = w.out_channels;
    y.data.resize(static_cast<size_t>(y.pixels() * y.c));
    cpu::conv2d_nhwc(pool_, w, g, x.data.data(), 1, x.h, x.w, y.data.data());
    return y;
  }
  static cpu::Conv2dGeometry same() {
    cpu::Conv2dGeometry g;
    g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
    return g;
  }
  Act norm(const GroupNormWeight& n, const Act& x, bool silu) {
    Act y = x;
    cpu::group_norm_nhwc(pool_, x.data.data(), y.data.data(), 1, x.pixels(), x.c, config_.norm_num_groups,
                         config_.norm_eps, n.weight.data(), n.bias.data(), silu);
    return y;
  }

  Act resnet(const ResnetWeight& r, const Act& x) {
    Act h = conv(r.conv1, norm(r.norm1, x, true));
    h = conv(r.conv2, norm(r.norm2, h, true));
    const Act shortcut = r.shortcut ? conv(*r.shortcut, x, cpu::Conv2dGeometry{}) : Act{};
    const float* s = r.shortcut ? shortcut.data.data() : x.data.data();
    for (size_t i = 0; i < h.data.size(); ++i) h.data[i] = s[i] + h.data[i];
    return h;
  }

  Act attention(const AttentionWeight& a, const Act& x) {
    const int64_t n = x.pixels(), c = x.c;
    const Act normed = norm(a.norm, x, false);
    std::vector<float> qkv(static_cast<size_t>(n * 3 * c)), mixed(static_cast<size_t>(n * c));
    cpu::Epilogue qkv_bias;
    qkv_bias.bias = a.qkv_bias.data();
    cpu::linear(pool_, normed.data.data(), n, c, a.qkv, qkv.data(), 3 * c, qkv_bias);
    cpu::AttentionArgs args;
    args.batch = 1;
    args.heads = 1;
    args.q_len = args.kv_len = n;
    args.head_dim = c;
    args.q = qkv.data();
    args.k = qkv.data() + c;
    args.v = qkv.data() + 2 * c;
    args.q_row_stride = args.k_row_stride = args.v_row_stride = 3 * c;
    args.q_batch_stride = args.k_batch_stride = args.v_batch_stride = n * 3 * c;
    args.out = mixed.data();
    args.out_row_stride = c;
    args.out_batch_stride = n * c;
    args.scale = 1.f / std::sqrt(static_cast<float>(c));
    cpu::attention(pool_, args);
    Act y = x;
    cpu::Epilogue out_bias;
    out_bias.bias = a.out_bias.data();
    std::vector<float> projected(static_cast<size_t>(n * c));
    cpu::linear(pool_, mixed.data(), n, c, a.out, projected.data(), c, out_bias);
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = projected[i] + x.data[i];  // to_out(...) + residual
    return y;
  }

  Result<Act> mid(const MidBlockWeight& m, Act x) {
    x = resnet(m.first, x);
    DITTO_RETURN_IF_ERROR(check_abort());
    if (m.attention) x = attention(*m.attention, x);
    x = resnet(m.second, x);
    DITTO_RETURN_IF_ERROR(check_abort());
    return x;
  }

  Act upsample(const Act& x) {
    Act y;
    y.h = 2 * x.h;
    y.w = 2 * x.w;
    y.c = x.c;
    y.data.resize(static_cast<size_t>(y.pixels() * y.c));
    cpu::upsample_nearest2x_nhwc(pool_, x.data.data(), y.data.data(), 1, x.h, x.w, x.c);
    return y;
  }

  // Channels-first [1, C, H, W] copy of an activation for the capture sink.
  void capture(const char* name, const Act& x) {
    if (!options_.capture) return;
    auto t = Tensor::empty(DType::F32, {1, x.c, x.h, x.w});
    if (!t.ok()) return;
    float* dst = t->data<float>();
    for (int64_t p = 0; p < x.pixels(); ++p)
      for (int64_t ch = 0; ch < x.c; ++ch) dst[ch * x.pixels() + p] = x.data[static_cast<size_t>(p * x.c + ch)];
    options_.capture(name, *t);
  }
  void capture(const std::string& name, const Act& x) { capture(name.c_str(), x); }

  Result<Act> encode(const VaeWeights& w, Act x) {
    const CoderWeight& e = w.encoder;
    x = conv(e.conv_in, x);
    for (size_t i = 0; i < e.levels.size(); ++i) {
      for (const auto& r : e.levels[i].resnets) {
        x = resnet(r, x);
        DITTO_RETURN_IF_ERROR(check_abort());
      }
      if (e.levels[i].resample) {
        cpu::Conv2dGeometry down;  // diffusers Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)), then stride 2
        down.stride = 2;
        down.pad_right = down.pad_bottom = 1;
        x = conv(*e.levels[i].resample, x, down);
      }
      capture("encoder.down_blocks." + std::to_string(i) + ".out", x);
    }
    DITTO_ASSIGN_OR_RETURN(x, mid(e.mid, std::move(x)));
    capture("encoder.mid_block.out", x);
    x = conv(e.conv_out, norm(e.norm_out, x, true));
    capture("encoder.out", x);
    if (w.quant_conv) {
      x = conv(*w.quant_conv, x, cpu::Conv2dGeometry{});
      capture("quant_conv.out", x);
    }
    return x;
  }

  Result<Act> decode(const VaeWeights& w, Act x) {
    if (w.post_quant_conv) {
      x = conv(*w.post_quant_conv, x, cpu::Conv2dGeometry{});
      capture("post_quant_conv.out", x);
    }
    const CoderWeight& d = w.decoder;
    x = conv(d.conv_in, x);
    capture("decoder.conv_in.out", x);
    DITTO_ASSIGN_OR_RETURN(x, mid(d.mid, std::move(x)));
    capture("decoder.mid_block.out", x);
    for (size_t i = 0; i < d.levels.size(); ++i) {
      for (const auto& r : d.levels[i].resnets) {
        x = resnet(r, x);
        DITTO_RETURN_IF_ERROR(check_abort());
      }
      if (d.levels[i].resample) x = conv(*d.levels[i].resample, upsample(x));
      capture("decoder.up_blocks." + std::to_string(i) + ".out", x);
    }
    x = conv(d.conv_out, norm(d.norm_out, x, true));
    return x;
  }

 private:
  ThreadPool& pool_;
  const VaeConfig& config_;
  const VaeRunOptions& options_;
};

Act sample_to_act(const Tensor& t, int64_t b) {
  Act a;
  a.c = t.dim(1);
  a.h = t.dim(2);
  a.w = t.dim(3);
  a.data.resize(static_cast<size_t>(a.pixels() * a.c));
  const float* src = t.data<float>() + b * a.c * a.pixels();
  for (int64_t ch = 0; ch < a.c; ++ch)
    for (int64_t p = 0; p < a.pixels(); ++p) a.data[static_cast<size_t>(p * a.c + ch)] = src[ch * a.pixels() + p];
  return a;
}

// Channels [c0, c0 + n) of an activation into sample b of a channels-first tensor.
void act_to_sample(const Act& a, int64_t c0, int64_t n, Tensor& t, int64_t b) {
  float* dst = t.data<float>() + b * n * a.pixels();
  for (int64_t ch = 0; ch < n; ++ch)
    for (int64_t p = 0; p < a.pixels(); ++p) dst[ch * a.pixels() + p] = a.data[static_cast<size_t>(p * a.c + c0 + ch)];
}

Status check_input(const Tensor& x, int64_t channels, const char* what, const char* channel_name) {
  if (!x.on_host())  // the VAE runs on the CPU: a device tensor's bytes are not readable here
    return invalid_argument(std::string("Expected ") + what + " in host memory (a cpu tensor) but received a tensor on " +
                            x.device_name());
  if (x.dtype() != DType::F32 || x.ndim() != 4)
    return invalid_argument(std::string("Expected ") + what + " as a float32 tensor [B, " + channel_name +
                            ", H, W] but received " + dtype_name(x.dtype()) + " " + shape_string(x.shape()));
  if (x.dim(0) < 1 || x.dim(1) != channels || x.dim(2) < 1 || x.dim(3) < 1)
    return invalid_argument(std::string("Expected ") + what + " of shape [B, " + std::to_string(channels) +
                            ", H, W] with B, H, W >= 1 but received " + shape_string(x.shape()));
  return Status::Ok();
}

template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return out_of_memory("Out of memory in the VAE");
  }
}

}  // namespace

AutoencoderKL::AutoencoderKL(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AutoencoderKL::~AutoencoderKL() = default;

const VaeConfig& AutoencoderKL::config() const { return impl_->config; }
const std::string& AutoencoderKL::weights_path() const { return impl_->weights_path; }
int AutoencoderKL::threads() const { return impl_->pool->size(); }
uint64_t AutoencoderKL::memory_bytes() const { return impl_->weights.bytes; }

Result<std::unique_ptr<AutoencoderKL>> AutoencoderKL::load(const std::string& path, const VaeLoadOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::BF16)
    return invalid_argument("VAE compute dtype must be F32 or BF16");
  DITTO_ASSIGN_OR_RETURN(VaeFiles files, resolve_vae_files(path));
  DITTO_ASSIGN_OR_RETURN(JsonValue root, read_json_file(files.config));
  auto impl = std::make_unique<Impl>();
  DITTO_ASSIGN_OR_RETURN(impl->config, parse_vae_config(root, files.config));
  DITTO_ASSIGN_OR_RETURN(impl->file, SafetensorsFile::open(files.weights));
  if (options.check_finite) DITTO_RETURN_IF_ERROR(cpu::check_finite_weights(*impl->file));
  auto weights = guarded([&]() -> Result<VaeWeights> { return load_vae_weights(*impl->file, impl->config, options.dtype); });
  if (!weights.ok()) return weights.status();
  impl->weights = std::move(weights).value();
  impl->file.reset();  // every weight is packed (copied): the mapping is no longer needed
  impl->pool = std::make_unique<ThreadPool>(options.threads);
  impl->weights_path = files.weights;
  return std::unique_ptr<AutoencoderKL>(new AutoencoderKL(std::move(impl)));
}

Result<VaePosterior> AutoencoderKL::encode(const Tensor& image, const VaeRunOptions& options) {
  DITTO_RETURN_IF_ERROR(check_input(image, impl_->config.in_channels, "image", "in_channels"));
  // Each downsampler maps n -> (n - 2) / 2 + 1 (pad 1 then 3x3 stride 2): at least 2 pixels in per level.
  int64_t h = image.dim(2), w = image.dim(3);
  for (size_t i = 0; i + 1 < impl_->config.block_out_channels.size(); ++i) {
    if (h < 2 || w < 2)
      return invalid_argument("Expected an image of at least " + std::to_string(impl_->config.downscale()) +
                              "x" + std::to_string(impl_->config.downscale()) + " pixels but received " +
                              shape_string(image.shape()));
    h = (h - 2) / 2 + 1;
    w = (w - 2) / 2 + 1;
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return guarded([&]() -> Result<VaePosterior> {
    const int64_t lc = impl_->config.latent_channels, batch = image.dim(0);
    VaePosterior post;
    DITTO_ASSIGN_OR_RETURN(post.mean, Tensor::empty(DType::F32, {batch, lc, h, w}));
    DITTO_ASSIGN_OR_RETURN(post.logvar, Tensor::empty(DType::F32, {batch, lc, h, w}));
    Runner run(*impl_->pool, impl_->config, options);
    for (int64_t b = 0; b < batch; ++b) {
      DITTO_ASSIGN_OR_RETURN(Act moments, run.encode(impl_->weights, sample_to_act(image, b)));
      act_to_sample(moments, 0, lc, post.mean, b);
      act_to_sample(moments, lc, lc, post.logvar, b);
    }
    float* lv = post.logvar.data<float>();
    for (int64_t i = 0; i < post.logvar.numel(); ++i) lv[i] = std::clamp(lv[i], -30.f, 20.f);
    return post;
  });
}

Result<Tensor> AutoencoderKL::decode(const Tensor& latent, const VaeRunOptions& options) {
  DITTO_RETURN_IF_ERROR(check_input(latent, impl_->config.latent_channels, "latents", "latent_channels"));
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return guarded([&]() -> Result<Tensor> {
    const int64_t f = impl_->config.downscale(), batch = latent.dim(0);
    DITTO_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::F32, {batch, impl_->config.out_channels,
                                                                  latent.dim(2) * f, latent.dim(3) * f}));
    Runner run(*impl_->pool, impl_->config, options);
    for (int64_t b = 0; b < batch; ++b) {
      DITTO_ASSIGN_OR_RETURN(Act image, run.decode(impl_->weights, sample_to_act(latent, b)));
      act_to_sample(image, 0, image.c, out, b);
    }
    return out;
  });
}

}  // namespace ditto
