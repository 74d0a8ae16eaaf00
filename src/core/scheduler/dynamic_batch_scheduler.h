// DynamicBatchScheduler: feeds a model's instances from one RequestQueue.
// Without dynamic batching it is Triton's default scheduler (each request
// alone, in arrival order, to whichever instance is free); with it, Triton's
// dynamic batcher (preferred sizes, queue delay, priority levels, queue
// policies, preserve_ordering; rules in request_queue.h).
//
// Each instance has its own thread, so one instance never executes twice at
// once; a free instance forms the next batch itself. Waiting for the queue
// delay or a timeout goes through the injected Clock, so tests drive time
// with a FakeClock. With a ModelStatistics it records queue/compute
// timestamps, successes, failures (rejected, cancelled, backend) and
// executions. A cancelled request still queued is completed with CANCELLED
// and never executed.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend.h"
#include "core/scheduler/rate_limiter.h"
#include "core/scheduler/request_queue.h"
#include "core/scheduler/scheduler.h"
#include "core/statistics.h"

namespace nereid::core {

class DynamicBatchScheduler final : public Scheduler {
 public:
  // Starts one thread per instance. `stats` (may be null) must outlive the
  // scheduler.
  // `limits` (empty, or one per instance): the instances' rate limiter
  // registrations; an instance executes a batch only once its Acquire()
  // returns (the wait counts as queue time).
  DynamicBatchScheduler(std::string model_name, SchedulerOptions options,
                        std::vector<std::unique_ptr<ModelInstance>> instances, Clock& clock,
                        ModelStatistics* stats = nullptr,
                        std::vector<std::unique_ptr<RateLimiter::Client>> limits = {});
  ~DynamicBatchScheduler() override;

  void Enqueue(std::unique_ptr<InferenceRequest> request) override;
  // Refuses new requests, sends what is queued without waiting for the
  // queue delay, and joins the instance threads.
  void Stop() override;
  // With preserve_ordering the response waits for the requests accepted
  // before it (it takes the next sequence number); otherwise it is delivered
  // at once, on the calling thread.
  void CompleteWithoutExecuting(std::unique_ptr<InferenceRequest> request,
                                std::unique_ptr<InferenceResponse> response) override;

 private:
  struct Reorderer;
  void RunInstance(ModelInstance* instance, RateLimiter::Client* limit);
  // Completes requests that never ran (timed out, cancelled, refused).
  void Fail(std::vector<std::unique_ptr<InferenceRequest>>& requests, FailureReason reason,
            const Status& status);
  void FailTimedOut(std::vector<std::unique_ptr<InferenceRequest>>& requests);

  std::string model_name_;
  Clock& clock_;
  ModelStatistics* stats_;
  std::vector<std::unique_ptr<ModelInstance>> instances_;
  std::vector<std::unique_ptr<RateLimiter::Client>> limits_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Reorderer> reorderer_;  // preserve_ordering only

  std::mutex mu_;
  std::condition_variable cv_;
  RequestQueue queue_;    // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace nereid::core
