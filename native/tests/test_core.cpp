// Core pieces: Tensor views and conversions, ThreadPool coverage, ISA detection and override.
#include <atomic>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>

#include "check.h"
#include "ditto/cpu_features.h"
#include "ditto/tensor.h"
#include "ditto/thread_pool.h"

using namespace ditto;

int main() {
  // Tensor: empty/reshape/slice share storage; clone copies.
  auto t = Tensor::empty(DType::F32, {4, 3});
  CHECK_OK(t);
  for (int i = 0; i < 12; ++i) t->data<float>()[i] = float(i);
  auto r = t->reshape({2, 6});
  CHECK_OK(r);
  CHECK(r->data<float>() == t->data<float>());
  CHECK(!t->reshape({5}).ok());
  auto s = t->slice0(1, 3);
  CHECK_OK(s);
  CHECK(s->shape() == Shape({2, 3}) && s->data<float>()[0] == 3.f);
  CHECK(!t->slice0(2, 5).ok());
  auto c = t->clone();
  CHECK(c->data<float>() != t->data<float>() && c->data<float>()[11] == 11.f);
  CHECK(!Tensor::empty(DType::F32, {-1, 2}).ok());

  // bf16 round-to-nearest-even and f16 round trips.
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_f32(f32_to_bf16(3.140625f)) == 3.140625f);
  CHECK(bf16_to_f32(f32_to_bf16(1.00390625f)) == 1.0f);  // tie rounds to even
  CHECK(f16_to_f32(f32_to_f16(0.5f)) == 0.5f);
  auto b = t->to(DType::BF16);
  CHECK_OK(b);
  CHECK(bf16_to_f32(b->data<uint16_t>()[7]) == 7.f);

  // ThreadPool: every task runs exactly once, repeatedly, with several pool sizes.
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 200; ++rep) {
      const int64_t n = 1 + rep % 37;
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> bad_thread{0};
      pool.parallel_for(n, [&](int64_t task, int th) {
        hits[task].fetch_add(1);
        if (th < 0 || th >= threads) bad_thread.fetch_add(1);
      });
      for (auto& h : hits) CHECK(h.load() == 1);
      CHECK(bad_thread.load() == 0);
    }
  }

  // ThreadPool: a throwing task (e.g. std::bad_alloc from scratch) reaches the caller instead of terminating the
  // process from a worker (thrower = the last worker) or unwinding while workers still run (thrower = the caller,
  // index 0); the other threads' tasks are slowed so every thread gets some. The pool stays usable afterwards.
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int thrower : {threads - 1, 0}) {
      std::atomic<bool> thrown{false};
      bool caught = false;
      try {
        pool.parallel_for(37, [&](int64_t, int th) {
          if (th == thrower && !thrown.exchange(true)) throw std::bad_alloc();
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        });
      } catch (const std::bad_alloc&) {
        caught = true;
      }
      CHECK(caught);
      std::atomic<int> ran{0};
      pool.parallel_for(37, [&](int64_t, int) { ran.fetch_add(1); });
      CHECK(ran.load() == 37);
    }
  }

  // ISA: override caps the chosen path; portable always works.
  Isa best = best_isa();
  CHECK(isa_supported(best));
  Isa portable = Isa::Portable;
  set_isa_override(&portable);
  CHECK(best_isa() == Isa::Portable);
  set_isa_override(nullptr);
  CHECK(best_isa() == best);
  Isa parsed;
  CHECK(parse_isa("avx2", &parsed) && parsed == Isa::Avx2);
  CHECK(!parse_isa("sse9", &parsed));
  std::printf("cpu: %s, best isa %s\n", cpu_features().brand.c_str(), isa_name(best));
  return ditto_test::finish("test_core");
}
