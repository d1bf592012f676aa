// Tests for the safetensors reader/writer: a valid round trip (every dtype, metadata, zero-copy views,
// bf16/f16 -> f32 conversion, shape checks) and a missing file. The malformed files are the shared table
// test/fixtures/safetensors-cases.json, run by test_safetensors_cases.cpp (and by the TypeScript tests).
#include "ditto/safetensors.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "check.h"

using namespace ditto;

static std::string temp_dir() {
  char tmpl[] = "/tmp/ditto_test_st_XXXXXX";
  char* d = mkdtemp(tmpl);
  return d ? std::string(d) : std::string("/tmp");
}

int main() {
  const std::string dir = temp_dir();

  // ---- valid round trip
  {
    auto w = ditto_test::random_vector(2 * 3 * 5, 7);
    Tensor f32 = Tensor::empty(DType::F32, {2, 3, 5}).value();
    std::memcpy(f32.raw(), w.data(), w.size() * 4);
    Tensor bf16 = f32.to(DType::BF16).value();
    Tensor f16 = f32.to(DType::F16).value();
    Tensor i64 = Tensor::empty(DType::I64, {4}).value();
    for (int i = 0; i < 4; ++i) i64.data<int64_t>()[i] = int64_t(1) << (40 + i);
    Tensor u8 = Tensor::empty(DType::U8, {3}).value();  // odd size: later tensors become unaligned
    for (int i = 0; i < 3; ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>(200 + i);
    Tensor empty = Tensor::empty(DType::F32, {0, 4}).value();
    Tensor scalar = Tensor::empty(DType::F32, {}).value();
    scalar.data<float>()[0] = 3.5f;
    const std::string path = dir + "/valid.safetensors";
    CHECK_OK(write_safetensors(path,
                               {{"w", f32}, {"b.bf16", bf16}, {"c.f16", f16}, {"a.ids", i64}, {"a.bytes", u8},
                                {"empty", empty}, {"scalar", scalar}},
                               {{"format", "pt"}, {"note", "caf\xc3\xa9 \"quoted\""}}));
    auto r = SafetensorsFile::open(path);
    CHECK_OK(r);
    if (r.ok()) {
      auto file = r.value();
      CHECK(file->entries().size() == 7);
      CHECK(file->metadata().at("format") == "pt");
      CHECK(file->metadata().at("note") == "caf\xc3\xa9 \"quoted\"");
      CHECK(file->has("w") && !file->has("nope"));
      CHECK(file->find("w")->shape == (Shape{2, 3, 5}));
      Tensor view = file->get("w").value();
      CHECK(view.dtype() == DType::F32 && std::memcmp(view.raw(), w.data(), w.size() * 4) == 0);
      Tensor ids = file->get("a.ids").value();
      // A view over the file need not be aligned to its element size (UBSan: read it byte-wise, as the engine does).
      int64_t id3 = 0;
      std::memcpy(&id3, static_cast<const uint8_t*>(ids.raw()) + 3 * sizeof(int64_t), sizeof id3);
      CHECK(ids.dtype() == DType::I64 && id3 == (int64_t(1) << 43));
      Tensor bytes = file->get("a.bytes").value();
      CHECK(bytes.data<uint8_t>()[2] == 202);
      Tensor from_bf16 = file->get_f32("b.bf16", {2, 3, 5}).value();
      Tensor from_f16 = file->get_f32("c.f16").value();
      CHECK(ditto_test::all_close(from_bf16.data<float>(), w.data(), w.size(), 0, 1.0 / 256, "bf16->f32"));
      CHECK(ditto_test::all_close(from_f16.data<float>(), w.data(), w.size(), 1e-3, 1e-3, "f16->f32"));
      CHECK(file->get("empty").value().numel() == 0);
      CHECK(file->get_f32("scalar").value().data<float>()[0] == 3.5f);
      auto wrong_shape = file->get_f32("w", {3, 2, 5});
      CHECK(!wrong_shape.ok() && wrong_shape.status().code() == StatusCode::kModelLoad &&
            wrong_shape.status().message().find("has shape [2, 3, 5] but [3, 2, 5] was expected") != std::string::npos);
      auto int_as_float = file->get_f32("a.ids");
      CHECK(!int_as_float.ok() && int_as_float.status().message().find("dtype I64") != std::string::npos);
      auto missing = file->get("nope");
      CHECK(!missing.ok() && missing.status().code() == StatusCode::kModelLoad &&
            missing.status().message().find("\"nope\"") != std::string::npos);
      // A borrowed view keeps the mapping alive after the file object is gone.
      file.reset();
      r = Result<std::shared_ptr<SafetensorsFile>>(std::shared_ptr<SafetensorsFile>());
      CHECK(std::memcmp(view.raw(), w.data(), w.size() * 4) == 0);
    }
    // The header is padded to a multiple of 8.
    std::ifstream in(path, std::ios::binary);
    uint8_t len[8];
    in.read(reinterpret_cast<char*>(len), 8);
    CHECK(len[0] % 8 == 0);
    CHECK(!write_safetensors(dir + "/dup.safetensors", {{"x", f32}, {"x", f32}}).ok());
  }

  // ---- malformed files: the shared table test/fixtures/safetensors-cases.json (test_safetensors_cases.cpp)
  {
    auto r = SafetensorsFile::open(dir + "/does_not_exist.safetensors");
    CHECK(!r.ok() && r.status().code() == StatusCode::kModelLoad &&
          r.status().message().find("Cannot open safetensors file") != std::string::npos);
  }
  std::string cleanup = "rm -rf '" + dir + "'";
  if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  return ditto_test::finish("test_safetensors");
}
