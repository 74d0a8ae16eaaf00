// InferenceServer: the one API the front ends (HTTP and gRPC) use.
//
// It owns the model manager, routes requests to ready model versions after
// validating them, and tracks in-flight requests so that Shutdown() can
// drain them.
//
// Thread safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend_registry.h"
#include "core/cache/response_cache.h"
#include "core/model.h"
#include "core/repository/model_manager.h"
#include "core/shm/system_shared_memory.h"
#include "core/statistics.h"
#include "core/trace/trace_manager.h"

namespace nereid::core {

struct ServerOptions {
  std::string id = "nereid";
  std::vector<std::string> repositories;
  bool auto_complete = true;
  bool strict_readiness = true;
  int intra_op_threads = 1;
  ModelControlMode control_mode = ModelControlMode::kNone;
  std::vector<std::string> startup_models;  // explicit mode (--load-model)
  std::chrono::milliseconds poll_interval{15000};  // poll mode (--repository-poll-secs)
  std::string temp_directory;  // for uploaded model files; system default when empty
  bool allow_client_shm = false;  // --allow-client-shm
  TraceSettings trace;            // --trace-config
  bool rate_limit = false;        // --rate-limit=execution_count
  std::map<std::string, uint32_t> rate_limit_resources;  // --rate-limit-resource
  // --cache-config; no cache when unset (models enabling response_cache are
  // then served uncached, as in Triton).
  std::optional<ResponseCacheOptions> response_cache;
};

class InferenceServer {
 public:
  // Loads every model. Fails only on unusable options or unreadable
  // repositories; models that fail to load are reported by the index.
  static StatusOr<std::unique_ptr<InferenceServer>> Create(
      ServerOptions options, std::shared_ptr<const BackendRegistry> backends,
      Clock& clock = SystemClock::Get());
  ~InferenceServer();

  const std::string& id() const { return options_.id; }
  static std::string Version();
  // Triton protocol extensions this server implements.
  static std::vector<std::string> Extensions();

  bool IsLive() const { return !shutting_down_.load(); }
  bool IsReady() const;

  // NotFound / Unavailable as ModelManager::Get.
  StatusOr<std::shared_ptr<Model>> GetModel(const std::string& name, int64_t version) const;
  std::vector<ModelIndexEntry> ModelIndex() const { return manager_->Index(); }

  // The model repository extension (see ModelManager for the semantics of
  // each control mode). Load/Unload block until done; bounded waits.
  std::vector<ModelIndexEntry> RepositoryIndex(bool ready_only) const {
    return manager_->RepositoryIndex(ready_only);
  }
  Status LoadModel(const std::string& name, const LoadParameters& params) {
    return manager_->Load(name, params);
  }
  Status UnloadModel(const std::string& name, bool unload_dependents) {
    return manager_->Unload(name, unload_dependents);
  }
  // The same, completing on the model manager's control thread: front ends
  // use these so no I/O thread waits for a load or a drain.
  void LoadModelAsync(std::string name, LoadParameters params, std::function<void(Status)> done) {
    manager_->LoadAsync(std::move(name), std::move(params), std::move(done));
  }
  void UnloadModelAsync(std::string name, bool unload_dependents,
                        std::function<void(Status)> done) {
    manager_->UnloadAsync(std::move(name), unload_dependents, std::move(done));
  }
  ModelControlMode control_mode() const { return manager_->control_mode(); }

  // Runs a request. The request's callback is always called exactly once,
  // possibly before Infer returns (validation errors, unknown model, a
  // response cache hit). An ensemble's steps come back through here as
  // requests of their own.
  //
  // Response cache (models with response_cache enabled, when the server has
  // a cache): after validation the request's key is built (this reads
  // shared-memory inputs; those inputs are then read from the key's copy,
  // so a client rewriting its region cannot make the model compute for other
  // bytes than the key names). A hit is answered at once with the cached
  // outputs, never reaching the scheduler; a miss runs as usual and its
  // successful response is inserted before classification and shared-memory
  // outputs are applied, which then happen per request for hits and misses.
  void Infer(std::unique_ptr<InferenceRequest> request);

  // Refuses new requests, waits up to `timeout` for in-flight ones, then
  // stops every model. Returns the number of requests still in flight.
  size_t Shutdown(std::chrono::milliseconds timeout);

  size_t InFlight() const { return in_flight_.load(); }

  // Client system shared memory (disabled unless allow_client_shm).
  SystemSharedMemoryRegistry& system_shared_memory() { return *shm_; }
  // Trace settings and sampling (trace extension).
  TraceManager& trace() { return *trace_; }
  // The response cache; null without --cache-config.
  const ResponseCache* response_cache() const { return cache_.get(); }

  // Statistics of ready model versions, ordered by name then version.
  // `name` empty: every ready version of every model. `version` -1: every
  // ready version of `name`. A named model or version that is not ready is
  // InvalidArgument "requested model ... is not available" (as Triton).
  StatusOr<std::vector<ModelStatsSnapshot>> Statistics(const std::string& name,
                                                     int64_t version) const;

 private:
  InferenceServer(ServerOptions options, std::unique_ptr<ModelManager> manager, Clock& clock,
                  std::unique_ptr<TraceManager> trace, std::unique_ptr<ResponseCache> cache);
  void FinishOne();
  // Infer, also for the step requests of ensembles (`ensemble_step`), which
  // are accepted during shutdown because their ensemble request was.
  void Route(std::unique_ptr<InferenceRequest> request, bool ensemble_step);

  ServerOptions options_;
  std::unique_ptr<ModelManager> manager_;
  Clock& clock_;
  std::unique_ptr<SystemSharedMemoryRegistry> shm_;
  std::unique_ptr<TraceManager> trace_;
  std::unique_ptr<ResponseCache> cache_;  // null without --cache-config
  std::atomic<bool> shutting_down_{false};
  std::atomic<size_t> in_flight_{0};
  std::mutex drain_mu_;
  std::condition_variable drained_;
};

}  // namespace nereid::core
