// Per-model job queue: one dedicated worker thread per model runs its jobs in order, so a long forward never
// occupies (or waits for) libuv's small shared thread pool, and a model's non-reentrant ThreadPool is never used
// by two jobs at once. Completion goes back to the JS thread through a thread-safe function that resolves or
// rejects the job's Promise (design.md §5 "one job queue per device").
#pragma once
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "ditto/status.h"

namespace ditto_node {

class JobQueue {
 public:
  static std::shared_ptr<JobQueue> Create();
  ~JobQueue();
  // Runs `work` on the queue's thread after every job pushed before it. Returns false once closed.
  bool Push(std::function<void()> work);
  // Stops accepting jobs; the thread finishes the queued ones and exits on its own (never blocks the caller).
  void Close();

 private:
  JobQueue() = default;
  static void Run(std::shared_ptr<JobQueue> self);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool closed_ = false;
};

// A unit of work with a Promise, like Napi::AsyncWorker but run on a JobQueue.
// Execute() runs on the queue thread and must not touch JS; OnSuccess() runs on the JS thread.
class QueuedJob {
 public:
  virtual ~QueuedJob() = default;
  // Takes ownership of the job (deleted after completion) and returns its Promise.
  static Napi::Promise Start(Napi::Env env, JobQueue& queue, std::unique_ptr<QueuedJob> job);

 protected:
  virtual ditto::Status Execute() = 0;
  virtual Napi::Value OnSuccess(Napi::Env env) = 0;

 private:
  static void Complete(Napi::Env env, Napi::Function, QueuedJob* job);
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
  Napi::ThreadSafeFunction tsfn_;
  ditto::Status status_;
};

}  // namespace ditto_node
