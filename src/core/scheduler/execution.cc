#include "core/scheduler/execution.h"

#include <atomic>
#include <exception>

#include "common/logging.h"
#include "core/trace/trace_manager.h"

namespace nereid::core {
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

// Wraps each request's callback so its completion is recorded (before the
// client sees the response), and the execution once the last one completes.
void TrackExecution(std::vector<std::unique_ptr<InferenceRequest>>& batch, ModelInstance* instance,
                    uint64_t start_ns, ModelStatistics* stats) {
  auto exec = std::make_shared<Execution>(stats, instance, start_ns, batch.size());
  for (auto& r : batch) {
    RequestTimestamps t;
    t.received_ns = r->received_ns;
    t.queue_start_ns = r->enqueue_ns;
    t.compute_start_ns = start_ns;
    const uint64_t items = r->batch_size > 0 ? static_cast<uint64_t>(r->batch_size) : 1;
    ResponseCallback inner = r->TakeCallback();
    // Decoupled requests may answer several times: the request is recorded
    // once, at its final response, as failed if any response was an error.
    // An ensemble step reports its compute durations to the ensemble.
    r->set_callback([exec, t, items, inner = std::move(inner), failed = false,
                     observer = std::move(r->compute_observer)](
                        std::unique_ptr<InferenceResponse> response) mutable {
      failed = failed || !response->status.ok();
      if (!response->final) {
        if (inner) inner(std::move(response));
        return;
      }
      Clock& clock = exec->stats->clock();
      t.end_ns = clock.NowNs();
      // Unmarked: no compute_input, and inference lasts until completion.
      t.infer_start_ns = exec->instance->infer_start_ns();
      if (t.infer_start_ns == 0) t.infer_start_ns = t.compute_start_ns;
      t.infer_end_ns = exec->instance->infer_end_ns();
      if (t.infer_end_ns == 0) t.infer_end_ns = t.end_ns;
      if (!failed) {
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

}  // namespace

void ExecuteBatch(const std::string& model_name, ModelInstance* instance,
                  std::vector<std::unique_ptr<InferenceRequest>>& batch, Clock& clock,
                  ModelStatistics* stats) {
  for (auto& r : batch) {
    if (r->trace) r->trace->Record("COMPUTE_START");
  }
  const uint64_t start_ns = clock.NowNs();
  instance->BeginExecution(&clock);
  if (stats) TrackExecution(batch, instance, start_ns, stats);
  try {
    instance->Execute(batch);
  } catch (const std::exception& e) {
    NLOG(ERROR) << "model '" << model_name << "' instance threw: " << e.what();
    for (auto& r : batch) {
      if (r) r->CompleteWithError(Internal(std::string("backend failure: ") + e.what()));
    }
  }
  for (auto& r : batch) {
    if (r && r->trace) r->trace->Record("COMPUTE_END");
  }
  batch.clear();  // a request left incomplete answers with an error in its destructor
}

void StopAndJoin(std::mutex& mu, std::condition_variable& cv, bool* stopping,
                 std::vector<std::thread>* threads) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (*stopping && threads->empty()) return;
    *stopping = true;
  }
  cv.notify_all();
  for (auto& t : *threads) {
    if (t.joinable()) t.join();
  }
  threads->clear();
}

}  // namespace nereid::core
