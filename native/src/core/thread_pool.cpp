// ThreadPool: workers sleep on a condition variable between jobs and spin briefly after one, because DiT
// forwards issue many short parallel regions back to back (a batch-1 glyph block is ~0.1 ms of work).
#include "ditto/thread_pool.h"

#include <cstdlib>
#include <exception>
#include <string>
#include <utility>

namespace ditto {

int ThreadPool::default_thread_count() {
  if (const char* env = std::getenv("DITTO_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads > 0 ? num_threads : default_thread_count()) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_tasks(int thread_index) {
  const auto& fn = *job_;
  for (;;) {
    int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= num_tasks_) break;
    try {
      fn(task, thread_index);
    } catch (...) {
      // An exception escaping a worker thread would terminate the process, and one escaping the caller before the
      // workers finish would free `fn` under them. Keep the first one for parallel_for to rethrow on the caller's
      // thread once every running task is done (the job queue maps std::bad_alloc to ERR_OUT_OF_MEMORY), and
      // hand out no further tasks.
      std::lock_guard<std::mutex> lock(mutex_);
      if (!task_error_) task_error_ = std::current_exception();
      next_task_.store(num_tasks_, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::parallel_for(int64_t num_tasks, const std::function<void(int64_t, int)>& fn) {
  if (num_tasks <= 0) return;
  if (num_threads_ == 1 || num_tasks == 1) {
    for (int64_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    num_tasks_ = num_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    job_closed_ = false;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_tasks(0);
  // Every task is claimed; close the job so late workers skip it, then wait for the ones still running a task.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_closed_ = true;
  }
  for (int spin = 0; spin < 20000 && in_flight_.load(std::memory_order_acquire) != 0; ++spin) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  if (in_flight_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return in_flight_.load(std::memory_order_acquire) == 0; });
  }
  if (task_error_) std::rethrow_exception(std::exchange(task_error_, nullptr));
}

void ThreadPool::worker_loop(int thread_index) {
  uint64_t seen = 0;  // the generation at construction; reading it here could miss a job posted before this thread ran
  for (;;) {
    // Spin a little for the next job before sleeping: DiT forwards post many short jobs back to back.
    for (int spin = 0; spin < 20000 && generation_.load(std::memory_order_acquire) == seen; ++spin) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    bool joined = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen || stopping_; });
      if (stopping_) return;
      seen = generation_.load(std::memory_order_acquire);
      if (!job_closed_) {
        in_flight_.fetch_add(1, std::memory_order_acq_rel);
        joined = true;
      }
    }
    if (!joined) continue;
    run_tasks(thread_index);
    if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_all();
    }
  }
}

}  // namespace ditto
