// ModelManager: owns every model version the server knows, with its state,
// and implements Triton's model control modes:
//
//   none      Start() loads every model of the repositories; nothing changes
//             afterwards and Load/Unload requests are refused.
//   explicit  Start() loads only Options::startup_models ("*" = all); then
//             Load/Unload requests add, reload and remove models.
//   poll      Start() loads everything; Poll() (called every poll_interval by
//             the manager's own thread, or directly by tests) rescans: new
//             model directories load, removed ones unload, changed ones
//             (any file added, removed or rewritten) reload. Load/Unload
//             requests are refused, as Triton does.
//
// Ensembles (platform "ensemble") load after their composing models: at
// start-up and in poll mode every ensemble's composing models are loaded
// first (recursively); in explicit mode a load request loads the composing
// models that are not ready before the ensemble, and an unload with
// `unload_dependents` also unloads the composing models that were loaded
// only for it (not loaded by request themselves, used by no other loaded
// ensemble), as Triton does. An ensemble is checked against its composing
// models' configs when it loads (ensemble/ensemble_config.h) and finds them
// by name for every request, so unloading a composing model makes the
// ensemble's requests fail with that model's "not ready" error until it is
// loaded again. A poll that changes or removes a composing model re-checks
// (reloads) the ensembles that use it. Ensembles that contain each other
// fail to load.
//
// A model that fails to load is recorded as UNAVAILABLE with a reason that
// contains "failed to load"; other models are unaffected. A reload builds the
// new versions first and swaps them in only when they loaded, so requests
// never see a gap; the replaced versions then drain (their queued requests
// complete) on a background thread. A failed reload keeps the old versions
// serving. Unload removes the model from lookup at once and waits (bounded by
// Options::drain_timeout) for its queued requests to finish.
//
// Thread safety: all public methods are thread-safe. Loads, unloads and polls
// are serialized among themselves; lookups (Get, Index) never wait for them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "core/backend/backend_registry.h"
#include "core/model.h"
#include "core/repository/load_parameters.h"

namespace nereid::core {

enum class ModelState { kLoading, kReady, kUnavailable };
std::string_view ModelStateName(ModelState state);  // "LOADING", "READY", "UNAVAILABLE"

enum class ModelControlMode { kNone, kPoll, kExplicit };
// "none" | "poll" | "explicit"; anything else is InvalidArgument.
StatusOr<ModelControlMode> ParseModelControlMode(std::string_view text);
std::string_view ModelControlModeName(ModelControlMode mode);

struct ModelIndexEntry {
  std::string name;
  int64_t version = -1;  // -1 when the entry is not tied to a version
  ModelState state = ModelState::kUnavailable;
  std::string reason;
};

class ModelManager {
 public:
  struct Options {
    std::vector<std::string> repositories;
    bool auto_complete = true;
    int intra_op_threads = 1;
    ModelControlMode control_mode = ModelControlMode::kNone;
    // explicit mode: models loaded by Start(); "*" loads every model.
    std::vector<std::string> startup_models;
    // poll mode: how often the manager's thread rescans; 0 = never (tests
    // call Poll() themselves).
    std::chrono::milliseconds poll_interval{0};
    // Longest an unload or reload waits for the replaced versions to drain;
    // draining continues in the background after that.
    std::chrono::milliseconds drain_timeout{30000};
    // Parent of the private directories that uploaded model files go to
    // (the system temporary directory when empty).
    std::string temp_directory;
    // Shared by every model's instances (null: no rate limiting).
    std::shared_ptr<RateLimiter> rate_limiter;
    // The server has a response cache (--cache-config): models whose config
    // enables response_cache use it.
    bool response_cache = false;
    // Runs an ensemble's step requests like client requests (the server
    // provides it). Without it ensembles fail to load. Backends get it too
    // (InstanceOptions::submit), for Python models' BLS calls.
    EnsembleScheduler::Submit ensemble_submit;
  };

  ModelManager(Options options, std::shared_ptr<const BackendRegistry> backends, Clock& clock);
  ~ModelManager();

  // Loads the models the control mode asks for at start-up and, in poll
  // mode, starts polling. Fails only when a repository itself cannot be read;
  // per-model failures are recorded in the index.
  Status Start();

  // The repository extension's load: loads or reloads `name` (explicit mode
  // only). Errors contain "failed to load" and the reason.
  Status Load(const std::string& name, const LoadParameters& params = {});
  // The repository extension's unload (explicit mode only). Waits for the
  // model's queued requests, at most Options::drain_timeout. With
  // `unload_dependents`, an ensemble's composing models go too (see above).
  Status Unload(const std::string& name, bool unload_dependents = false);
  // Load/Unload on the manager's control thread; `done` gets the result
  // there (or with Unavailable at once when the manager is stopping). For
  // front ends, whose I/O threads must not wait for loads or drains.
  void LoadAsync(std::string name, LoadParameters params, std::function<void(Status)> done);
  void UnloadAsync(std::string name, bool unload_dependents, std::function<void(Status)> done);
  // One poll-mode rescan of the repositories (Unavailable in other modes).
  Status Poll();

  // The ready model for `name` and `version` (-1: highest ready version).
  // NotFound for an unknown model or version, Unavailable when not ready.
  StatusOr<std::shared_ptr<Model>> Get(const std::string& name, int64_t version) const;

  // Every model version the manager has loaded, tried to load or unloaded.
  std::vector<ModelIndexEntry> Index() const;
  // The repository index: Index() plus one entry (version -1, UNAVAILABLE,
  // reason "not loaded") for each model of the repositories never loaded.
  // `ready_only` keeps READY entries only. Sorted by name, then version.
  std::vector<ModelIndexEntry> RepositoryIndex(bool ready_only) const;
  // True when every version the manager tried to load is READY (versions
  // unloaded on request do not count).
  bool AllReady() const;
  // Stops polling and every model's scheduler (queued requests complete).
  void StopAll();

  ModelControlMode control_mode() const { return options_.control_mode; }

 private:
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    std::shared_ptr<Model> model;
  };
  struct ModelEntry {
    std::string reason;       // when the model failed before any version loaded
    bool unloaded = false;    // unloaded on request: not counted by AllReady
    std::string dir;          // where it was loaded from
    std::string fingerprint;  // of `dir` when loaded (poll mode)
    std::string temp_dir;     // private directory of uploaded files, if any
    std::map<int64_t, VersionEntry> versions;
    // Ensembles: the models their steps name (of the serving versions, or of
    // the last attempt when none serves).
    std::vector<std::string> composing;
    // Loaded by a load request or --load-model, not only as a composing
    // model of an ensemble (unload_dependents keeps such models).
    bool explicitly_loaded = false;
  };
  // One round of loads (start-up, a load request, a poll), so that composing
  // models load before their ensembles, and each model once.
  struct LoadPass {
    std::set<std::string> attempted;
    std::vector<std::string> stack;           // ensembles whose composing models are loading
    std::set<std::string> pending;            // load even when ready (poll: changed models)
    std::map<std::string, std::string> dirs;  // from the scan; others are looked up
  };
  struct Drainer {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  Status CheckExplicit(const char* what) const;
  // Loads or reloads `name` from `dir` (config from `override_config` when
  // given). A non-OK `precheck` is recorded as the load's failure. Must hold
  // control_mu_.
  Status LoadLocked(const std::string& name, const std::string& dir,
                    const inference::ModelConfig* override_config, std::string temp_dir,
                    Status precheck = Status::Ok());
  // LoadLocked after loading the composing models `name` needs (those not
  // ready, or pending in `pass`), recursively. `requested`: by a load request
  // or --load-model rather than as a composing model. Must hold control_mu_.
  Status LoadWithComposing(const std::string& name, const std::string& dir,
                           const inference::ModelConfig* override_config, std::string temp_dir,
                           LoadPass* pass, bool requested);
  // The checked dataflow of an ensemble config against the ready composing
  // models.
  StatusOr<std::shared_ptr<const EnsemblePlan>> PlanEnsemble(const inference::ModelConfig& config);
  // Unloads the models in `names` (composing models of an unloaded ensemble)
  // that no loaded ensemble uses and that were not loaded by request, and
  // then theirs. Must hold control_mu_.
  void UnloadComposing(std::vector<std::string> names);
  // Adds to `changed` the ensembles that use a model in `changed` or
  // `removed`, transitively (poll mode).
  void AddDependentEnsembles(const std::set<std::string>& removed,
                             std::set<std::string>* changed) const;
  bool HasReadyVersion(const std::string& name) const;
  // The models an ensemble config in `dir` (or `override_config`) names in
  // its steps, in step order; empty for other models and unreadable configs.
  static std::vector<std::string> ComposingModelNames(
      const std::string& dir, const inference::ModelConfig* override_config);
  // Unloads `name` (erasing its entry when `erase`). Must hold control_mu_.
  Status UnloadLocked(const std::string& name, bool erase);
  Status PrepareConfig(const std::string& name, const std::string& dir,
                       const inference::ModelConfig* override_config,
                       inference::ModelConfig* config, std::vector<int64_t>* versions);
  StatusOr<std::shared_ptr<Model>> LoadVersion(const inference::ModelConfig& config,
                                               const std::string& dir, int64_t version);
  // Stops `models` and removes `temp_dir` on a background thread; waits for
  // that at most drain_timeout.
  void Drain(std::vector<std::shared_ptr<Model>> models, std::string temp_dir);
  // Where `name` lives in the repositories; NotFound naming the roots.
  StatusOr<std::string> FindModelDir(const std::string& name) const;
  void PollLoop();
  // Runs `task(false)` on the control thread, or `task(true)` (cancelled)
  // when stopping.
  void Submit(std::function<void(bool cancelled)> task);
  void TaskLoop();

  Options options_;
  std::shared_ptr<const BackendRegistry> backends_;
  Clock& clock_;

  std::mutex control_mu_;  // serializes Start/Load/Unload/Poll

  mutable std::mutex mu_;
  std::map<std::string, ModelEntry> models_;  // guarded by mu_
  std::vector<Drainer> drainers_;             // guarded by mu_

  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;  // guarded by poll_mu_
  std::thread poll_thread_;

  std::mutex task_mu_;
  std::condition_variable task_cv_;
  std::deque<std::function<void(bool)>> tasks_;  // guarded by task_mu_
  bool tasks_stopping_ = false;                  // guarded by task_mu_
  std::thread task_thread_;                      // started on first Submit
};

}  // namespace nereid::core
