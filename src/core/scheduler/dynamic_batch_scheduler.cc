#include "core/scheduler/dynamic_batch_scheduler.h"

#include <atomic>
#include <exception>
#include <map>
#include <utility>

#include "common/logging.h"
#include "core/trace/trace_manager.h"

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
                                             Clock& clock, ModelStatistics* stats)
    : model_name_(std::move(model_name)),
      clock_(clock),
      stats_(stats),
      instances_(std::move(instances)),
      queue_(std::move(options)) {
  if (queue_.options().dynamic_batching && queue_.options().preserve_ordering) {
    reorderer_ = std::make_shared<Reorderer>();
  }
  for (auto& inst : instances_) {
    threads_.emplace_back([this, p = inst.get()] { RunInstance(p); });
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

namespace {

// Shared by the wrapped callbacks of one execution. They all run on the
// instance's thread (backends complete requests inside Execute), but the
// counters are atomic so a backend that completes elsewhere stays safe.
struct Execution {
  ModelStatistics* stats;
  const ModelInstance* instance;
  uint64_t start_ns;
  std::atomic<size_t> remaining;
  std::atomic<uint64_t> success_batch{0};
  Execution(ModelStatistics* s, const ModelInstance* i, uint64_t start, size_t n)
      : stats(s), instance(i), start_ns(start), remaining(n) {}
};

}  // namespace

void DynamicBatchScheduler::TrackExecution(std::vector<std::unique_ptr<InferenceRequest>>& batch,
                                      ModelInstance* instance, uint64_t start_ns) {
  auto exec = std::make_shared<Execution>(stats_, instance, start_ns, batch.size());
  for (auto& r : batch) {
    RequestTimestamps t;
    t.received_ns = r->received_ns;
    t.queue_start_ns = r->enqueue_ns;
    t.compute_start_ns = start_ns;
    const uint64_t items = r->batch_size > 0 ? static_cast<uint64_t>(r->batch_size) : 1;
    ResponseCallback inner = r->TakeCallback();
    r->set_callback([exec, t, items, inner = std::move(inner),
                     observer = std::move(r->compute_observer)](
                        std::unique_ptr<InferenceResponse> response) mutable {
      Clock& clock = exec->stats->clock();
      t.end_ns = clock.NowNs();
      // Unmarked: no compute_input, and inference lasts until completion.
      t.infer_start_ns = exec->instance->infer_start_ns();
      if (t.infer_start_ns == 0) t.infer_start_ns = t.compute_start_ns;
      t.infer_end_ns = exec->instance->infer_end_ns();
      if (t.infer_end_ns == 0) t.infer_end_ns = t.end_ns;
      if (response->status.ok()) {
        const RequestLatency latency = LatencyOf(t);
        exec->stats->RecordSuccess(latency);
        exec->success_batch += items;
        if (observer) {
          observer(latency.compute_input_ns, latency.compute_infer_ns, latency.compute_output_ns);
        }
      } else {
        exec->stats->RecordFailure(t.received_ns, t.end_ns, FailureReason::kBackend);
      }
      if (exec->remaining.fetch_sub(1) == 1 && exec->success_batch.load() > 0) {
        exec->stats->RecordExecution(exec->success_batch.load(), t.compute_start_ns,
                                     t.infer_start_ns, t.infer_end_ns, t.end_ns);
      }
      if (inner) inner(std::move(response));
    });
  }
}

void DynamicBatchScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void DynamicBatchScheduler::RunInstance(ModelInstance* instance) {
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
    for (auto& r : batch) {
      if (r->trace) r->trace->Record("COMPUTE_START");
    }
    const uint64_t start_ns = clock_.NowNs();
    instance->BeginExecution(&clock_);
    if (stats_) TrackExecution(batch, instance, start_ns);
    try {
      instance->Execute(batch);
    } catch (const std::exception& e) {
      NLOG(ERROR) << "model '" << model_name_ << "' instance threw: " << e.what();
      for (auto& r : batch) {
        if (r) r->CompleteWithError(Internal(std::string("backend failure: ") + e.what()));
      }
    }
    for (auto& r : batch) {
      if (r && r->trace) r->trace->Record("COMPUTE_END");
    }
    batch.clear();  // a request left incomplete answers with an error in its destructor
  }
}

}  // namespace nereid::core
