// Scheduler: decides when and on which instance a model's requests run.
//
// Thread safety: Enqueue may be called from any thread. Stop() is called
// once, after which Enqueue answers UNAVAILABLE.
#pragma once

#include <memory>

#include "core/request/inference_request.h"

namespace nereid::core {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Takes the request; it is completed later (maybe with an error).
  virtual void Enqueue(std::unique_ptr<InferenceRequest> request) = 0;
  // Refuses new work, runs what is queued, and joins the scheduler's threads.
  virtual void Stop() = 0;
  // Delivers a response made without executing (a response cache hit) to
  // `request`, keeping the scheduler's delivery order (preserve_ordering)
  // where it has one. Works also after Stop().
  virtual void CompleteWithoutExecuting(std::unique_ptr<InferenceRequest> request,
                                        std::unique_ptr<InferenceResponse> response) {
    request->Complete(std::move(response));
  }
};

}  // namespace nereid::core
