// Kernels added for the text-conditioned families, each against a naive reference on random odd sizes:
//  * rope_apply_interleaved (Flux / Wan interleaved pairs) vs a complex multiply in double, on strided rows;
//  * rms_norm_rows (Wan's q/k norm across heads, the shared RMSNorm row loop) on every ISA path vs the double
//    reference, with and without a weight, in place;
//  * patchify_3d / unpatchify_3d (Wan's Conv3d patch embedding and its inverse) vs the direct index formulas.
#include <cmath>
#include <complex>
#include <vector>

#include "check.h"
#include "cpu/norms_kernels.h"
#include "cpu/rope_kernels.h"
#include "ditto/cpu/embed.h"
#include "ditto/cpu/norms.h"
#include "ditto/cpu_features.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

void check_rope(int64_t tokens, int64_t heads, int64_t head_dim, int64_t pad, uint32_t seed) {
  const int64_t stride = heads * head_dim + pad, pairs = head_dim / 2;
  std::vector<float> x = ditto_test::random_vector(tokens * stride, seed);
  std::vector<float> angle = ditto_test::random_vector(tokens * pairs, seed + 1, -40.f, 40.f);
  std::vector<float> cs(angle.size()), sn(angle.size());
  for (size_t i = 0; i < angle.size(); ++i) {
    cs[i] = std::cos(angle[i]);
    sn[i] = std::sin(angle[i]);
  }
  std::vector<float> want = x;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < pairs; ++i) {
        float* v = want.data() + t * stride + h * head_dim + 2 * i;
        const std::complex<double> z(v[0], v[1]), r(cs[t * pairs + i], sn[t * pairs + i]);
        const std::complex<double> p = z * r;
        v[0] = static_cast<float>(p.real());
        v[1] = static_cast<float>(p.imag());
      }
  rope_apply_interleaved(x.data(), tokens, heads, head_dim, stride, cs.data(), sn.data());
  CHECK(ditto_test::all_close(x.data(), want.data(), x.size(), 1e-6, 1e-6, "rope_apply_interleaved"));
  // The padding columns between rows are untouched.
  std::vector<float> orig = ditto_test::random_vector(tokens * stride, seed);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = heads * head_dim; j < stride; ++j) CHECK(x[t * stride + j] == orig[t * stride + j]);
}

void check_rms_rows(Isa isa, int64_t rows, int64_t cols, bool weighted, uint32_t seed) {
  std::vector<float> x = ditto_test::random_vector(rows * cols, seed, -3.f, 3.f);
  const auto weight = ditto_test::random_vector(cols, seed + 1, 0.5f, 1.5f);
  std::vector<float> want(x.size());
  rms_norm_reference(x.data(), want.data(), rows, cols, 1e-6f, weighted ? weight.data() : nullptr);
  set_isa_override(&isa);
  rms_norm_rows(x.data(), weighted ? weight.data() : nullptr, x.data(), rows, cols, 1e-6f);  // in place
  set_isa_override(nullptr);
  CHECK(ditto_test::all_close(x.data(), want.data(), x.size(), 2e-6, 2e-6,
                              std::string("rms_norm_rows ") + isa_name(isa)));
}

void check_patchify_3d(int64_t B, int64_t C, int64_t F, int64_t H, int64_t W, int64_t pt, int64_t ph, int64_t pw) {
  const int64_t gf = F / pt, gh = H / ph, gw = W / pw, T = gf * gh * gw, K = C * pt * ph * pw;
  std::vector<float> x = ditto_test::random_vector(B * C * F * H * W, 7);
  std::vector<float> tokens(B * T * K, -99.f);
  patchify_3d(x.data(), B, C, F, H, W, pt, ph, pw, tokens.data());
  bool ok = true;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t f = 0; f < gf; ++f)
      for (int64_t h = 0; h < gh; ++h)
        for (int64_t w = 0; w < gw; ++w)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < pt; ++i)
              for (int64_t j = 0; j < ph; ++j)
                for (int64_t k = 0; k < pw; ++k) {
                  const int64_t token = (f * gh + h) * gw + w;
                  const int64_t feature = ((c * pt + i) * ph + j) * pw + k;
                  const float want = x[(((b * C + c) * F + f * pt + i) * H + h * ph + j) * W + w * pw + k];
                  ok = ok && tokens[(b * T + token) * K + feature] == want;
                }
  CHECK(ok);
  // unpatchify_3d reads token features as ((i*ph + j)*pw + k)*C + c.
  std::vector<float> tok = ditto_test::random_vector(B * T * K, 8);
  std::vector<float> back(B * C * F * H * W, -99.f);
  unpatchify_3d(tok.data(), B, C, F, H, W, pt, ph, pw, back.data());
  ok = true;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t f = 0; f < F; ++f)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t xx = 0; xx < W; ++xx) {
            const int64_t token = ((f / pt) * gh + y / ph) * gw + xx / pw;
            const int64_t feature = (((f % pt) * ph + y % ph) * pw + xx % pw) * C + c;
            ok = ok && back[(((b * C + c) * F + f) * H + y) * W + xx] == tok[(b * T + token) * K + feature];
          }
  CHECK(ok);
}

}  // namespace

int main() {
  check_rope(7, 3, 10, 0, 1);
  check_rope(13, 2, 22, 5, 2);
  check_rope(1, 5, 2, 3, 3);
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    check_rms_rows(isa, 9, 37, true, 11);
    check_rms_rows(isa, 5, 131, false, 12);
    check_rms_rows(isa, 3, 1, true, 13);
  }
  check_patchify_3d(2, 3, 5, 6, 10, 1, 2, 2);
  check_patchify_3d(1, 5, 6, 9, 7, 2, 3, 1);
  check_patchify_3d(3, 1, 1, 3, 3, 1, 3, 3);
  return ditto_test::finish("test_family_kernels");
}
