// Tests for the safetensors reader/writer: a valid round trip (every dtype, metadata, zero-copy views,
// bf16/f16 -> f32 conversion, shape checks) and hand-made malformed files, each of which must give
// kModelLoad with a message naming the file and the problem.
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

// Writes a raw file: 8-byte length (given, or the header's size), header bytes, then `data_bytes` bytes.
static std::string write_raw(const std::string& dir, const std::string& name, const std::string& header,
                             size_t data_bytes, long long length_override = -1) {
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  uint64_t n = length_override >= 0 ? static_cast<uint64_t>(length_override) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header;
  for (size_t i = 0; i < data_bytes; ++i) out.put(static_cast<char>(i));
  return path;
}

static void expect_load_error(const std::string& path, const std::string& fragment) {
  auto r = SafetensorsFile::open(path);
  if (r.ok()) {
    std::fprintf(stderr, "%s: expected an error containing '%s'\n", path.c_str(), fragment.c_str());
    ++ditto_test::failures();
    return;
  }
  const std::string& m = r.status().message();
  bool ok = r.status().code() == StatusCode::kModelLoad && m.find(fragment) != std::string::npos &&
            m.find(path) != std::string::npos;
  if (!ok) {
    std::fprintf(stderr, "%s: got [%s] %s, wanted fragment '%s'\n", path.c_str(), status_code_name(r.status().code()),
                 m.c_str(), fragment.c_str());
    ++ditto_test::failures();
  }
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
      CHECK(ids.dtype() == DType::I64 && ids.data<int64_t>()[3] == (int64_t(1) << 43));
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

  // ---- malformed files (each must fail with kModelLoad and a specific message)
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]})";
  {
    std::string p = dir + "/tiny.safetensors";
    std::ofstream(p, std::ios::binary) << "abc";
    expect_load_error(p, "the file is 3 bytes, shorter than the 8-byte header length");
  }
  expect_load_error(write_raw(dir, "truncated.safetensors", "{" + ok_entry + "}", 20),
                    "tensor \"w\" has data_offsets [0, 32] past the end of the data section (20 bytes)");
  expect_load_error(write_raw(dir, "len_past_eof.safetensors", "{}", 0, 1000),
                    "header length 1000 runs past the end of the file (10 bytes)");
  expect_load_error(write_raw(dir, "len_over_cap.safetensors", "{}", 0, (100ll << 20) + 1),
                    "header length 104857601 exceeds the limit of 104857600 bytes");
  expect_load_error(write_raw(dir, "not_json.safetensors", "{\"w\": nope}", 0),
                    "the header is not valid JSON (JSON parse error at byte 6");
  expect_load_error(write_raw(dir, "array.safetensors", "[1, 2]", 0), "the header is a JSON array, expected an object");
  expect_load_error(write_raw(dir, "dtype_unknown.safetensors",
                              R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8),
                    "tensor \"w\" has unknown dtype \"F33\"");
  expect_load_error(write_raw(dir, "dtype_unsupported.safetensors",
                              R"({"w":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2),
                    "tensor \"w\" has dtype BOOL, which Ditto does not read");
  expect_load_error(write_raw(dir, "bytes_mismatch.safetensors",
                              R"({"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}})", 24),
                    "tensor \"w\" has 24 bytes but shape [2, 4] of F32 needs 32");
  expect_load_error(write_raw(dir, "overlap.safetensors",
                              R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                              R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 24),
                    "tensors \"a\" and \"b\" overlap (bytes [0, 16) and [8, 24))");
  expect_load_error(write_raw(dir, "past_end.safetensors",
                              R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})", 8),
                    "tensor \"w\" has data_offsets [4, 12] past the end of the data section (8 bytes)");
  expect_load_error(write_raw(dir, "begin_gt_end.safetensors",
                              R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 8),
                    "tensor \"w\" has data_offsets [8, 4] with begin > end");
  expect_load_error(write_raw(dir, "neg_shape.safetensors",
                              R"({"w":{"dtype":"F32","shape":[2,-4],"data_offsets":[0,32]}})", 32),
                    "tensor \"w\" has an invalid shape: dimension 1 is -4 (must be a non-negative integer)");
  expect_load_error(write_raw(dir, "float_shape.safetensors",
                              R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
                    "tensor \"w\" has an invalid shape: dimension 0 is 2.5");
  expect_load_error(write_raw(dir, "no_offsets.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", 8),
                    "tensor \"w\" has no data_offsets");
  expect_load_error(write_raw(dir, "bad_offsets.safetensors",
                              R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
                    "tensor \"w\" has data_offsets [0], expected [begin, end]");
  expect_load_error(write_raw(dir, "no_dtype.safetensors", R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8),
                    "tensor \"w\" has no dtype");
  expect_load_error(write_raw(dir, "meta_nonstring.safetensors",
                              R"({"__metadata__":{"format":"pt","n":3},)" + ok_entry + "}", 32),
                    "__metadata__ must map strings to strings, but \"n\" is a number");
  expect_load_error(write_raw(dir, "entry_not_object.safetensors", R"({"w":[1,2]})", 0),
                    "tensor \"w\" is described by a JSON array, expected an object");
  expect_load_error(write_raw(dir, "dup_key.safetensors", "{" + ok_entry + "," + ok_entry + "}", 32),
                    "duplicate key \"w\"");
  expect_load_error(write_raw(dir, "huge_shape.safetensors",
                              R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8),
                    "needs more than 2^62");
  {
    auto r = SafetensorsFile::open(dir + "/does_not_exist.safetensors");
    CHECK(!r.ok() && r.status().code() == StatusCode::kModelLoad &&
          r.status().message().find("Cannot open safetensors file") != std::string::npos);
  }
  // A header exactly filling the file, with a gap-free empty tensor, is fine.
  CHECK_OK(SafetensorsFile::open(
      write_raw(dir, "empty_ok.safetensors", R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", 0)));

  std::string cleanup = "rm -rf '" + dir + "'";
  if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  return ditto_test::finish("test_safetensors");
}
