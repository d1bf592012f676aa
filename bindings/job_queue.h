// Per-model job queue: one dedicated worker thread per model runs its jobs in order, so a long forward never
// occupies (or waits for) libuv's small shared thread pool, and a model's non-reentrant ThreadPool is never used
// by two jobs at once. Completion goes back to the JS thread through the queue's one thread-safe function, which
// settles the job's Promise (docs/architecture.md, "Errors, async work and devices").
//
// Lifecycle (issue 22): the queue's thread never outlives the Node environment that created it. An environment
// cleanup hook (napi_add_env_cleanup_hook) drops the queued jobs, asks the running one to stop (QueuedJob::Abort;
// a forward checks its abort flag between blocks) and joins the thread. Node runs cleanup hooks last-in
// first-out, and the hook is registered right after the thread-safe function, so it runs before Node frees that
// function at teardown: `worker.terminate()` during a forward can no longer make the job thread call a freed
// thread-safe function.
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

class QueuedJob;

class JobQueue {
 public:
  // JS thread. The queue stays alive (whoever else holds it) until its thread-safe function is finalized: after
  // Close() and the last job, or at environment teardown.
  static std::shared_ptr<JobQueue> Create(Napi::Env env);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // JS thread: runs `job` on the queue's thread after every job started before it; returns its Promise, which
  // rejects at once when the queue is closed. While any job is unsettled the queue keeps the event loop alive.
  Napi::Promise Start(Napi::Env env, std::unique_ptr<QueuedJob> job);
  // JS thread: stops accepting jobs; the queued ones still run and settle, then the thread exits and is joined.
  // Never waits for a job. Idempotent, and a no-op after environment teardown.
  void Close();
  // JS thread: `fn` runs on the JS thread after each job has settled (the model reports its memory there).
  void SetOnSettled(std::function<void(Napi::Env)> fn) { on_settled_ = std::move(fn); }

 private:
  explicit JobQueue(napi_env env) : env_(env) {}
  void Run();                            // the queue's thread
  void Finish();                         // JS thread, closed and idle: join, unhook, release the function
  static void Teardown(void* queue);     // environment cleanup hook
  static void Deliver(napi_env env, napi_value, void* queue, void* job);  // thread-safe function callback
  static void Finalized(napi_env, void* queue, void*);                   // the thread-safe function is gone

  napi_env env_;
  napi_threadsafe_function tsfn_ = nullptr;
  std::shared_ptr<JobQueue> self_;  // keeps the queue alive until its thread-safe function is finalized
  std::thread thread_;
  std::function<void(Napi::Env)> on_settled_;
  int pending_ = 0;  // JS thread: jobs started and not yet settled
  bool finished_ = false;

  std::mutex mutex_;  // guards what follows
  std::condition_variable wake_;
  std::deque<QueuedJob*> jobs_;
  QueuedJob* running_ = nullptr;
  bool closed_ = false;
};

// A unit of work with a Promise, like Napi::AsyncWorker but run on a JobQueue.
// Execute() runs on the queue thread and must not touch JS; OnSuccess() runs on the JS thread.
class QueuedJob {
 public:
  virtual ~QueuedJob() = default;
  // Takes ownership of the job (deleted once it has settled, or at environment teardown) and returns its Promise.
  static Napi::Promise Start(Napi::Env env, JobQueue& queue, std::unique_ptr<QueuedJob> job);

 protected:
  virtual ditto::Status Execute() = 0;
  virtual Napi::Value OnSuccess(Napi::Env env) = 0;
  // Asks a running Execute() to return early; called on the JS thread at environment teardown while Execute()
  // runs on the queue thread. The default lets the job run to completion (teardown then waits for it).
  virtual void Abort() {}

 private:
  friend class JobQueue;
  void Run();                   // queue thread: Execute() with exceptions mapped to a Status
  void Settle(Napi::Env env);   // JS thread: resolve or reject
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
  ditto::Status status_;
};

}  // namespace ditto_node
