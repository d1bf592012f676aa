// The GPU op suite (ggml test-backend-ops style): every CUDA op against its CPU-engine twin
// (ditto/cpu/*.h reference functions) on random, odd-sized, non-zero inputs, one line per case with the
// worst error and the per-op tolerance. bf16 ops are compared with a CPU run on the same bf16-rounded
// inputs, so the tolerance only covers f32 accumulation order and bf16 rounding of intermediates/outputs.
// Exit 77 (ctest: skipped) without a GPU; scripts/gpu-check.sh also runs it under compute-sanitizer.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/attention.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/gemm.h"
#include "ditto/cpu/norms.h"
#include "gpu_test_util.h"
#include "ops.h"

using namespace ditto;
using gpu_test::DeviceBuffer;
namespace dc = ditto::cuda;

namespace {

int cases_run = 0;

void report(const std::string& name, const std::vector<float>& got, const std::vector<float>& want, double atol,
            double rtol) {
  double worst_abs = 0;
  for (size_t i = 0; i < got.size(); ++i) worst_abs = std::fmax(worst_abs, std::fabs(double(got[i]) - want[i]));
  bool ok = got.size() == want.size() && ditto_test::all_close(got.data(), want.data(), got.size(), atol, rtol, name);
  std::printf("  %-58s max|diff| %.3g  (atol %.0e rtol %.0e)  %s\n", name.c_str(), worst_abs, atol, rtol,
              ok ? "OK" : "FAIL");
  CHECK(ok);
  ++cases_run;
}

void check_status(const Status& s) {
  CHECK_OK(s);
  CHECK_OK(dc::cuda_status(cudaDeviceSynchronize(), "sync"));
}

struct GemmCase {
  int64_t m, k, n;
  cpu::Activation act;
  bool bias, gated, bf16_out;
  bool y_null = false;          // only the bf16 copy is wanted (the DiT's qkv / fc1 pattern)
  int64_t pad = 0;              // lda = ldw = k + pad, ldy = ldy_bf16 = n + pad (pad entries must stay untouched)
  bool bias_misaligned = false; // bias pointer 4 bytes past a 16-byte boundary
};

const char* act_name(cpu::Activation a) {
  return a == cpu::Activation::GeluTanh ? "gelu" : a == cpu::Activation::Silu ? "silu" : "none";
}

// Which GEMM runs a case: the f32 reference kernel, gemm_bf16 with the WMMA backend forced, gemm_bf16 with the
// default dispatch (cuBLASLt when loaded and supported), or gemm_bf16_cublaslt itself.
enum class GemmPath { F32, Wmma, Dispatch, Cublaslt };
const char* path_name(GemmPath p) {
  return p == GemmPath::F32 ? "f32" : p == GemmPath::Wmma ? "bf16 wmma" : p == GemmPath::Dispatch ? "bf16 dispatch" : "bf16 cublaslt";
}

// Row-major [rows, cols] with row stride ld; the pad columns hold `fill`.
std::vector<float> padded(const std::vector<float>& a, int64_t rows, int64_t cols, int64_t ld, float fill) {
  std::vector<float> out(rows * ld, fill);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[i * ld + j] = a[i * cols + j];
  return out;
}

void test_gemm(const GemmCase& c, GemmPath path, uint32_t seed) {
  const bool tensor_cores = path != GemmPath::F32;
  const int64_t group = c.m > 13 ? 13 : 1, groups = (c.m + group - 1) / group;
  const int64_t lda = c.k + c.pad, ldy = c.n + c.pad;
  std::vector<float> x = ditto_test::random_vector(c.m * c.k, seed), w = ditto_test::random_vector(c.n * c.k, seed + 1);
  std::vector<float> bias = ditto_test::random_vector(c.n + 4, seed + 2);
  std::vector<float> gate = ditto_test::random_vector(groups * c.n, seed + 3);
  std::vector<float> y0 = ditto_test::random_vector(c.m * c.n, seed + 4);
  if (tensor_cores) { x = gpu_test::round_bf16(x); w = gpu_test::round_bf16(w); }
  const int64_t bias_at = c.bias_misaligned ? 1 : 0;

  cpu::Epilogue cep;
  cep.bias = c.bias ? bias.data() + bias_at : nullptr;
  cep.activation = c.act;
  if (c.gated) { cep.gate = gate.data(); cep.gate_row_group = group; cep.gate_stride = c.n; }
  std::vector<float> want = y0;
  cpu::linear_reference(x.data(), c.m, c.k, c.k, w.data(), c.n, want.data(), c.n, cep);

  // Device operands with their strides; the pad columns of x / W are garbage the GEMM must not read.
  std::vector<float> xp = padded(x, c.m, c.k, lda, 7.f), wp = padded(w, c.n, c.k, lda, -5.f);
  DeviceBuffer<float> dbias(bias), dgate(gate), dy(padded(y0, c.m, c.n, ldy, 3.f));
  DeviceBuffer<dc::bf16> dyb(c.m * ldy);
  cudaMemset(dyb.get(), 0, c.m * ldy * sizeof(dc::bf16));
  dc::Epilogue ep;
  ep.bias = c.bias ? dbias.get() + bias_at : nullptr;
  ep.activation = static_cast<dc::Activation>(int(c.act));
  if (c.gated) { ep.gate = dgate.get(); ep.gate_row_group = group; ep.gate_stride = c.n; }
  if (c.bf16_out) { ep.y_bf16 = dyb.get(); ep.ldy_bf16 = ldy; }
  float* y = c.y_null ? nullptr : dy.get();
  char name[200];
  std::snprintf(name, sizeof name, "gemm_%s m=%ld k=%ld n=%ld %s%s%s%s%s%s", path_name(path), long(c.m), long(c.k),
                long(c.n), act_name(c.act), c.bias ? (c.bias_misaligned ? "+bias(unaligned)" : "+bias") : "",
                c.gated ? "+gate" : "", c.bf16_out ? "+bf16" : "", c.y_null ? " y=null" : "",
                c.pad ? (" pad=" + std::to_string(c.pad)).c_str() : "");
  Status st;
  if (!tensor_cores) {
    DeviceBuffer<float> dx(xp), dw(wp);
    st = dc::gemm_f32(dx.get(), c.m, c.k, lda, dw.get(), c.n, lda, y, ldy, ep, nullptr);
  } else {
    DeviceBuffer<dc::bf16> dx(gpu_test::to_bf16(xp)), dw(gpu_test::to_bf16(wp));
    if (path == GemmPath::Cublaslt) {
      st = dc::gemm_bf16_cublaslt(dx.get(), c.m, c.k, lda, dw.get(), c.n, lda, y, ldy, ep, nullptr);
    } else {
      const dc::GemmBackend initial = dc::gemm_backend();
      if (path == GemmPath::Wmma) dc::set_gemm_backend(dc::GemmBackend::Wmma);
      st = dc::gemm_bf16(dx.get(), c.m, c.k, lda, dw.get(), c.n, lda, y, ldy, ep, nullptr);
      dc::set_gemm_backend(initial);
    }
  }
  // gemm_bf16_cublaslt, and the dispatch under DITTO_CUDA_GEMM=cublaslt (no fallback), refuse what cuBLASLt cannot run.
  const bool lt_only = path == GemmPath::Cublaslt ||
                       (path == GemmPath::Dispatch && dc::gemm_backend() == dc::GemmBackend::Cublaslt);
  if (lt_only && (!dc::have_cublaslt() || lda % 8 != 0)) {
    // Refused, with the reason, and never partly run (the dispatch then takes WMMA: the Dispatch rows).
    const std::string expect = !dc::have_cublaslt()
                                   ? "gemm_cublaslt: " + dc::cublaslt_describe()
                                   : "gemm_cublaslt: x and W need 16-byte aligned rows (lda=" + std::to_string(lda) +
                                         ", ldw=" + std::to_string(lda) + ")";
    const bool ok = st.code() == StatusCode::kUnsupportedModel && st.message() == expect;
    std::printf("  %-58s refused: %s  %s\n", name, st.message().c_str(), ok ? "OK" : ("FAIL, expected: " + expect).c_str());
    CHECK(ok);
    ++cases_run;
    return;
  }
  check_status(st);
  const double tol = tensor_cores ? 2e-3 : 1e-4;
  std::vector<float> want_y = padded(want, c.m, c.n, ldy, 3.f);
  if (c.y_null) want_y = padded(y0, c.m, c.n, ldy, 3.f);  // y untouched
  report(name, dy.download(), want_y, tol * std::sqrt(double(c.k)) / 4, tol);
  if (c.bf16_out) {
    report(std::string(name) + " (bf16 out)", gpu_test::from_bf16(dyb.download()), padded(want, c.m, c.n, ldy, 0.f),
           1e-2, 1.0 / 128);
  }
}

// cuBLASLt's GELU epilogue must be the tanh approximation of the Epilogue contract (GELU-tanh), not erf-GELU: an
// identity GEMM (y = x exactly) over pre-activations in [-4, 4) where the two differ by up to 4.7e-4, and the
// result must be closer to tanh-GELU than to erf-GELU (mean over the points where they differ by > 1e-4).
void test_cublaslt_gelu_flavour() {
  if (!dc::have_cublaslt()) {
    std::printf("  %-58s (%s)\n", "gemm_cublaslt gelu flavour", dc::cublaslt_describe().c_str());
    return;
  }
  const int64_t m = 16, k = 16, n = 16;
  std::vector<float> x(m * k), w(n * k, 0.f);
  for (int64_t i = 0; i < m * k; ++i) x[i] = -4.f + 0.03125f * float(i);  // exact in bf16
  for (int64_t j = 0; j < n; ++j) w[j * k + j] = 1.f;
  DeviceBuffer<dc::bf16> dx(gpu_test::to_bf16(x)), dw(gpu_test::to_bf16(w));
  DeviceBuffer<float> dy(m * n);
  dc::Epilogue ep;
  ep.activation = dc::Activation::GeluTanh;
  check_status(dc::gemm_bf16_cublaslt(dx.get(), m, k, k, dw.get(), n, k, dy.get(), n, ep, nullptr));
  std::vector<float> got = dy.download();
  double to_tanh = 0, to_erf = 0;
  int points = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    const double v = x[i];
    const double gt = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    const double ge = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    if (std::fabs(gt - ge) < 1e-4) continue;
    to_tanh += std::fabs(got[i] - gt);
    to_erf += std::fabs(got[i] - ge);
    ++points;
  }
  const bool ok = points > 0 && to_tanh < to_erf;
  std::printf("  %-58s mean|diff| to tanh-GELU %.3g, to erf-GELU %.3g over %d points  %s\n",
              "gemm_cublaslt gelu flavour", to_tanh / points, to_erf / points, points, ok ? "OK" : "FAIL");
  CHECK(ok);
  ++cases_run;
}

// Self-attention from a fused qkv buffer [B, T, 3, H, Dh] (or cross-attention with separate q and kv).
void test_attention(int64_t batch, int64_t heads, int64_t q_len, int64_t kv_len, int64_t head_dim, bool masked,
                    bool tensor_cores, uint32_t seed) {
  const int64_t hd = heads * head_dim;
  std::vector<float> q = ditto_test::random_vector(batch * q_len * hd, seed, -2.f, 2.f);
  std::vector<float> kv = ditto_test::random_vector(batch * kv_len * 2 * hd, seed + 1, -2.f, 2.f);
  std::vector<float> bias(batch * kv_len, 0.f);
  if (masked)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < kv_len; ++j) bias[b * kv_len + j] = (j % 5 == 3) ? -INFINITY : 0.25f * float(j % 3);
  if (tensor_cores) { q = gpu_test::round_bf16(q); kv = gpu_test::round_bf16(kv); }
  std::vector<float> want(batch * q_len * hd);
  cpu::AttentionArgs c;
  c.batch = batch; c.heads = heads; c.q_len = q_len; c.kv_len = kv_len; c.head_dim = head_dim;
  c.q = q.data(); c.q_batch_stride = q_len * hd; c.q_row_stride = hd;
  c.k = kv.data(); c.k_batch_stride = kv_len * 2 * hd; c.k_row_stride = 2 * hd;
  c.v = kv.data() + hd; c.v_batch_stride = kv_len * 2 * hd; c.v_row_stride = 2 * hd;
  c.out = want.data(); c.out_batch_stride = q_len * hd; c.out_row_stride = hd;
  c.scale = 1.f / std::sqrt(float(head_dim));
  c.key_bias = masked ? bias.data() : nullptr;
  cpu::attention_reference(c);

  DeviceBuffer<float> dbias(bias);
  char name[160];
  std::snprintf(name, sizeof name, "attention_%s B=%ld H=%ld q=%ld kv=%ld d=%ld%s", tensor_cores ? "bf16" : "f32",
                long(batch), long(heads), long(q_len), long(kv_len), long(head_dim), masked ? " masked" : "");
  auto fill = [&](auto& a, auto* qp, auto* kvp, auto* op) {
    a.batch = batch; a.heads = heads; a.q_len = q_len; a.kv_len = kv_len; a.head_dim = head_dim;
    a.q = qp; a.q_batch_stride = q_len * hd; a.q_row_stride = hd;
    a.k = kvp; a.k_batch_stride = kv_len * 2 * hd; a.k_row_stride = 2 * hd;
    a.v = kvp + hd; a.v_batch_stride = kv_len * 2 * hd; a.v_row_stride = 2 * hd;
    a.out = op; a.out_batch_stride = q_len * hd; a.out_row_stride = hd;
    a.scale = c.scale;
    a.key_bias = masked ? dbias.get() : nullptr;
  };
  if (tensor_cores) {
    DeviceBuffer<dc::bf16> dq(gpu_test::to_bf16(q)), dkv(gpu_test::to_bf16(kv)), dout(want.size());
    dc::AttentionArgsT<dc::bf16> a;
    fill(a, dq.get(), dkv.get(), dout.get());
    check_status(dc::attention_bf16(a, nullptr));
    report(name, gpu_test::from_bf16(dout.download()), want, 1.5e-2, 1.5e-2);
  } else {
    DeviceBuffer<float> dq(q), dkv(kv), dout(want.size());
    dc::AttentionArgsT<float> a;
    fill(a, dq.get(), dkv.get(), dout.get());
    check_status(dc::attention_f32(a, nullptr));
    report(name, dout.download(), want, 1e-5, 1e-5);
  }
}

void test_layer_norm(int64_t batch, int64_t tokens, int64_t dim, bool affine, bool modulate, uint32_t seed) {
  const int64_t rows = batch * tokens;
  std::vector<float> x = ditto_test::random_vector(rows * dim, seed, -3.f, 5.f);
  std::vector<float> weight = ditto_test::random_vector(dim, seed + 1), bias = ditto_test::random_vector(dim, seed + 2);
  std::vector<float> mod = ditto_test::random_vector(batch * 2 * dim, seed + 3);  // [B, 2, D]: shift | scale
  cpu::Modulation cm;
  if (modulate) { cm.shift = mod.data(); cm.scale = mod.data() + dim; cm.rows_per_group = tokens; cm.stride = 2 * dim; }
  std::vector<float> want(rows * dim);
  const float eps = 1e-6f;
  cpu::layer_norm_reference(x.data(), want.data(), rows, dim, eps, affine ? weight.data() : nullptr,
                            affine ? bias.data() : nullptr, cm);
  DeviceBuffer<float> dx(x), dw(weight), db(bias), dmod(mod), dout(rows * dim);
  DeviceBuffer<dc::bf16> doutb(rows * dim);
  dc::Modulation m;
  if (modulate) { m.shift = dmod.get(); m.scale = dmod.get() + dim; m.rows_per_group = tokens; m.stride = 2 * dim; }
  check_status(dc::layer_norm_modulate(dx.get(), dout.get(), doutb.get(), rows, dim, eps, affine ? dw.get() : nullptr,
                                       affine ? db.get() : nullptr, m, nullptr));
  char name[160];
  std::snprintf(name, sizeof name, "layer_norm rows=%ld dim=%ld%s%s", long(rows), long(dim), affine ? " affine" : "",
                modulate ? " +adaLN" : "");
  report(name, dout.download(), want, 2e-5, 2e-5);
  report(std::string(name) + " (bf16 out)", gpu_test::from_bf16(doutb.download()), want, 1e-2, 1.0 / 128);
}

void test_rms_norm(uint32_t seed) {
  const int64_t rows = 13, dim = 77;
  std::vector<float> x = ditto_test::random_vector(rows * dim, seed), w = ditto_test::random_vector(dim, seed + 1);
  std::vector<float> want(rows * dim);
  cpu::rms_norm_reference(x.data(), want.data(), rows, dim, 1e-6f, w.data());
  DeviceBuffer<float> dx(x), dw(w), dout(rows * dim);
  check_status(dc::rms_norm(dx.get(), dout.get(), rows, dim, 1e-6f, dw.get(), nullptr));
  report("rms_norm rows=13 dim=77", dout.download(), want, 2e-5, 2e-5);
}

// No CPU RoPE kernel exists yet, so the oracle is the formula itself, evaluated in double.
void test_rope(uint32_t seed) {
  const int64_t positions = 19, batch = 2, rows = batch * positions, heads = 3, head_dim = 10, stride = heads * head_dim + 4;
  std::vector<float> x = ditto_test::random_vector(rows * stride, seed);
  std::vector<float> cos_t(positions * head_dim / 2), sin_t(cos_t.size());
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      double angle = double(p) * std::pow(10000.0, -2.0 * double(i) / double(head_dim));
      cos_t[p * head_dim / 2 + i] = float(std::cos(angle));
      sin_t[p * head_dim / 2 + i] = float(std::sin(angle));
    }
  std::vector<float> want = x;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        const int64_t e = r * stride + h * head_dim + 2 * i, t = (r % positions) * head_dim / 2 + i;
        double x0 = x[e], x1 = x[e + 1];
        want[e] = float(x0 * cos_t[t] - x1 * sin_t[t]);
        want[e + 1] = float(x0 * sin_t[t] + x1 * cos_t[t]);
      }
  DeviceBuffer<float> dx(x), dc_(cos_t), ds(sin_t);
  check_status(dc::rope_interleaved(dx.get(), rows, heads, head_dim, stride, dc_.get(), ds.get(), positions, nullptr));
  report("rope_interleaved rows=38 heads=3 d=10 (strided)", dx.download(), want, 1e-6, 1e-6);
}

void test_patchify(uint32_t seed) {
  const int64_t b = 2, c = 3, h = 10, w = 6, p = 2, n = b * c * h * w;
  std::vector<float> x = ditto_test::random_vector(n, seed), want(n), want_back(n);
  cpu::patchify(x.data(), b, c, h, w, p, want.data());
  std::vector<float> tokens = ditto_test::random_vector(n, seed + 1);
  cpu::unpatchify(tokens.data(), b, c, h, w, p, want_back.data());
  DeviceBuffer<float> dx(x), dt(n), dtokens(tokens), dback(n);
  check_status(dc::patchify(dx.get(), b, c, h, w, p, dt.get(), nullptr));
  check_status(dc::unpatchify(dtokens.get(), b, c, h, w, p, dback.get(), nullptr));
  report("patchify B=2 C=3 H=10 W=6 p=2", dt.download(), want, 0, 0);
  report("unpatchify B=2 C=3 H=10 W=6 p=2", dback.download(), want_back, 0, 0);
}

void test_relative_l1(uint32_t seed) {
  const int64_t batch = 3, n = 100003;
  std::vector<float> cur = ditto_test::random_vector(batch * n, seed), prev = ditto_test::random_vector(batch * n, seed + 1);
  for (int64_t i = 0; i < n; ++i) cur[2 * n + i] = prev[2 * n + i] * 1.01f;  // sample 2: ~1% change
  std::vector<float> want(batch);
  for (int64_t b = 0; b < batch; ++b) {
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) { d += std::fabs(double(cur[b * n + i]) - prev[b * n + i]); s += std::fabs(double(prev[b * n + i])); }
    want[b] = float(d / s);
  }
  DeviceBuffer<float> dcur(cur), dprev(prev), dout(batch);
  DeviceBuffer<double> scratch(2 * batch);
  check_status(dc::relative_l1(dcur.get(), dprev.get(), batch, n, scratch.get(), dout.get(), nullptr));
  report("relative_l1 B=3 n=100003", dout.download(), want, 1e-6, 1e-6);
}

// dot / norms per sample (the executor's norm signals) vs a double reference.
void test_dot_norm(uint32_t seed) {
  const int64_t batch = 3, n = 70001;
  std::vector<float> x = ditto_test::random_vector(batch * n, seed), y = ditto_test::random_vector(batch * n, seed + 1);
  std::vector<float> want(3 * batch);
  for (int64_t b = 0; b < batch; ++b) {
    double d = 0, p = 0, q = 0;
    for (int64_t i = 0; i < n; ++i) {
      d += double(x[b * n + i]) * y[b * n + i];
      p += double(x[b * n + i]) * x[b * n + i];
      q += double(y[b * n + i]) * y[b * n + i];
    }
    want[3 * b] = float(d);
    want[3 * b + 1] = float(std::sqrt(p));
    want[3 * b + 2] = float(std::sqrt(q));
  }
  DeviceBuffer<float> dx(x), dy(y), dout(3 * batch);
  DeviceBuffer<double> scratch(3 * batch);
  check_status(dc::dot_norm(dx.get(), dy.get(), batch, n, scratch.get(), dout.get(), nullptr));
  report("dot_norm B=3 n=70001", dout.download(), want, 1e-3, 1e-5);
}

void test_elementwise(uint32_t seed) {
  const int64_t batch = 2, tokens = 7, dim = 33, n = batch * tokens * dim;
  std::vector<float> x = ditto_test::random_vector(n, seed, -4.f, 4.f), row = ditto_test::random_vector(batch * dim, seed + 1);
  std::vector<float> want_silu(n), want_rows = x;
  for (int64_t i = 0; i < n; ++i) {
    want_silu[i] = x[i] / (1.f + std::exp(-x[i]));
    want_rows[i] += row[(i / (tokens * dim)) * dim + i % dim];
  }
  DeviceBuffer<float> dx(x), drow(row), dsilu(n), drows(x), dback(n);
  DeviceBuffer<dc::bf16> db(n);
  check_status(dc::silu(dx.get(), dsilu.get(), n, nullptr));
  check_status(dc::add_rows(drows.get(), drow.get(), batch, tokens, dim, dim, nullptr));
  check_status(dc::f32_to_bf16(dx.get(), db.get(), n, nullptr));
  check_status(dc::bf16_to_f32(db.get(), dback.get(), n, nullptr));
  report("silu n=462", dsilu.download(), want_silu, 1e-6, 1e-6);
  report("add_rows B=2 T=7 D=33", drows.download(), want_rows, 0, 0);
  report("f32->bf16->f32 n=462", dback.download(), gpu_test::round_bf16(x), 0, 0);
  // lerp vs ditto::cpu::lerp's formula, in place on y as the DiT Scale action uses it.
  std::vector<float> y = ditto_test::random_vector(n, seed + 2), want_lerp(n);
  for (int64_t i = 0; i < n; ++i) want_lerp[i] = x[i] + 0.37f * (y[i] - x[i]);
  DeviceBuffer<float> dy(y);
  check_status(dc::lerp(dx.get(), dy.get(), 0.37f, dy.get(), n, nullptr));
  report("lerp n=462 w=0.37 (in place)", dy.download(), want_lerp, 1e-6, 1e-6);
  // axpby vs ditto::cpu::axpby's formula (the executor's residual and reuse arithmetic).
  std::vector<float> want_axpby(n);
  for (int64_t i = 0; i < n; ++i) want_axpby[i] = 1.5f * x[i] + -0.25f * y[i];
  DeviceBuffer<float> dy2(y), daxpby(n);
  check_status(dc::axpby(1.5f, dx.get(), -0.25f, dy2.get(), daxpby.get(), n, nullptr));
  report("axpby n=462 a=1.5 b=-0.25", daxpby.download(), want_axpby, 1e-6, 1e-6);
  // mul vs ditto::cpu::mul (Tensor.mul on a device tensor: inpainting's mask): one f32 product, so exact; an odd
  // size over several blocks, out of place and in place on x.
  const int64_t m = 4099;
  std::vector<float> p = ditto_test::random_vector(m, seed + 3, -3.f, 3.f), q = ditto_test::random_vector(m, seed + 4),
                     want_mul(m);
  for (int64_t i = 0; i < m; ++i) want_mul[i] = p[i] * q[i];
  DeviceBuffer<float> dp(p), dq(q), dmul(m);
  check_status(dc::mul(dp.get(), dq.get(), dmul.get(), m, nullptr));
  report("mul n=4099", dmul.download(), want_mul, 0, 0);
  check_status(dc::mul(dp.get(), dq.get(), dp.get(), m, nullptr));
  report("mul n=4099 (in place)", dp.download(), want_mul, 0, 0);
}

}  // namespace

int main() {
  gpu_test::require_gpu_or_skip("test_cuda_ops");
  uint32_t seed = 1000;
  const GemmCase gemm_cases[] = {
      {37, 53, 29, cpu::Activation::None, false, false, false},
      {37, 53, 29, cpu::Activation::GeluTanh, true, false, true},
      {130, 67, 259, cpu::Activation::Silu, true, true, false},
      {200, 96, 136, cpu::Activation::None, true, true, true},
      {257, 1152, 130, cpu::Activation::GeluTanh, true, false, false},
      {1, 8, 1, cpu::Activation::None, false, false, false},
      // 16-byte aligned operands (what cuBLASLt takes), one per epilogue combination and output layout.
      {37, 56, 29, cpu::Activation::None, false, false, false},                  // f32 y, odd ldy
      {64, 40, 48, cpu::Activation::GeluTanh, false, false, false},              // GELU alone, f32 y
      {37, 64, 32, cpu::Activation::None, true, false, false},                   // bias, f32 y
      {200, 96, 136, cpu::Activation::None, true, false, true, true},            // qkv: bias -> bf16 only
      {200, 96, 136, cpu::Activation::GeluTanh, true, false, true, true},        // fc1: bias+GELU -> bf16 only
      {130, 72, 259, cpu::Activation::GeluTanh, true, false, true, true},        // bf16 only, odd ld
      {100, 1152, 1152, cpu::Activation::None, true, true, false, false, 8},     // proj / fc2: gated residual, strided
      {130, 67, 259, cpu::Activation::Silu, true, true, true, false, 5},         // k odd (lda 72), SiLU, gate, both outs
      {77, 48, 64, cpu::Activation::GeluTanh, true, false, false, false, 0, true},  // bias not 16-byte aligned
      {3, 16, 8, cpu::Activation::None, true, false, true, false, 8},            // y and bf16 copy, strided
      {53, 24, 40, cpu::Activation::None, false, false, false, false, 3},        // lda 27: refused by cuBLASLt
  };
  // DITTO_CUDA_GEMM=wmma (e.g. to sanitize only our kernels) leaves cuBLASLt out entirely, its own cases included.
  const bool lt_cases = dc::gemm_backend() != dc::GemmBackend::Wmma;
  for (GemmPath path : {GemmPath::F32, GemmPath::Wmma, GemmPath::Dispatch, GemmPath::Cublaslt}) {
    if (path == GemmPath::Cublaslt && !lt_cases) {
      std::printf("  gemm_bf16 cublaslt cases skipped (DITTO_CUDA_GEMM=wmma)\n");
      continue;
    }
    for (const GemmCase& c : gemm_cases) test_gemm(c, path, seed += 10);
  }
  if (lt_cases) test_cublaslt_gelu_flavour();
  std::printf("  %s\n", dc::gemm_backend_info().c_str());
  for (bool tc : {false, true}) {
    test_attention(2, 3, 77, 77, 72, false, tc, seed += 10);   // DiT-XL head dim (padded to 80 on tensor cores)
    test_attention(1, 2, 33, 130, 64, true, tc, seed += 10);   // cross-attention with a key mask
    test_attention(2, 2, 65, 129, 128, false, tc, seed += 10); // Flux / Wan head dim, ragged tiles
    test_attention(1, 1, 5, 3, 40, true, tc, seed += 10);      // tiny, mostly padding
  }
  test_layer_norm(2, 37, 161, false, true, seed += 10);
  test_layer_norm(3, 5, 1152, true, false, seed += 10);
  test_layer_norm(1, 3, 7, true, true, seed += 10);
  test_rms_norm(seed += 10);
  test_rope(seed += 10);
  test_patchify(seed += 10);
  test_dot_norm(seed += 10);
  test_relative_l1(seed += 10);
  test_elementwise(seed += 10);
  std::printf("test_cuda_ops: %d cases\n", cases_run);
  return ditto_test::finish("test_cuda_ops");
}
