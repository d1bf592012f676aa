// upsample_nearest2x_nhwc against the channels-first reference (PyTorch's floor(dst * in / out) source index)
// on random odd sizes and pool sizes 1 and 3.
#include <vector>

#include "check.h"
#include "ditto/cpu/upsample.h"

using namespace ditto;
using namespace ditto::cpu;

int main() {
  struct Case { int64_t b, c, h, w; };
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (const Case& k : {Case{1, 1, 1, 1}, Case{2, 5, 3, 7}, Case{1, 13, 9, 4}}) {
      const auto x = ditto_test::random_vector(k.b * k.c * k.h * k.w, 7);
      std::vector<float> want(x.size() * 4), x_nhwc(x.size()), got(x.size() * 4), want_nhwc(x.size() * 4);
      upsample_nearest2x_reference(x.data(), want.data(), k.b, k.c, k.h, k.w);
      for (int64_t s = 0; s < k.b; ++s)
        for (int64_t c = 0; c < k.c; ++c)
          for (int64_t p = 0; p < k.h * k.w; ++p) x_nhwc[(s * k.h * k.w + p) * k.c + c] = x[(s * k.c + c) * k.h * k.w + p];
      for (int64_t s = 0; s < k.b; ++s)
        for (int64_t c = 0; c < k.c; ++c)
          for (int64_t p = 0; p < 4 * k.h * k.w; ++p)
            want_nhwc[(s * 4 * k.h * k.w + p) * k.c + c] = want[(s * k.c + c) * 4 * k.h * k.w + p];
      upsample_nearest2x_nhwc(pool, x_nhwc.data(), got.data(), k.b, k.h, k.w, k.c);
      CHECK(got == want_nhwc);
    }
  }
  return ditto_test::finish("test_upsample");
}
