// Model: one loaded, servable version of a model: its complete config, the
// backend's loaded state and the scheduler feeding its instances. An
// ensemble has no backend and no instances: its scheduler is an
// EnsembleScheduler that sends each step to the composing model.
//
// Requests hold a shared_ptr<Model> while they run, so unloading a version
// never frees state under an in-flight request.
//
// Thread safety: const methods, Enqueue, TryEnqueue and Stop are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/backend/backend.h"
#include "core/scheduler/rate_limiter.h"
#include "core/ensemble/ensemble_scheduler.h"
#include "core/scheduler/request_queue.h"
#include "core/scheduler/scheduler.h"
#include "core/statistics.h"
#include "proto/model_config.pb.h"

namespace nereid::core {

// The scheduling fields of a validated config (dynamic_batching, ragged
// inputs) as the scheduler's options.
SchedulerOptions SchedulerOptionsFromConfig(const inference::ModelConfig& config);

class Model {
 public:
  struct Options {
    int intra_op_threads = 1;  // per instance
    // Where label_filename files are read from (empty: outputs get no labels).
    std::string model_dir;
    // When set and enabled, every instance registers its rate_limiter needs.
    std::shared_ptr<RateLimiter> rate_limiter;
    // The server's response cache serves this version (its config enables
    // response_cache and the server has a cache).
    bool response_cache = false;
    // Given to every instance (InstanceOptions::submit).
    std::function<void(std::unique_ptr<InferenceRequest>)> submit;
  };

  // Creates every instance of every instance_group and starts the scheduler.
  static StatusOr<std::shared_ptr<Model>> Create(inference::ModelConfig config, int64_t version,
                                                 std::unique_ptr<BackendModel> backend_model,
                                                 const Options& options, Clock& clock);
  // An ensemble (platform "ensemble"): no backend and no instances; its
  // EnsembleScheduler runs `plan` by handing step requests to `submit`.
  static StatusOr<std::shared_ptr<Model>> CreateEnsemble(
      inference::ModelConfig config, int64_t version, std::shared_ptr<const EnsemblePlan> plan,
      EnsembleScheduler::Submit submit, const Options& options, Clock& clock);
  ~Model();

  const std::string& name() const { return config_.name(); }
  int64_t version() const { return version_; }
  const inference::ModelConfig& config() const { return config_; }
  // Unique per created Model in this process: a reloaded version gets a new
  // one (part of the response cache key).
  uint64_t generation() const { return generation_; }
  bool response_cache_enabled() const { return response_cache_; }

  // Checks a request against the config (input names, data types, shapes,
  // byte sizes, batch size, requested outputs) and sets its batch size.
  // Errors are InvalidArgument with a message that names the tensor.
  Status Validate(InferenceRequest* request) const;

  // The labels of an output with a label_filename (classification
  // extension); null when it has none.
  std::shared_ptr<const std::vector<std::string>> Labels(const std::string& output) const;

  // Hands a validated request to the scheduler.
  void Enqueue(std::unique_ptr<InferenceRequest> request) const;

  // Like Enqueue, but once Stop() has begun the request is left in
  // `request` (not completed) and false is returned, so the caller can send
  // it to the version that replaced this one.
  bool TryEnqueue(std::unique_ptr<InferenceRequest>& request) const;

  // Answers `request` with `response` without executing it (a response
  // cache hit), in the scheduler's delivery order.
  void CompleteWithoutExecuting(std::unique_ptr<InferenceRequest> request,
                                std::unique_ptr<InferenceResponse> response) const;

  // Stops the scheduler after queued requests finish.
  void Stop();

  // This version's statistics (recorded by the scheduler and the server).
  // Shared so that a completion callback can record into them without
  // holding the Model.
  ModelStatistics& statistics() const { return *stats_; }
  std::shared_ptr<ModelStatistics> shared_statistics() const { return stats_; }

  // The dataflow of an ensemble; null for other models.
  const std::shared_ptr<const EnsemblePlan>& ensemble_plan() const { return plan_; }

 private:
  Model(inference::ModelConfig config, int64_t version);
  // Reads the label_filename files of the outputs.
  Status LoadLabels(const Options& options);

  inference::ModelConfig config_;
  int64_t version_;
  uint64_t generation_;
  bool response_cache_ = false;
  std::unique_ptr<BackendModel> backend_model_;  // null for an ensemble
  std::shared_ptr<const EnsemblePlan> plan_;     // ensembles only
  std::shared_ptr<RateLimiter> rate_limiter_;  // before scheduler_: outlives its clients
  std::shared_ptr<ModelStatistics> stats_;  // before scheduler_: outlives it
  std::unique_ptr<Scheduler> scheduler_;
  std::map<std::string, std::shared_ptr<const std::vector<std::string>>> labels_;
  mutable std::mutex stop_mu_;  // orders TryEnqueue against Stop
  bool stopped_ = false;        // guarded by stop_mu_
};

}  // namespace nereid::core
