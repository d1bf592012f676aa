// Per-model job queue and promise-returning queued jobs; see job_queue.h.
#include "job_queue.h"

#include <new>

#include "errors.h"

namespace ditto_node {

std::shared_ptr<JobQueue> JobQueue::Create() {
  std::shared_ptr<JobQueue> queue(new JobQueue());
  // The thread holds its own reference, so the queue outlives the JS object that closed it while jobs drain.
  std::thread(&JobQueue::Run, queue).detach();
  return queue;
}

JobQueue::~JobQueue() = default;

bool JobQueue::Push(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    jobs_.push_back(std::move(work));
  }
  wake_.notify_one();
  return true;
}

void JobQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  wake_.notify_one();
}

void JobQueue::Run(std::shared_ptr<JobQueue> self) {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(self->mutex_);
      self->wake_.wait(lock, [&] { return self->closed_ || !self->jobs_.empty(); });
      if (self->jobs_.empty()) return;  // closed and drained
      job = std::move(self->jobs_.front());
      self->jobs_.pop_front();
    }
    job();
  }
}

Napi::Promise QueuedJob::Start(Napi::Env env, JobQueue& queue, std::unique_ptr<QueuedJob> owned) {
  QueuedJob* job = owned.release();
  job->deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
  Napi::Promise promise = job->deferred_->Promise();
  // The thread-safe function keeps the event loop alive until the job has reported back.
  job->tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                             "ditto-job", 0, 1);
  bool queued = queue.Push([job] {
    try {
      job->status_ = job->Execute();
    } catch (const std::bad_alloc&) {
      job->status_ = ditto::out_of_memory("Out of memory while running a model job");
    } catch (const std::exception& e) {
      job->status_ = ditto::internal_error(std::string("Unexpected exception in a model job: ") + e.what());
    }
    Napi::ThreadSafeFunction tsfn = job->tsfn_;  // copy: `job` may be deleted once Complete has run
    if (tsfn.BlockingCall(job, &QueuedJob::Complete) != napi_ok) delete job;  // environment is shutting down
    tsfn.Release();
  });
  if (!queued) {
    job->tsfn_.Release();
    job->deferred_->Reject(StatusToError(env, ditto::internal_error("The model's job queue is closed")).Value());
    delete job;
  }
  return promise;
}

void QueuedJob::Complete(Napi::Env env, Napi::Function, QueuedJob* job) {
  std::unique_ptr<QueuedJob> owned(job);
  if (env == nullptr) return;
  Napi::HandleScope scope(env);
  if (!job->status_.ok()) {
    job->deferred_->Reject(StatusToError(env, job->status_).Value());
    return;
  }
  try {
    job->deferred_->Resolve(job->OnSuccess(env));
  } catch (const Napi::Error& e) {
    job->deferred_->Reject(e.Value());
  }
}

}  // namespace ditto_node
