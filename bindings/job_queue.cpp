// Per-model job queue and promise-returning queued jobs; see job_queue.h for the lifecycle.
#include "job_queue.h"

#include <new>

#include "errors.h"

namespace ditto_node {

std::shared_ptr<JobQueue> JobQueue::Create(Napi::Env env) {
  std::shared_ptr<JobQueue> queue(new JobQueue(env));
  napi_value name = Napi::String::New(env, "ditto-job");
  // Unbounded (a push never blocks the queue thread), one thread reference (the queue's), no JS function: Deliver
  // settles promises itself.
  NAPI_THROW_IF_FAILED(env, napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, queue.get(),
                                                            &JobQueue::Finalized, queue.get(), &JobQueue::Deliver,
                                                            &queue->tsfn_),
                       nullptr);
  queue->self_ = queue;
  // An idle queue must not keep the process alive; Start() refs the function while jobs are unsettled.
  napi_unref_threadsafe_function(env, queue->tsfn_);
  // After the thread-safe function, so that this hook runs before Node's teardown of it (last-in first-out).
  napi_add_env_cleanup_hook(env, &JobQueue::Teardown, queue.get());
  queue->thread_ = std::thread(&JobQueue::Run, queue.get());
  return queue;
}

JobQueue::~JobQueue() {
  // Unreachable with a running thread: Finish() and Teardown() join it before the keep-alive can drop.
  if (thread_.joinable()) thread_.detach();
}

Napi::Promise JobQueue::Start(Napi::Env env, std::unique_ptr<QueuedJob> job) {
  job->deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
  Napi::Promise promise = job->deferred_->Promise();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      if (pending_++ == 0) napi_ref_threadsafe_function(env, tsfn_);
      jobs_.push_back(job.release());
    }
  }
  if (job) {
    job->deferred_->Reject(StatusToError(env, ditto::internal_error("The model's job queue is closed")).Value());
    return promise;
  }
  wake_.notify_one();
  return promise;
}

void JobQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  wake_.notify_one();
  if (pending_ == 0) Finish();
}

void JobQueue::Finish() {
  if (finished_) return;
  finished_ = true;
  thread_.join();  // closed with nothing queued or running: the thread is on its way out of Run()
  napi_remove_env_cleanup_hook(env_, &JobQueue::Teardown, this);
  napi_release_threadsafe_function(tsfn_, napi_tsfn_release);  // -> Finalized() drops the keep-alive
}

void JobQueue::Run() {
  for (;;) {
    QueuedJob* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closed and drained
      job = jobs_.front();
      jobs_.pop_front();
      running_ = job;
    }
    job->Run();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = nullptr;
    }
    // Cannot fail: the function is unbounded, and it is released or torn down only after this thread is joined.
    napi_call_threadsafe_function(tsfn_, job, napi_tsfn_nonblocking);
  }
}

void JobQueue::Teardown(void* arg) {
  JobQueue* queue = static_cast<JobQueue*>(arg);
  std::deque<QueuedJob*> dropped;
  {
    std::lock_guard<std::mutex> lock(queue->mutex_);
    queue->closed_ = true;
    dropped.swap(queue->jobs_);
    if (queue->running_) queue->running_->Abort();
  }
  queue->wake_.notify_one();
  queue->finished_ = true;
  queue->thread_.join();  // the running job returns at its next abort check
  // Nobody is left to await these promises. Jobs already handed to the thread-safe function come back to
  // Deliver() with a null env when Node's own cleanup hook, which runs next, deletes the function.
  for (QueuedJob* job : dropped) delete job;
}

void JobQueue::Deliver(napi_env env, napi_value, void* arg, void* data) {
  std::unique_ptr<QueuedJob> job(static_cast<QueuedJob*>(data));
  if (env == nullptr) return;  // teardown; `arg` may already be gone (Finalized runs before the queue is emptied)
  JobQueue* queue = static_cast<JobQueue*>(arg);
  Napi::Env js(env);
  try {
    Napi::HandleScope scope(js);
    job->Settle(js);
  } catch (...) {
    // Settling failed: the environment is stopping (a terminated worker), nothing can observe this promise.
  }
  job.reset();
  if (queue->on_settled_) queue->on_settled_(js);
  if (--queue->pending_ == 0) {
    napi_unref_threadsafe_function(env, queue->tsfn_);
    bool closed;
    {
      std::lock_guard<std::mutex> lock(queue->mutex_);
      closed = queue->closed_;
    }
    if (closed) queue->Finish();
  }
}

void JobQueue::Finalized(napi_env, void* arg, void*) {
  std::shared_ptr<JobQueue> last = std::move(static_cast<JobQueue*>(arg)->self_);
}

Napi::Promise QueuedJob::Start(Napi::Env env, JobQueue& queue, std::unique_ptr<QueuedJob> job) {
  return queue.Start(env, std::move(job));
}

void QueuedJob::Run() {
  try {
    status_ = Execute();
  } catch (const std::bad_alloc&) {
    status_ = ditto::out_of_memory("Out of memory while running a model job");
  } catch (const std::exception& e) {
    status_ = ditto::internal_error(std::string("Unexpected exception in a model job: ") + e.what());
  }
}

void QueuedJob::Settle(Napi::Env env) {
  if (!status_.ok()) {
    deferred_->Reject(StatusToError(env, status_).Value());
    return;
  }
  try {
    deferred_->Resolve(OnSuccess(env));
  } catch (const Napi::Error& e) {
    deferred_->Reject(e.Value());
  } catch (const std::bad_alloc&) {
    deferred_->Reject(StatusToError(env, ditto::out_of_memory("Out of memory while returning a model job's result")).Value());
  }
}

}  // namespace ditto_node
