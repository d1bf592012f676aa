// Embeddings and layout ops: timestep features vs a float64 evaluation of the formula (t = 0, 1, 31.25, 500,
// 999; shift 0 and 1; both sin/cos orders; odd width) and vs the golden dit-official `t_freq`; the 2-D sin-cos
// table vs direct per-element formulas; patchify / unpatchify vs naive index maps; embedding_lookup values
// and its error for an out-of-range id.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "check.h"
#include "ditto/cpu/embed.h"

using namespace ditto;
using namespace ditto::cpu;

namespace {

void check_timestep_embedding() {
  const std::vector<float> ts = {0.f, 1.f, 31.25f, 500.f, 999.f};
  for (int64_t dim : {int64_t{256}, int64_t{33}, int64_t{2}}) {
    for (float shift : {0.f, 1.f}) {
      for (bool flip : {true, false}) {
        const int64_t half = dim / 2;
        if (half - shift <= 0) continue;
        std::vector<float> got(ts.size() * dim, 9.f), want(ts.size() * dim);
        timestep_embedding(ts.data(), static_cast<int64_t>(ts.size()), dim, 10000.f, shift, flip, got.data());
        double max_arg = 0;
        for (size_t r = 0; r < ts.size(); ++r) {
          for (int64_t i = 0; i < half; ++i) {
            // Fully float64: the engine's float32 op order differs from this by the rounding of the argument.
            const double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / (half - shift));
            const double arg = ts[r] * freq;
            max_arg = std::max(max_arg, std::fabs(arg));
            want[r * dim + i] = static_cast<float>(flip ? std::cos(arg) : std::sin(arg));
            want[r * dim + half + i] = static_cast<float>(flip ? std::sin(arg) : std::cos(arg));
          }
          if (dim % 2) want[r * dim + dim - 1] = 0.f;
        }
        // Golden README: sinusoid features get 2 ulp of their largest argument (the float32 argument itself
        // carries up to ~1 ulp of error), plus 1 ulp of the output.
        const double atol = 2 * max_arg * std::ldexp(1.0, -23) + 6e-8;
        CHECK(ditto_test::all_close(got.data(), want.data(), got.size(), atol, 0.0,
                                    "timestep_embedding dim " + std::to_string(dim) + " shift " +
                                        std::to_string(shift) + (flip ? " cos|sin" : " sin|cos")));
        if (dim % 2) {
          for (size_t r = 0; r < ts.size(); ++r) CHECK(got[r * dim + dim - 1] == 0.f);
        }
      }
    }
  }
  // t = 0 is exactly [1…1 | 0…0] with flip.
  std::vector<float> zero(8);
  const float t0 = 0.f;
  timestep_embedding(&t0, 1, 8, 10000.f, 0.f, true, zero.data());
  CHECK(zero[0] == 1.f && zero[3] == 1.f && zero[4] == 0.f && zero[7] == 0.f);
}

// Minimal safetensors reader for one F32/I64 tensor (8-byte header length, JSON header, raw little-endian data).
bool read_tensor(const std::string& path, const std::string& name, std::vector<char>* bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  const size_t key = header.find("\"" + name + "\"");
  if (key == std::string::npos) return false;
  const size_t offs = header.find("\"data_offsets\"", key);
  const size_t open = header.find('[', offs);
  uint64_t begin = 0, end = 0;
  if (std::sscanf(header.c_str() + open, "[%lu,%lu]", &begin, &end) != 2 &&
      std::sscanf(header.c_str() + open, "[%lu, %lu]", &begin, &end) != 2)
    return false;
  bytes->resize(end - begin);
  f.seekg(static_cast<std::streamoff>(8 + header_len + begin));
  f.read(bytes->data(), static_cast<std::streamsize>(end - begin));
  return static_cast<bool>(f);
}

void check_golden_t_freq() {
  const std::string path = "../shared/golden/dit-official/io.safetensors";
  std::vector<char> t_bytes, f_bytes;
  if (!read_tensor(path, "t", &t_bytes) || !read_tensor(path, "t_freq", &f_bytes)) {
    std::printf("golden %s not readable from here; skipping the t_freq comparison\n", path.c_str());
    return;
  }
  const size_t n = t_bytes.size() / 8;
  std::vector<float> t(n), want(f_bytes.size() / 4), got(want.size());
  double max_t = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t v;
    std::memcpy(&v, t_bytes.data() + 8 * i, 8);
    t[i] = static_cast<float>(v);
    max_t = std::max(max_t, std::fabs(double(t[i])));
  }
  std::memcpy(want.data(), f_bytes.data(), f_bytes.size());
  CHECK(want.size() == n * 256);
  timestep_embedding(t.data(), static_cast<int64_t>(n), 256, 10000.f, 0.f, true, got.data());
  // The largest argument is max t (freq_0 = 1).
  CHECK(ditto_test::all_close(got.data(), want.data(), want.size(), 2 * max_t * std::ldexp(1.0, -23), 0.0,
                              "t_freq vs golden dit-official"));
}

void check_sincos_table() {
  for (double scale : {1.0, 2.0 / 3.0}) {
    const int64_t gh = 3, gw = 5, dim = 24;
    std::vector<float> got(gh * gw * dim);
    sincos_2d_table(gh, gw, dim, scale, 1.5 * scale, got.data());
    bool ok = true;
    for (int64_t r = 0; r < gh; ++r)
      for (int64_t c = 0; c < gw; ++c)
        for (int64_t f = 0; f < dim; ++f) {
          // f in [0, dim/2) embeds the column, [dim/2, dim) the row; within each half [sin | cos].
          const double p = f < dim / 2 ? c / (1.5 * scale) : r / scale;
          const int64_t g = f % (dim / 2);
          const int64_t j = g % (dim / 4);
          const double omega = std::pow(10000.0, -static_cast<double>(j) / (dim / 4));
          const float want = static_cast<float>(g < dim / 4 ? std::sin(p * omega) : std::cos(p * omega));
          ok = ok && std::fabs(got[(r * gw + c) * dim + f] - want) <= 1e-7f;
        }
    CHECK(ok);
  }
}

void check_patchify() {
  const int64_t B = 2, C = 3, H = 6, W = 10, p = 2, gh = H / p, gw = W / p, T = gh * gw, F = C * p * p;
  const auto x = ditto_test::random_vector(B * C * H * W, 5);
  std::vector<float> tokens(B * T * F, 9.f), back(B * C * H * W, 9.f);
  patchify(x.data(), B, C, H, W, p, tokens.data());
  bool ok = true;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t f = 0; f < F; ++f) {
        const int64_t c = f / (p * p), py = (f / p) % p, px = f % p;
        const int64_t y = (t / gw) * p + py, xx = (t % gw) * p + px;
        ok = ok && tokens[(b * T + t) * F + f] == x[((b * C + c) * H + y) * W + xx];
      }
  CHECK(ok);
  // unpatchify reads token features as (py·p + px)·C + c.
  const auto tok = ditto_test::random_vector(B * T * F, 6);
  unpatchify(tok.data(), B, C, H, W, p, back.data());
  ok = true;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx) {
          const int64_t t = (y / p) * gw + xx / p, f = ((y % p) * p + xx % p) * C + c;
          ok = ok && back[((b * C + c) * H + y) * W + xx] == tok[(b * T + t) * F + f];
        }
  CHECK(ok);
}

void check_embedding_lookup() {
  const int64_t rows = 11, dim = 5;
  const auto table = ditto_test::random_vector(rows * dim, 7);
  const int64_t ids[] = {3, 0, 10, 3};
  std::vector<float> out(4 * dim);
  CHECK_OK(embedding_lookup(table.data(), rows, dim, ids, 4, out.data()));
  bool ok = true;
  for (int i = 0; i < 4; ++i)
    for (int64_t d = 0; d < dim; ++d) ok = ok && out[i * dim + d] == table[ids[i] * dim + d];
  CHECK(ok);
  const int64_t bad[] = {2, 11};
  Status s = embedding_lookup(table.data(), rows, dim, bad, 2, out.data());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message() == "Embedding id 11 at position 1 is outside [0, 11)");
  const int64_t negative[] = {-1};
  s = embedding_lookup(table.data(), rows, dim, negative, 1, out.data());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("-1") != std::string::npos);
}

}  // namespace

int main() {
  check_timestep_embedding();
  check_golden_t_freq();
  check_sincos_table();
  check_patchify();
  check_embedding_lookup();
  return ditto_test::finish("test_embed");
}
