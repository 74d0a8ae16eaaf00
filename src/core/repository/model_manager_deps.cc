// ModelManager, continued: ensembles and their composing models (load order,
// the checks against the composing models, unload_dependents, re-checking in
// poll mode). See model_manager.h.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/logging.h"
#include "core/ensemble/ensemble_config.h"
#include "core/repository/config_parser.h"
#include "core/repository/model_manager.h"
#include "proto/model_config.pb.h"

namespace nereid::core {

namespace fs = std::filesystem;

namespace {

std::string Chain(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : " -> '") + n + "'";
  return out;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::vector<std::string> ModelManager::ComposingModelNames(
    const std::string& dir, const inference::ModelConfig* override_config) {
  inference::ModelConfig config;
  if (override_config) {
    config = *override_config;
  } else {
    const std::string path = (fs::path(dir) / "config.pbtxt").string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::stringstream ss;
    ss << in.rdbuf();
    if (!ParseModelConfig(ss.str(), path, &config).ok()) return {};
  }
  std::vector<std::string> names;
  if (!IsEnsembleConfig(config)) return names;
  for (const auto& step : config.ensemble_scheduling().step()) {
    if (!step.model_name().empty() && !Contains(names, step.model_name())) {
      names.push_back(step.model_name());
    }
  }
  return names;
}

bool ModelManager::HasReadyVersion(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return false;
  for (const auto& [v, e] : it->second.versions) {
    if (e.state == ModelState::kReady) return true;
  }
  return false;
}

Status ModelManager::LoadWithComposing(const std::string& name, const std::string& dir,
                                       const inference::ModelConfig* override_config,
                                       std::string temp_dir, LoadPass* pass, bool requested) {
  pass->attempted.insert(name);
  const bool was_serving = HasReadyVersion(name);
  Status cycle;
  pass->stack.push_back(name);
  for (const auto& m : ComposingModelNames(dir, override_config)) {
    auto on_stack = std::find(pass->stack.begin(), pass->stack.end(), m);
    if (on_stack != pass->stack.end()) {
      std::vector<std::string> loop(on_stack, pass->stack.end());
      loop.push_back(m);
      cycle = InvalidArgument("ensemble '" + name + "' uses '" + m +
                              "', which uses it in turn: ensembles cannot contain each other (" +
                              Chain(loop) + ")");
      continue;
    }
    if (pass->attempted.count(m)) continue;
    if (HasReadyVersion(m) && !pass->pending.count(m)) continue;
    std::string m_dir;
    if (auto it = pass->dirs.find(m); it != pass->dirs.end()) {
      m_dir = it->second;
    } else if (auto found = FindModelDir(m); found.ok()) {
      m_dir = *found;
    } else {
      continue;  // the ensemble's own load reports the missing model
    }
    NLOG(INFO) << "loading '" << m << "', a composing model of ensemble '" << name << "'";
    (void)LoadWithComposing(m, m_dir, nullptr, "", pass, /*requested=*/false);
  }
  pass->stack.pop_back();
  Status st = LoadLocked(name, dir, override_config, std::move(temp_dir), cycle);
  std::lock_guard<std::mutex> lock(mu_);
  ModelEntry& e = models_[name];
  if (requested) {
    e.explicitly_loaded = true;
  } else if (!was_serving) {
    e.explicitly_loaded = false;
  }
  return st;
}

StatusOr<std::shared_ptr<const EnsemblePlan>> ModelManager::PlanEnsemble(
    const inference::ModelConfig& config) {
  ASSIGN_OR_RETURN(EnsemblePlan plan, BuildEnsemblePlan(config));
  const std::string& name = config.name();
  // A model this ensemble uses must not use it in turn, also through
  // ensembles that are loaded already (a reload could close such a loop).
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::vector<std::string>> paths;
    for (const auto& step : plan.steps) paths.push_back({name, step.model_name});
    std::set<std::string> seen;
    while (!paths.empty()) {
      std::vector<std::string> path = std::move(paths.back());
      paths.pop_back();
      if (path.back() == name) {
        return InvalidArgument("ensemble '" + name + "' would contain itself through " +
                               Chain(path) + "; ensembles cannot contain each other");
      }
      if (!seen.insert(path.back()).second) continue;
      auto it = models_.find(path.back());
      if (it == models_.end()) continue;
      for (const auto& next : it->second.composing) {
        auto longer = path;
        longer.push_back(next);
        paths.push_back(std::move(longer));
      }
    }
  }
  std::vector<std::shared_ptr<Model>> models;  // keeps the configs alive
  std::vector<const inference::ModelConfig*> configs;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const EnsembleStep& step = plan.steps[i];
    auto model = Get(step.model_name, step.model_version);
    if (!model.ok()) {
      return InvalidArgument("ensemble '" + name + "' " + step.Describe(i) +
                             ": the composing model is not available: " + model.status().message());
    }
    configs.push_back(&(*model)->config());
    models.push_back(std::move(model).value());
  }
  RETURN_IF_ERROR(BindComposingModels(config, configs, &plan));
  return std::make_shared<const EnsemblePlan>(std::move(plan));
}

void ModelManager::UnloadComposing(std::vector<std::string> names) {
  while (!names.empty()) {
    const std::string m = names.front();
    names.erase(names.begin());
    std::vector<std::string> next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = models_.find(m);
      if (it == models_.end() || it->second.unloaded || it->second.explicitly_loaded) continue;
      bool used = false;
      for (const auto& [other, e] : models_) {
        if (e.unloaded || !Contains(e.composing, m)) continue;
        for (const auto& [v, ve] : e.versions) used |= ve.state == ModelState::kReady;
      }
      if (used) continue;
      next = it->second.composing;
    }
    NLOG(INFO) << "unloading '" << m << "' (unload_dependents)";
    (void)UnloadLocked(m, /*erase=*/false);
    names.insert(names.end(), next.begin(), next.end());
  }
}

void ModelManager::AddDependentEnsembles(const std::set<std::string>& removed,
                                         std::set<std::string>* changed) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [name, e] : models_) {
      if (changed->count(name) || removed.count(name)) continue;
      for (const auto& m : e.composing) {
        if (changed->count(m) || removed.count(m)) {
          changed->insert(name);
          grew = true;
          break;
        }
      }
    }
  }
}

}  // namespace nereid::core
