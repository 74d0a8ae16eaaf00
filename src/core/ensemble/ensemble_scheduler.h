// EnsembleScheduler: runs an ensemble's requests (platform "ensemble") by
// sending one request per step to the composing models, through the same
// path client requests take (InferenceServer hands it a Submit function), so
// every step is validated, queued, batched and counted by its own model.
//
// Event-driven, no threads of its own and no thread ever waits: a step is
// submitted as soon as every tensor it reads exists; its completion callback
// (on the composing model's instance thread, or at once when the step is
// refused) stores the outputs and submits the steps that became ready, so
// independent steps run in parallel. Only the steps the requested outputs
// depend on run (Triton prunes the same way). Tensors are passed on as views
// whose owners travel in each step request's buffer_owner: nothing is copied.
//
// Per request: the ensemble's request parameters, id, cancellation flag and
// priority/timeout parameters go to every step. The first failing step fails
// the request with "in ensemble 'E', step i (model 'M'): <its message>" and
// its status code; steps already running finish first, none are started
// after the failure. Statistics (Triton's rules for ensembles): success/fail
// per request (failures have reason OTHER), queue ~ 0 (there is no queue),
// compute_input/infer/output = the sums of the steps' own compute times,
// one execution of the request's batch size per success.
//
// Thread safety: Enqueue from any thread. Stop() refuses new requests and
// waits until the running ones have completed (their steps fail fast once
// the composing models stop, so this ends).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "core/ensemble/ensemble_plan.h"
#include "core/scheduler/scheduler.h"
#include "core/statistics.h"

namespace nereid::core {

class EnsembleScheduler final : public Scheduler {
 public:
  // Runs a step request the way a client request runs (resolve the model,
  // validate, enqueue); always completes it exactly once, maybe at once.
  using Submit = std::function<void(std::unique_ptr<InferenceRequest>)>;

  // `stats` (may be null) must outlive the scheduler.
  EnsembleScheduler(std::shared_ptr<const EnsemblePlan> plan, Submit submit, Clock& clock,
                    ModelStatistics* stats = nullptr);
  ~EnsembleScheduler() override;

  // Takes a request already validated against the ensemble's config.
  void Enqueue(std::unique_ptr<InferenceRequest> request) override;
  void Stop() override;

 private:
  struct Run;
  // A step of `run` completed with `response`.
  void StepDone(const std::shared_ptr<Run>& run, size_t step,
                std::unique_ptr<InferenceResponse> response);
  // Builds the request of `step` from the run's tensors (run->mu held).
  std::unique_ptr<InferenceRequest> MakeStepRequest(const std::shared_ptr<Run>& run, size_t step);
  // Marks `tensor` settled and appends the steps that became ready (run->mu held).
  void Settle(Run& run, const std::string& tensor, std::vector<size_t>* ready);
  // Submits `requests`, then counts one in-flight step of `run` as done.
  void SubmitAndRelease(const std::shared_ptr<Run>& run,
                        std::vector<std::unique_ptr<InferenceRequest>> requests);
  void Finish(Run& run);

  const std::shared_ptr<const EnsemblePlan> plan_;
  const Submit submit_;
  Clock& clock_;
  ModelStatistics* stats_;

  std::mutex mu_;
  std::condition_variable idle_;
  size_t running_ = 0;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace nereid::core
