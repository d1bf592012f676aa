// ThreadPool: a fixed set of workers for data-parallel kernels. The calling thread takes part in every
// parallel_for, so a pool of size 1 runs inline with no synchronisation. Sized to the machine by default
// (hardware_concurrency, or DITTO_NUM_THREADS), overridable per model (loadModel's `threads`).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ditto {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads = 0);  // 0 = default_thread_count()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Runs fn(task, thread_index) for task in [0, num_tasks), tasks handed out dynamically.
  // thread_index is in [0, size()) and stable for the duration of one task (for per-thread scratch).
  // Not reentrant: a task must not call parallel_for on the same pool.
  // If a task throws, no further tasks start and the first exception is rethrown here once running tasks finish.
  void parallel_for(int64_t num_tasks, const std::function<void(int64_t task, int thread_index)>& fn);

  static int default_thread_count();

 private:
  void worker_loop(int thread_index);
  void run_tasks(int thread_index);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  // Workers inside run_tasks for the current job. The caller waits only for these, never for workers that are
  // still asleep: on a busy machine a worker may be descheduled for milliseconds, and a job whose tasks are all
  // done must not wait for it (the late worker sees `job_closed_` and goes back to sleep).
  std::atomic<int> in_flight_{0};
  bool job_closed_ = true;
  std::atomic<uint64_t> generation_{0};
  bool stopping_ = false;
  std::exception_ptr task_error_;  // first exception thrown by a task of the current job (guarded by mutex_)
};

}  // namespace ditto
