// DefaultScheduler: Triton's default scheduler. No batching across requests:
// each request goes, in arrival order, to whichever instance is free. Each
// instance has its own thread, so one instance never executes twice at once.
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

namespace nereid::core {

class DefaultScheduler final : public Scheduler {
 public:
  // Starts one thread per instance.
  DefaultScheduler(std::string model_name, std::vector<std::unique_ptr<ModelInstance>> instances,
                   Clock& clock);
  ~DefaultScheduler() override;

  void Enqueue(std::unique_ptr<InferenceRequest> request) override;
  void Stop() override;

 private:
  void RunInstance(ModelInstance* instance);

  std::string model_name_;
  Clock& clock_;
  std::vector<std::unique_ptr<ModelInstance>> instances_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<InferenceRequest>> queue_;  // guarded by mu_
  bool stopping_ = false;                                // guarded by mu_
};

}  // namespace nereid::core
