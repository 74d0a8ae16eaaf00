#include "core/scheduler/dynamic_batch_scheduler.h"

#include <atomic>
#include <map>
#include <utility>

#include "common/logging.h"
#include "core/scheduler/execution.h"

namespace nereid::core {

// Delivers responses in the order their requests were accepted
// (preserve_ordering): a response completing early waits for its
// predecessors. One thread delivers at a time, never under the lock.
struct DynamicBatchScheduler::Reorderer {
  std::mutex mu;
  uint64_t next_seq = 0;  // next sequence number handed out (under the scheduler's mu_)
  uint64_t next_to_deliver = 0;
  bool delivering = false;
  std::map<uint64_t, std::pair<ResponseCallback, std::unique_ptr<InferenceResponse>>> ready;

  void Deliver(uint64_t seq, ResponseCallback cb, std::unique_ptr<InferenceResponse> response) {
    std::unique_lock<std::mutex> lock(mu);
    ready.emplace(seq, std::make_pair(std::move(cb), std::move(response)));
    if (delivering) return;  // the delivering thread will pick it up
    delivering = true;
    for (auto it = ready.find(next_to_deliver); it != ready.end();
         it = ready.find(next_to_deliver)) {
      auto item = std::move(it->second);
      ready.erase(it);
      ++next_to_deliver;
      lock.unlock();
      if (item.first) item.first(std::move(item.second));
      lock.lock();
    }
    delivering = false;
  }
};

DynamicBatchScheduler::DynamicBatchScheduler(std::string model_name, SchedulerOptions options,
                                             std::vector<std::unique_ptr<ModelInstance>> instances,
                                             Clock& clock, ModelStatistics* stats,
                                             std::vector<std::unique_ptr<RateLimiter::Client>> limits)
    : model_name_(std::move(model_name)),
      clock_(clock),
      stats_(stats),
      instances_(std::move(instances)),
      limits_(std::move(limits)),
      queue_(std::move(options)) {
  if (queue_.options().dynamic_batching && queue_.options().preserve_ordering &&
      !queue_.options().decoupled) {
    reorderer_ = std::make_shared<Reorderer>();
  }
  for (size_t i = 0; i < instances_.size(); ++i) {
    RateLimiter::Client* limit = i < limits_.size() ? limits_[i].get() : nullptr;
    threads_.emplace_back([this, p = instances_[i].get(), limit] { RunInstance(p, limit); });
  }
}

DynamicBatchScheduler::~DynamicBatchScheduler() { Stop(); }

void DynamicBatchScheduler::Enqueue(std::unique_ptr<InferenceRequest> request) {
  Status refused;
  bool stopping = false;
  // Timeouts are applied whenever the queue is touched, so a request times
  // out promptly under load even while every instance is busy.
  std::vector<std::unique_ptr<InferenceRequest>> timed_out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    queue_.ExpireTimeouts(clock_.NowNs(), &timed_out);
    stopping = stopping_;
    if (stopping_) {
      refused = Unavailable("model '" + model_name_ + "' is being unloaded");
    } else {
      refused = queue_.Admit(*request);
    }
    if (refused.ok()) {
      request->enqueue_ns = clock_.NowNs();
      if (request->received_ns == 0) request->received_ns = request->enqueue_ns;
      if (reorderer_) {
        request->set_callback([r = reorderer_, seq = reorderer_->next_seq++,
                               inner = request->TakeCallback()](
                                  std::unique_ptr<InferenceResponse> response) mutable {
          r->Deliver(seq, std::move(inner), std::move(response));
        });
      }
      if (stats_) stats_->RequestQueued();
      Status st = queue_.Enqueue(request, request->enqueue_ns);
      (void)st;  // admitted under the same lock: cannot fail
      cv_.notify_one();
    }
  }
  FailTimedOut(timed_out);
  if (refused.ok()) return;
  std::vector<std::unique_ptr<InferenceRequest>> one;
  one.push_back(std::move(request));
  // A full queue is Triton's REJECTED; a stopping model is OTHER.
  Fail(one, stopping ? FailureReason::kOther : FailureReason::kRejected, refused);
}

void DynamicBatchScheduler::CompleteWithoutExecuting(std::unique_ptr<InferenceRequest> request,
                                                     std::unique_ptr<InferenceResponse> response) {
  if (reorderer_) {
    uint64_t seq = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);  // sequence numbers are handed out under mu_
      seq = reorderer_->next_seq++;
    }
    request->set_callback([r = reorderer_, seq, inner = request->TakeCallback()](
                              std::unique_ptr<InferenceResponse> response) mutable {
      r->Deliver(seq, std::move(inner), std::move(response));
    });
  }
  request->Complete(std::move(response));
}

void DynamicBatchScheduler::FailTimedOut(std::vector<std::unique_ptr<InferenceRequest>>& requests) {
  if (requests.empty()) return;
  if (stats_) {
    for (size_t i = 0; i < requests.size(); ++i) stats_->RequestDequeued();
  }
  Fail(requests, FailureReason::kRejected,
       Unavailable("Request timeout expired: the request for model '" + model_name_ +
                   "' waited in the queue past its timeout"));
}

void DynamicBatchScheduler::Fail(std::vector<std::unique_ptr<InferenceRequest>>& requests,
                                 FailureReason reason, const Status& status) {
  for (auto& r : requests) {
    const uint64_t now = clock_.NowNs();
    if (stats_) stats_->RecordFailure(r->received_ns ? r->received_ns : now, now, reason);
    r->CompleteWithError(status);
  }
  requests.clear();
}

void DynamicBatchScheduler::Stop() { StopAndJoin(mu_, cv_, &stopping_, &threads_); }

void DynamicBatchScheduler::RunInstance(ModelInstance* instance, RateLimiter::Client* limit) {
  std::vector<std::unique_ptr<InferenceRequest>> batch, timed_out, cancelled;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        const uint64_t now = clock_.NowNs();
        queue_.ExpireTimeouts(now, &timed_out);
        RequestQueue::Decision d = queue_.Next(now, /*flush=*/stopping_);
        if (d.count > 0) {
          queue_.PopFront(d.count, &batch, &cancelled);
          if (!queue_.empty()) cv_.notify_one();  // another free instance may take the rest
          break;
        }
        if (!timed_out.empty()) break;
        if (stopping_ && queue_.empty()) return;
        clock_.WaitUntil(lock, cv_, d.wake_ns);
      }
    }
    if (stats_) {
      for (size_t i = 0; i < batch.size() + cancelled.size(); ++i) stats_->RequestDequeued();
    }
    FailTimedOut(timed_out);
    if (!cancelled.empty()) {
      Fail(cancelled, FailureReason::kCanceled,
           Cancelled("the request for model '" + model_name_ +
                     "' was cancelled by the client before it ran"));
    }
    if (batch.empty()) continue;
    RateLimiter::Grant grant;
    if (limit) grant = limit->Acquire();
    ExecuteBatch(model_name_, instance, batch, clock_, stats_);
    grant.Release();
  }
}

}  // namespace nereid::core
