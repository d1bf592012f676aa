// Tests for the non-finite detection of ditto/cpu/finite.h against a naive std::isfinite reference: random
// odd-sized inputs in every floating dtype (unaligned, with NaN / ±Inf sprinkled in and at the ends), the first
// index, non-floating dtypes, and check_finite_weights naming the tensor, the element and the kind of value.
#include "ditto/cpu/finite.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"

using namespace ditto;

// The naive reference: convert every element to float and ask std::isfinite.
static std::vector<bool> naive_non_finite(const Tensor& t) {
  Tensor f = t.to(DType::F32).value();
  std::vector<bool> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = !std::isfinite(f.data<float>()[i]);
  return out;
}

int main() {
  std::mt19937 rng(11);
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::F64}) {
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(4095), int64_t(4097), int64_t(12289)}) {
      for (int variant = 0; variant < 4; ++variant) {
        auto values = ditto_test::random_vector(static_cast<size_t>(n), static_cast<uint32_t>(n * 7 + variant), -60000.f, 60000.f);
        if (n > 0 && variant == 1) values[static_cast<size_t>(n - 1)] = specials[n % 3];  // last element
        if (n > 0 && variant == 2) values[0] = specials[(n + 1) % 3];                   // first element
        if (n > 2 && variant == 3)
          for (int k = 0; k < 5; ++k) values[rng() % static_cast<size_t>(n)] = specials[k % 3];
        Tensor f32 = Tensor::empty(DType::F32, {n}).value();
        if (n) std::memcpy(f32.raw(), values.data(), static_cast<size_t>(n) * 4);
        Tensor t = f32.to(dtype).value();
        // Unaligned copy: one byte in, as tensors sit inside a safetensors mapping.
        std::vector<uint8_t> unaligned(t.nbytes() + 1);
        if (t.nbytes()) std::memcpy(unaligned.data() + 1, t.raw(), t.nbytes());
        const std::vector<bool> expected = naive_non_finite(t);
        int64_t count = 0, first = -1;
        for (int64_t i = 0; i < n; ++i)
          if (expected[static_cast<size_t>(i)]) {
            ++count;
            if (first < 0) first = i;
          }
        CHECK(cpu::count_non_finite(t.raw(), dtype, n) == count);
        CHECK(cpu::count_non_finite(unaligned.data() + 1, dtype, n) == count);
        CHECK(cpu::first_non_finite(unaligned.data() + 1, dtype, n) == first);
        if (n > 0 && (variant == 1 || variant == 2)) CHECK(count >= 1);  // the special value survived the cast
      }
    }
  }
  // Non-floating dtypes never count (an I32 0x7f800000 is just a number).
  const int32_t ints[] = {0x7f800000, 0x7fc00000, -1};
  CHECK(cpu::count_non_finite(ints, DType::I32, 3) == 0);
  CHECK(cpu::first_non_finite(ints, DType::I32, 3) == -1);

  // check_finite_weights names the first bad tensor in header order, the element and the value.
  char tmpl[] = "/tmp/ditto_test_finite_XXXXXX";
  const std::string dir = mkdtemp(tmpl) ? std::string(tmpl) : std::string("/tmp");
  Tensor good = Tensor::empty(DType::F32, {3, 5}).value();
  for (int i = 0; i < 15; ++i) good.data<float>()[i] = static_cast<float>(i) - 7.f;
  Tensor bad = good.clone().value();
  bad.data<float>()[9] = -std::numeric_limits<float>::infinity();
  Tensor bad_bf16 = good.to(DType::BF16).value();
  reinterpret_cast<uint16_t*>(bad_bf16.raw())[4] = 0x7fc1;  // a NaN
  Tensor ids = Tensor::empty(DType::I32, {2}).value();
  ids.data<int32_t>()[0] = 0x7f800000;
  ids.data<int32_t>()[1] = 1;
  const std::string ok_path = dir + "/ok.safetensors", bad_path = dir + "/bad.safetensors";
  CHECK_OK(write_safetensors(ok_path, {{"a", good}, {"ids", ids}}));
  CHECK_OK(write_safetensors(bad_path, {{"a", good}, {"b", bad}, {"c", bad_bf16}}));
  CHECK_OK(cpu::check_finite_weights(*SafetensorsFile::open(ok_path).value()));
  Status s = cpu::check_finite_weights(*SafetensorsFile::open(bad_path).value());
  CHECK(s.code() == StatusCode::kModelLoad);
  CHECK(s.message() == "Tensor \"b\" in \"" + bad_path + "\" holds a non-finite value (-Infinity at element 9); the "
                       "checkpoint is corrupt (pass checkFinite: false to load it anyway)");
  CHECK_OK(write_safetensors(bad_path, {{"c", bad_bf16}}));
  s = cpu::check_finite_weights(*SafetensorsFile::open(bad_path).value());
  CHECK(s.message().find("Tensor \"c\"") == 0 && s.message().find("(NaN at element 4)") != std::string::npos);

  std::string cleanup = "rm -rf '" + dir + "'";
  if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  return ditto_test::finish("test_finite");
}
