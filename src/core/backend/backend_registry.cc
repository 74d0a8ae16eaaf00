#include "core/backend/backend_registry.h"

#include <filesystem>

#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

struct PlatformMapping {
  const char* platform;
  const char* backend;
};

// Triton's platform strings and the backend each implies.
constexpr PlatformMapping kPlatforms[] = {
    {"onnxruntime_onnx", "onnxruntime"},  {"pytorch_libtorch", "pytorch"},
    {"tensorrt_plan", "tensorrt"},        {"tensorflow_graphdef", "tensorflow"},
    {"tensorflow_savedmodel", "tensorflow"}, {"nereid_plan", "nereid"},
};

}  // namespace

Status Backend::AutoCompleteConfig(const ModelFiles&, inference::ModelConfig*) {
  return Status::Ok();
}

void BackendRegistry::Register(std::shared_ptr<Backend> backend, std::vector<std::string> aliases) {
  backends_[backend->name()] = backend;
  for (auto& a : aliases) backends_[a] = backend;
  ordered_.push_back(std::move(backend));
}

std::shared_ptr<Backend> BackendRegistry::Find(const std::string& name) const {
  auto it = backends_.find(name);
  return it == backends_.end() ? nullptr : it->second;
}

std::vector<std::string> BackendRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, b] : backends_) names.push_back(name);
  return names;
}

Status BackendRegistry::ResolveBackend(inference::ModelConfig* config) const {
  if (config->platform() == "ensemble") {
    return InvalidArgument("platform 'ensemble' is run by core's ensemble scheduler, not by a "
                           "backend");
  }
  if (config->backend().empty() && !config->platform().empty()) {
    for (const auto& m : kPlatforms) {
      if (config->platform() == m.platform) config->set_backend(m.backend);
    }
    if (config->backend().empty()) {
      return InvalidArgument("field 'platform': unknown platform '" + config->platform() + "'");
    }
  }
  if (config->backend().empty()) {
    return InvalidArgument("field 'backend': neither 'platform' nor 'backend' is set");
  }
  if (config->platform().empty()) {
    for (const auto& m : kPlatforms) {
      if (config->backend() == m.backend && std::string(m.platform) != "nereid_plan") {
        config->set_platform(m.platform);
        break;
      }
    }
  }
  if (!Find(config->backend())) {
    std::string known;
    for (const auto& n : Names()) known += (known.empty() ? "" : ", ") + n;
    return Unimplemented("field 'backend': backend '" + config->backend() +
                         "' is not available in this build (available: " + known + ")");
  }
  return Status::Ok();
}

std::string BackendRegistry::DetectFromFiles(const std::vector<std::string>& version_dirs) const {
  namespace fs = std::filesystem;
  for (const auto& dir : version_dirs) {
    for (const auto& b : ordered_) {
      std::error_code ec;
      if (!b->default_model_filename().empty() &&
          fs::exists(fs::path(dir) / b->default_model_filename(), ec)) {
        return b->name();
      }
    }
  }
  return "";
}

}  // namespace nereid::core
