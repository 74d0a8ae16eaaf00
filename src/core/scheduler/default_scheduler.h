// DefaultScheduler: Triton's default scheduler. No batching across requests:
// each request goes, in arrival order, to whichever instance is free. Each
// instance has its own thread, so one instance never executes twice at once.
// With a ModelStatistics it records queue/compute timestamps, successes,
// failures and executions of every request it runs.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend.h"
#include "core/scheduler/scheduler.h"
#include "core/statistics.h"

namespace nereid::core {

class DefaultScheduler final : public Scheduler {
 public:
  // Starts one thread per instance. `stats` (may be null) must outlive the
  // scheduler.
  DefaultScheduler(std::string model_name, std::vector<std::unique_ptr<ModelInstance>> instances,
                   Clock& clock, ModelStatistics* stats = nullptr);
  ~DefaultScheduler() override;

  void Enqueue(std::unique_ptr<InferenceRequest> request) override;
  void Stop() override;

 private:
  void RunInstance(ModelInstance* instance);
  // Wraps each request's callback so its completion is recorded (before the
  // client sees the response), and the execution once the last one completes.
  void TrackExecution(std::vector<std::unique_ptr<InferenceRequest>>& batch,
                      ModelInstance* instance, uint64_t start_ns);

  std::string model_name_;
  Clock& clock_;
  ModelStatistics* stats_;
  std::vector<std::unique_ptr<ModelInstance>> instances_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<InferenceRequest>> queue_;  // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
};

}  // namespace nereid::core
