#include "core/repository/model_manager.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "common/logging.h"
#include "core/ensemble/ensemble_config.h"
#include "core/repository/config_parser.h"
#include "core/repository/repository_scanner.h"

namespace nereid::core {

namespace fs = std::filesystem;

std::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

StatusOr<ModelControlMode> ParseModelControlMode(std::string_view text) {
  if (text == "none") return ModelControlMode::kNone;
  if (text == "poll") return ModelControlMode::kPoll;
  if (text == "explicit") return ModelControlMode::kExplicit;
  return InvalidArgument("unknown model control mode '" + std::string(text) +
                         "' (expected none, poll or explicit)");
}

std::string_view ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone: return "none";
    case ModelControlMode::kPoll: return "poll";
    case ModelControlMode::kExplicit: return "explicit";
  }
  return "unknown";
}

ModelManager::ModelManager(Options options, std::shared_ptr<const BackendRegistry> backends,
                           Clock& clock)
    : options_(std::move(options)), backends_(std::move(backends)), clock_(clock) {}

ModelManager::~ModelManager() { StopAll(); }

Status ModelManager::Start() {
  std::lock_guard<std::mutex> control(control_mu_);
  ASSIGN_OR_RETURN(ScanResult scan, ScanRepositories(options_.repositories));
  for (const auto& [loc, status] : scan.conflicts) {
    std::lock_guard<std::mutex> lock(mu_);
    models_[loc.name].reason = "failed to load '" + loc.name + "': " + status.message();
    NLOG(ERROR) << status.message();
  }
  LoadPass pass;
  for (const auto& loc : scan.models) pass.dirs[loc.name] = loc.dir;
  if (options_.control_mode == ModelControlMode::kExplicit) {
    bool all = std::find(options_.startup_models.begin(), options_.startup_models.end(), "*") !=
               options_.startup_models.end();
    std::set<std::string> wanted(options_.startup_models.begin(), options_.startup_models.end());
    for (const auto& loc : scan.models) {
      if (!all && !wanted.erase(loc.name)) continue;
      if (!pass.attempted.count(loc.name)) {
        (void)LoadWithComposing(loc.name, loc.dir, nullptr, "", &pass, /*requested=*/true);
      } else {
        // Loaded already as a composing model; it was asked for too.
        std::lock_guard<std::mutex> lock(mu_);
        models_[loc.name].explicitly_loaded = true;
      }
    }
    wanted.erase("*");
    for (const auto& name : wanted) {
      bool conflict = false;
      for (const auto& c : scan.conflicts) conflict |= c.first.name == name;
      if (conflict) continue;
      std::string reason = "failed to load '" + name + "': no model named '" + name +
                           "' in the model repositories";
      NLOG(ERROR) << reason;
      std::lock_guard<std::mutex> lock(mu_);
      models_[name].reason = reason;
    }
  } else {
    for (const auto& loc : scan.models) {
      if (pass.attempted.count(loc.name)) continue;
      (void)LoadWithComposing(loc.name, loc.dir, nullptr, "", &pass, /*requested=*/false);
    }
  }
  if (options_.control_mode == ModelControlMode::kPoll && options_.poll_interval.count() > 0) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }
  return Status::Ok();
}

Status ModelManager::PrepareConfig(const std::string& name, const std::string& dir,
                                   const inference::ModelConfig* override_config,
                                   inference::ModelConfig* config,
                                   std::vector<int64_t>* versions) {
  std::string config_path = (fs::path(dir) / "config.pbtxt").string();
  ConfigLocator where;
  std::error_code ec;
  if (override_config) {
    *config = *override_config;
  } else if (fs::exists(config_path, ec)) {
    std::ifstream in(config_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return InvalidArgument("cannot read " + config_path);
    ASSIGN_OR_RETURN(where, ParseModelConfig(ss.str(), config_path, config));
  } else if (!options_.auto_complete) {
    return InvalidArgument("model '" + name + "' has no config.pbtxt in " + dir +
                           " and auto-complete is disabled (--disable-auto-complete-config)");
  }

  std::vector<int64_t> available = ListVersions(dir);
  // An ensemble has no backend, model file or auto-complete; its own checks
  // run in ValidateAndNormalize.
  const bool ensemble = IsEnsembleConfig(*config);
  if (!ensemble && config->platform().empty() && config->backend().empty()) {
    std::vector<std::string> dirs;
    for (auto it = available.rbegin(); it != available.rend(); ++it) {
      dirs.push_back((fs::path(dir) / std::to_string(*it)).string());
    }
    std::string platform;
    std::string detected = backends_->DetectFromFiles(dirs, &platform);
    if (detected.empty()) {
      return where.Error("backend", "neither 'platform' nor 'backend' is set and no version "
                                    "directory holds a model file that names a backend");
    }
    config->set_backend(detected);
    if (!platform.empty()) config->set_platform(platform);
  }
  std::shared_ptr<Backend> backend;
  if (!ensemble) {
    Status resolved = backends_->ResolveBackend(config);
    if (!resolved.ok()) {
      return where.Error(config->backend().empty() ? "platform" : "backend", resolved.message());
    }
    backend = backends_->Find(config->backend());
    if (config->default_model_filename().empty()) {
      config->set_default_model_filename(backends_->DefaultModelFilename(*config));
    }
  }
  if (config->name().empty()) config->set_name(name);

  auto selected = SelectVersions(config->version_policy(), available);
  if (!selected.ok()) {
    return selected.status().WithPrefix("model '" + name + "' (" + dir + ")");
  }
  *versions = *selected;

  if (options_.auto_complete && backend) {
    // Complete from the newest selected version that has its model file.
    for (auto it = versions->rbegin(); it != versions->rend(); ++it) {
      ModelFiles files;
      files.model_dir = dir;
      files.version_dir = (fs::path(dir) / std::to_string(*it)).string();
      files.model_path = (fs::path(files.version_dir) / config->default_model_filename()).string();
      if (!config->default_model_filename().empty() && !fs::exists(files.model_path, ec)) {
        continue;
      }
      Status s = backend->AutoCompleteConfig(files, config);
      if (!s.ok()) return s.WithPrefix("auto-completing the config of model '" + name + "'");
      break;
    }
  }
  return ValidateAndNormalize(name, where, config);
}

StatusOr<std::shared_ptr<Model>> ModelManager::LoadVersion(const inference::ModelConfig& config,
                                                           const std::string& dir,
                                                           int64_t version) {
  if (IsEnsembleConfig(config)) {
    if (!options_.ensemble_submit) {
      return FailedPrecondition("ensembles need a server to run their steps");
    }
    const uint64_t load_start_ns = clock_.NowNs();
    ASSIGN_OR_RETURN(auto plan, PlanEnsemble(config));
    Model::Options mo;
    mo.model_dir = dir;
    ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                     Model::CreateEnsemble(config, version, std::move(plan),
                                           options_.ensemble_submit, mo, clock_));
    model->statistics().SetLoadDuration(clock_.NowNs() - load_start_ns);
    return model;
  }
  ModelFiles files;
  files.model_dir = dir;
  files.version_dir = (fs::path(dir) / std::to_string(version)).string();
  files.model_path = (fs::path(files.version_dir) / config.default_model_filename()).string();
  std::error_code ec;
  if (!config.default_model_filename().empty() && !fs::exists(files.model_path, ec)) {
    return NotFound("model file '" + config.default_model_filename() + "' not found in " +
                    files.version_dir);
  }
  auto backend = backends_->Find(config.backend());
  const uint64_t load_start_ns = clock_.NowNs();
  ASSIGN_OR_RETURN(auto loaded, backend->Load(config, files));
  Model::Options mo;
  mo.intra_op_threads = options_.intra_op_threads;
  mo.model_dir = dir;
  mo.rate_limiter = options_.rate_limiter;
  mo.submit = options_.ensemble_submit;
  mo.response_cache = options_.response_cache && config.response_cache().enable();
  if (config.response_cache().enable() && !options_.response_cache) {
    // Triton loads such a model and serves it uncached without a word (its
    // schedulers check "model enables it && server has a cache"). We serve it
    // the same way, so configs move between the two servers unchanged, but
    // say so: a cache that silently does nothing is hard to diagnose.
    NLOG(WARNING) << "model '" << config.name() << "' version " << version
                  << ": response_cache is enabled in its config but the server has no "
                     "response cache (--cache-config local,size=BYTES); serving it uncached";
  }
  ASSIGN_OR_RETURN(std::shared_ptr<Model> model,
                   Model::Create(config, version, std::move(loaded), mo, clock_));
  // nv_model_load_duration_secs: backend load + instance creation.
  model->statistics().SetLoadDuration(clock_.NowNs() - load_start_ns);
  return model;
}

Status ModelManager::LoadLocked(const std::string& name, const std::string& dir,
                                const inference::ModelConfig* override_config,
                                std::string temp_dir, Status precheck) {
  auto remove_temp = [&] {
    std::error_code ec;
    if (!temp_dir.empty()) fs::remove_all(temp_dir, ec);
  };
  const std::string fingerprint = DirectoryFingerprint(dir);
  inference::ModelConfig config;
  std::vector<int64_t> versions;
  Status st = precheck.ok() ? PrepareConfig(name, dir, override_config, &config, &versions)
                            : precheck;
  std::vector<std::string> composing = ComposingModelNames(dir, override_config);
  bool had_ready = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ModelEntry& e = models_[name];
    for (const auto& [v, ve] : e.versions) had_ready |= ve.state == ModelState::kReady;
    if (!had_ready) e.composing = composing;
    if (!st.ok()) {
      // Remember what failed so that polling retries only after a change.
      e.fingerprint = fingerprint;
      if (!had_ready) {
        e.versions.clear();
        e.reason = "failed to load '" + name + "': " + st.message();
        e.unloaded = false;
        e.dir = dir;
      }
    } else if (!had_ready) {
      e.versions.clear();
      for (int64_t v : versions) e.versions[v] = VersionEntry{};  // LOADING
      e.reason.clear();
      e.unloaded = false;
    }
  }
  if (!st.ok()) {
    std::string reason = "failed to load '" + name + "': " + st.message();
    NLOG(ERROR) << reason << (had_ready ? " (the loaded versions keep serving)" : "");
    remove_temp();
    return Status(st.code(), reason);
  }

  std::map<int64_t, VersionEntry> fresh;
  std::string failures;
  StatusCode failure_code = StatusCode::kOk;
  for (int64_t v : versions) {
    VersionEntry entry;
    auto model = LoadVersion(config, dir, v);
    if (model.ok()) {
      entry.state = ModelState::kReady;
      entry.model = std::move(model).value();
      NLOG(INFO) << "loaded model '" << name << "' version " << v
                 << (config.backend().empty() ? std::string(" (ensemble)")
                                              : " (backend " + config.backend() + ")");
    } else {
      entry.state = ModelState::kUnavailable;
      entry.reason = "failed to load '" + name + "' version " + std::to_string(v) + ": " +
                     model.status().message();
      NLOG(ERROR) << entry.reason;
      failures += (failures.empty() ? "" : "; ") + entry.reason;
      if (failure_code == StatusCode::kOk) failure_code = model.status().code();
    }
    fresh[v] = std::move(entry);
  }
  if (!failures.empty() && had_ready) {
    // A failed reload keeps the old versions; the new ones never served.
    {
      std::lock_guard<std::mutex> lock(mu_);
      models_[name].fingerprint = fingerprint;
    }
    fresh.clear();
    remove_temp();
    NLOG(ERROR) << "reload of '" << name << "' failed; the loaded versions keep serving";
    return Status(failure_code, failures);
  }

  std::vector<std::shared_ptr<Model>> old_models;
  std::string old_temp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ModelEntry& e = models_[name];
    for (auto& [v, ve] : e.versions) {
      if (ve.model) old_models.push_back(std::move(ve.model));
    }
    old_temp = std::move(e.temp_dir);
    e.versions = std::move(fresh);
    e.composing = std::move(composing);
    e.reason.clear();
    e.unloaded = false;
    e.dir = dir;
    e.fingerprint = fingerprint;
    e.temp_dir = temp_dir;
  }
  // The new versions are live; the replaced ones finish what they queued.
  Drain(std::move(old_models), old_temp);
  if (!failures.empty()) return Status(failure_code, failures);
  return Status::Ok();
}

Status ModelManager::UnloadLocked(const std::string& name, bool erase) {
  std::vector<std::shared_ptr<Model>> models;
  std::string temp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return Status::Ok();
    ModelEntry& e = it->second;
    for (auto& [v, ve] : e.versions) {
      if (ve.model) models.push_back(std::move(ve.model));
      ve.state = ModelState::kUnavailable;
      ve.reason = "unloaded";
    }
    temp = std::move(e.temp_dir);
    e.temp_dir.clear();
    e.fingerprint.clear();
    e.unloaded = true;
    if (e.versions.empty()) e.reason = "unloaded";
    if (erase) models_.erase(it);
  }
  if (!models.empty()) NLOG(INFO) << "unloading model '" << name << "'";
  Drain(std::move(models), temp);
  return Status::Ok();
}

void ModelManager::Drain(std::vector<std::shared_ptr<Model>> models, std::string temp_dir) {
  if (models.empty() && temp_dir.empty()) return;
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto finished = std::make_shared<std::promise<void>>();
  std::future<void> waiter = finished->get_future();
  // Stopping a model joins its instance threads after its queue is empty; a
  // separate thread keeps that (and the Model destructors) off the caller and
  // lets the caller's wait be bounded.
  std::thread t([models = std::move(models), temp_dir, done, finished]() mutable {
    for (auto& m : models) m->Stop();
    models.clear();
    std::error_code ec;
    if (!temp_dir.empty()) fs::remove_all(temp_dir, ec);
    finished->set_value();
    done->store(true);
  });
  std::vector<std::thread> finished_threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = drainers_.begin(); it != drainers_.end();) {
      if (it->done->load()) {
        finished_threads.push_back(std::move(it->thread));
        it = drainers_.erase(it);
      } else {
        ++it;
      }
    }
    drainers_.push_back({std::move(t), done});
  }
  for (auto& ft : finished_threads) ft.join();
  if (waiter.wait_for(options_.drain_timeout) == std::future_status::timeout) {
    NLOG(WARNING) << "replaced or unloaded model versions are still draining after "
                  << options_.drain_timeout.count() << " ms; continuing in the background";
  }
}

StatusOr<std::string> ModelManager::FindModelDir(const std::string& name) const {
  ASSIGN_OR_RETURN(ScanResult scan, ScanRepositories(options_.repositories));
  for (const auto& [loc, status] : scan.conflicts) {
    if (loc.name == name) return status;
  }
  for (const auto& loc : scan.models) {
    if (loc.name == name) return loc.dir;
  }
  return NotFound("no model named '" + name + "' in the model repositories");
}

Status ModelManager::CheckExplicit(const char* what) const {
  switch (options_.control_mode) {
    case ModelControlMode::kExplicit: return Status::Ok();
    case ModelControlMode::kPoll:
      return FailedPrecondition(std::string("explicit model ") + what +
                                " is not allowed when --model-control-mode=poll");
    case ModelControlMode::kNone: break;
  }
  return FailedPrecondition(std::string("explicit model ") + what +
                            " is not allowed when --model-control-mode=none; start the server "
                            "with --model-control-mode=explicit");
}

Status ModelManager::Load(const std::string& name, const LoadParameters& params) {
  RETURN_IF_ERROR(CheckExplicit("load"));
  auto fail = [&name](const Status& s) {
    Status failed(s.code(), "failed to load '" + name + "': " + s.message());
    NLOG(ERROR) << failed.message();
    return failed;
  };
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    return fail(InvalidArgument("invalid model name"));
  }
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
    if (stopping_) return fail(Unavailable("the server is shutting down"));
  }
  inference::ModelConfig override_config;
  if (params.config_json) {
    Status parsed = ParseConfigJson(*params.config_json, &override_config);
    if (!parsed.ok()) return fail(parsed);
  } else if (!params.files.empty()) {
    return fail(InvalidArgument("model files were given without a 'config' parameter; "
                                "uploaded files need an explicit config"));
  }
  std::lock_guard<std::mutex> control(control_mu_);
  std::string dir, temp;
  if (!params.files.empty()) {
    auto written = WriteModelFiles(params.files, options_.temp_directory);
    if (!written.ok()) return fail(written.status());
    dir = temp = *written;
  } else {
    auto found = FindModelDir(name);
    if (!found.ok()) return fail(found.status());
    dir = *found;
  }
  LoadPass pass;
  return LoadWithComposing(name, dir, params.config_json ? &override_config : nullptr, temp, &pass,
                           /*requested=*/true);
}

Status ModelManager::Unload(const std::string& name, bool unload_dependents) {
  RETURN_IF_ERROR(CheckExplicit("unload"));
  std::lock_guard<std::mutex> control(control_mu_);
  bool known;
  std::vector<std::string> composing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    known = it != models_.end();
    if (known) composing = it->second.composing;
  }
  if (!known) {
    // Unloading a model of the repository that is not loaded is a no-op.
    auto found = FindModelDir(name);
    if (found.ok()) return Status::Ok();
    return NotFound("failed to unload '" + name + "': unknown model");
  }
  RETURN_IF_ERROR(UnloadLocked(name, /*erase=*/false));
  if (unload_dependents) UnloadComposing(std::move(composing));
  return Status::Ok();
}

StatusOr<std::shared_ptr<Model>> ModelManager::Get(const std::string& name,
                                                   int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("unknown model: '" + name + "'");
  const ModelEntry& m = it->second;
  if (version < 0) {
    for (auto v = m.versions.rbegin(); v != m.versions.rend(); ++v) {
      if (v->second.state == ModelState::kReady) return v->second.model;
    }
    std::string reason = m.reason;
    if (reason.empty() && !m.versions.empty()) reason = m.versions.rbegin()->second.reason;
    return Unavailable("model '" + name + "' is not ready" +
                       (reason.empty() ? "" : ": " + reason));
  }
  auto v = m.versions.find(version);
  if (v == m.versions.end()) {
    return NotFound("unknown version " + std::to_string(version) + " of model '" + name + "'");
  }
  if (v->second.state != ModelState::kReady) {
    return Unavailable("model '" + name + "' version " + std::to_string(version) +
                       " is not ready" + (v->second.reason.empty() ? "" : ": " + v->second.reason));
  }
  return v->second.model;
}

std::vector<ModelIndexEntry> ModelManager::Index() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelIndexEntry> out;
  for (const auto& [name, m] : models_) {
    if (m.versions.empty()) {
      out.push_back({name, -1, ModelState::kUnavailable, m.reason});
    }
    for (const auto& [v, e] : m.versions) out.push_back({name, v, e.state, e.reason});
  }
  return out;
}

std::vector<ModelIndexEntry> ModelManager::RepositoryIndex(bool ready_only) const {
  std::vector<ModelIndexEntry> out = Index();
  std::set<std::string> known;
  for (const auto& e : out) known.insert(e.name);
  auto scan = ScanRepositories(options_.repositories);
  if (scan.ok()) {
    for (const auto& loc : scan->models) {
      if (known.insert(loc.name).second) {
        out.push_back({loc.name, -1, ModelState::kUnavailable, "not loaded"});
      }
    }
  }
  if (ready_only) {
    out.erase(std::remove_if(out.begin(), out.end(),
                             [](const ModelIndexEntry& e) { return e.state != ModelState::kReady; }),
              out.end());
  }
  std::stable_sort(out.begin(), out.end(), [](const ModelIndexEntry& a, const ModelIndexEntry& b) {
    return a.name != b.name ? a.name < b.name : a.version < b.version;
  });
  return out;
}

bool ModelManager::AllReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, m] : models_) {
    if (m.unloaded) continue;
    if (m.versions.empty()) return false;
    for (const auto& [v, e] : m.versions) {
      if (e.state != ModelState::kReady) return false;
    }
  }
  return true;
}

void ModelManager::StopAll() {
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  {
    std::lock_guard<std::mutex> lock(task_mu_);
    tasks_stopping_ = true;
  }
  task_cv_.notify_all();
  // The control thread finishes its current task; queued ones are cancelled.
  if (task_thread_.joinable()) task_thread_.join();
  std::vector<std::shared_ptr<Model>> models;
  std::vector<Drainer> drainers;
  {
    std::lock_guard<std::mutex> control(control_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, m] : models_) {
      for (auto& [v, e] : m.versions) {
        if (e.model) models.push_back(e.model);
      }
    }
    drainers = std::move(drainers_);
    drainers_.clear();
  }
  for (auto& m : models) m->Stop();
  for (auto& d : drainers) {
    if (d.thread.joinable()) d.thread.join();
  }
  // Uploaded files are not needed once nothing can load or run from them.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, m] : models_) {
    std::error_code ec;
    if (!m.temp_dir.empty()) fs::remove_all(m.temp_dir, ec);
    m.temp_dir.clear();
  }
}

}  // namespace nereid::core
