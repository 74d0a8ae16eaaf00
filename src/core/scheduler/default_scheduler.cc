#include "core/scheduler/default_scheduler.h"

#include <atomic>
#include <exception>

#include "common/logging.h"
#include "core/trace/trace_manager.h"

namespace nereid::core {

DefaultScheduler::DefaultScheduler(std::string model_name,
                                   std::vector<std::unique_ptr<ModelInstance>> instances,
                                   Clock& clock, ModelStatistics* stats)
    : model_name_(std::move(model_name)),
      clock_(clock),
      stats_(stats),
      instances_(std::move(instances)) {
  for (auto& inst : instances_) {
    threads_.emplace_back([this, p = inst.get()] { RunInstance(p); });
  }
}

DefaultScheduler::~DefaultScheduler() { Stop(); }

void DefaultScheduler::Enqueue(std::unique_ptr<InferenceRequest> request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      request->enqueue_ns = clock_.NowNs();
      if (request->received_ns == 0) request->received_ns = request->enqueue_ns;
      if (stats_) stats_->RequestQueued();
      queue_.push_back(std::move(request));
      cv_.notify_one();
      return;
    }
  }
  if (stats_) {
    uint64_t now = clock_.NowNs();
    stats_->RecordFailure(request->received_ns ? request->received_ns : now, now,
                          FailureReason::kOther);
  }
  request->CompleteWithError(Unavailable("model '" + model_name_ + "' is being unloaded"));
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

void DefaultScheduler::TrackExecution(std::vector<std::unique_ptr<InferenceRequest>>& batch,
                                      ModelInstance* instance, uint64_t start_ns) {
  auto exec = std::make_shared<Execution>(stats_, instance, start_ns, batch.size());
  for (auto& r : batch) {
    RequestTimestamps t;
    t.received_ns = r->received_ns;
    t.queue_start_ns = r->enqueue_ns;
    t.compute_start_ns = start_ns;
    const uint64_t items = r->batch_size > 0 ? static_cast<uint64_t>(r->batch_size) : 1;
    ResponseCallback inner = r->TakeCallback();
    r->set_callback([exec, t, items, inner = std::move(inner)](
                        std::unique_ptr<InferenceResponse> response) mutable {
      Clock& clock = exec->stats->clock();
      t.end_ns = clock.NowNs();
      // Unmarked: no compute_input, and inference lasts until completion.
      t.infer_start_ns = exec->instance->infer_start_ns();
      if (t.infer_start_ns == 0) t.infer_start_ns = t.compute_start_ns;
      t.infer_end_ns = exec->instance->infer_end_ns();
      if (t.infer_end_ns == 0) t.infer_end_ns = t.end_ns;
      if (response->status.ok()) {
        exec->stats->RecordSuccess(t);
        exec->success_batch += items;
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

void DefaultScheduler::Stop() {
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

void DefaultScheduler::RunInstance(ModelInstance* instance) {
  std::vector<std::unique_ptr<InferenceRequest>> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    for (auto& r : batch) {
      if (r->trace) r->trace->Record("COMPUTE_START");
    }
    const uint64_t start_ns = clock_.NowNs();
    instance->BeginExecution(&clock_);
    if (stats_) {
      for (size_t i = 0; i < batch.size(); ++i) stats_->RequestDequeued();
      TrackExecution(batch, instance, start_ns);
    }
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
