// ModelManager: owns every model version the server knows, with its state.
//
// With --model-control-mode=none (the only mode so far) LoadAll() scans the
// repositories once at start-up. A model that fails to load is recorded as
// UNAVAILABLE with the reason; the other models are unaffected.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend_registry.h"
#include "core/model.h"

namespace nereid::core {

enum class ModelState { kLoading, kReady, kUnavailable };
std::string_view ModelStateName(ModelState state);  // "LOADING", "READY", "UNAVAILABLE"

struct ModelIndexEntry {
  std::string name;
  int64_t version = -1;  // -1 when the failure is not tied to a version
  ModelState state = ModelState::kUnavailable;
  std::string reason;
};

class ModelManager {
 public:
  struct Options {
    std::vector<std::string> repositories;
    bool auto_complete = true;
    int intra_op_threads = 1;
  };

  ModelManager(Options options, std::shared_ptr<const BackendRegistry> backends, Clock& clock);
  ~ModelManager();

  // Loads every model of every repository. Fails only when a repository
  // itself cannot be read; per-model failures are recorded in the index.
  Status LoadAll();

  // The ready model for `name` and `version` (-1: highest ready version).
  // NotFound for an unknown model or version, Unavailable when not ready.
  StatusOr<std::shared_ptr<Model>> Get(const std::string& name, int64_t version) const;

  std::vector<ModelIndexEntry> Index() const;
  // True when every known model version is READY.
  bool AllReady() const;
  // Stops every model's scheduler (queued requests still complete).
  void StopAll();

 private:
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    std::shared_ptr<Model> model;
  };
  struct ModelEntry {
    std::string reason;  // when the model failed before any version loaded
    std::map<int64_t, VersionEntry> versions;
  };

  void LoadModel(const std::string& name, const std::string& dir);
  Status PrepareConfig(const std::string& name, const std::string& dir,
                       inference::ModelConfig* config, std::vector<int64_t>* versions);

  Options options_;
  std::shared_ptr<const BackendRegistry> backends_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::map<std::string, ModelEntry> models_;  // guarded by mu_
};

}  // namespace nereid::core
