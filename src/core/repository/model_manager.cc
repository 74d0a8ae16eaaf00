#include "core/repository/model_manager.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/logging.h"
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

ModelManager::ModelManager(Options options, std::shared_ptr<const BackendRegistry> backends,
                           Clock& clock)
    : options_(std::move(options)), backends_(std::move(backends)), clock_(clock) {}

ModelManager::~ModelManager() { StopAll(); }

Status ModelManager::LoadAll() {
  ASSIGN_OR_RETURN(ScanResult scan, ScanRepositories(options_.repositories));
  for (const auto& [loc, status] : scan.conflicts) {
    std::lock_guard<std::mutex> lock(mu_);
    models_[loc.name].reason = status.message();
    NLOG(ERROR) << status.message();
  }
  for (const auto& loc : scan.models) LoadModel(loc.name, loc.dir);
  return Status::Ok();
}

Status ModelManager::PrepareConfig(const std::string& name, const std::string& dir,
                                   inference::ModelConfig* config,
                                   std::vector<int64_t>* versions) {
  std::string config_path = (fs::path(dir) / "config.pbtxt").string();
  ConfigLocator where;
  std::error_code ec;
  bool has_file = fs::exists(config_path, ec);
  if (has_file) {
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
  if (config->platform().empty() && config->backend().empty()) {
    std::vector<std::string> dirs;
    for (auto it = available.rbegin(); it != available.rend(); ++it) {
      dirs.push_back((fs::path(dir) / std::to_string(*it)).string());
    }
    std::string detected = backends_->DetectFromFiles(dirs);
    if (detected.empty()) {
      return where.Error("backend", "neither 'platform' nor 'backend' is set and no version "
                                    "directory holds a model file that names a backend");
    }
    config->set_backend(detected);
  }
  Status resolved = backends_->ResolveBackend(config);
  if (!resolved.ok()) return where.Error(config->backend().empty() ? "platform" : "backend",
                                         resolved.message());
  auto backend = backends_->Find(config->backend());
  if (config->default_model_filename().empty()) {
    config->set_default_model_filename(backend->default_model_filename());
  }
  if (config->name().empty()) config->set_name(name);

  auto selected = SelectVersions(config->version_policy(), available);
  if (!selected.ok()) {
    return selected.status().WithPrefix("model '" + name + "' (" + dir + ")");
  }
  *versions = *selected;

  if (options_.auto_complete) {
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

void ModelManager::LoadModel(const std::string& name, const std::string& dir) {
  inference::ModelConfig config;
  std::vector<int64_t> versions;
  Status st = PrepareConfig(name, dir, &config, &versions);
  if (!st.ok()) {
    NLOG(ERROR) << "failed to load model '" << name << "': " << st.message();
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].reason = "failed to load '" + name + "': " + st.message();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t v : versions) models_[name].versions[v] = VersionEntry{};
  }
  auto backend = backends_->Find(config.backend());
  for (int64_t v : versions) {
    ModelFiles files;
    files.model_dir = dir;
    files.version_dir = (fs::path(dir) / std::to_string(v)).string();
    files.model_path = (fs::path(files.version_dir) / config.default_model_filename()).string();
    VersionEntry entry;
    std::error_code ec;
    StatusOr<std::shared_ptr<Model>> model = Status(StatusCode::kUnknown, "");
    if (!config.default_model_filename().empty() && !fs::exists(files.model_path, ec)) {
      model = NotFound("model file '" + config.default_model_filename() + "' not found in " +
                       files.version_dir);
    } else {
      auto loaded = backend->Load(config, files);
      if (!loaded.ok()) {
        model = loaded.status();
      } else {
        Model::Options mo;
        mo.intra_op_threads = options_.intra_op_threads;
        mo.model_dir = dir;
        model = Model::Create(config, v, std::move(loaded).value(), mo, clock_);
      }
    }
    if (model.ok()) {
      entry.state = ModelState::kReady;
      entry.model = std::move(model).value();
      NLOG(INFO) << "loaded model '" << name << "' version " << v << " (backend "
                 << config.backend() << ")";
    } else {
      entry.state = ModelState::kUnavailable;
      entry.reason = "failed to load '" + name + "' version " + std::to_string(v) + ": " +
                     model.status().message();
      NLOG(ERROR) << entry.reason;
    }
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].versions[v] = std::move(entry);
  }
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

bool ModelManager::AllReady() const {
  for (const auto& e : Index()) {
    if (e.state != ModelState::kReady) return false;
  }
  return true;
}

void ModelManager::StopAll() {
  std::vector<std::shared_ptr<Model>> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, m] : models_) {
      for (auto& [v, e] : m.versions) {
        if (e.model) models.push_back(e.model);
      }
    }
  }
  for (auto& m : models) m->Stop();
}

}  // namespace nereid::core
