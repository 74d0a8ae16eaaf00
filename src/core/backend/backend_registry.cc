#include "core/backend/backend_registry.h"

#include <filesystem>

#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

struct PlatformMapping {
  const char* platform;
  const char* backend;
  // The platform's own default model file, where it differs from the
  // backend's ("nereid" serves ONNX models and compiled plans); null: the
  // backend's.
  const char* default_model_filename = nullptr;
};

// Triton's platform strings and the backend each implies.
constexpr PlatformMapping kPlatforms[] = {
    {"onnxruntime_onnx", "onnxruntime"},
    {"pytorch_libtorch", "pytorch"},
    {"tensorrt_plan", "tensorrt"},
    {"tensorflow_graphdef", "tensorflow"},
    {"tensorflow_savedmodel", "tensorflow"},
    {"nereid_plan", "nereid", "model.plan"},
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

std::string BackendRegistry::DefaultModelFilename(const inference::ModelConfig& config) const {
  for (const auto& m : kPlatforms) {
    if (m.default_model_filename != nullptr && config.platform() == m.platform &&
        config.backend() == m.backend) {
      return m.default_model_filename;
    }
  }
  auto backend = Find(config.backend());
  return backend ? backend->default_model_filename() : "";
}

std::string BackendRegistry::DetectFromFiles(const std::vector<std::string>& version_dirs,
                                             std::string* platform) const {
  namespace fs = std::filesystem;
  for (const auto& dir : version_dirs) {
    std::error_code ec;
    for (const auto& b : ordered_) {
      if (!b->default_model_filename().empty() &&
          fs::exists(fs::path(dir) / b->default_model_filename(), ec)) {
        return b->name();
      }
    }
    for (const auto& m : kPlatforms) {
      if (m.default_model_filename != nullptr && Find(m.backend) &&
          fs::exists(fs::path(dir) / m.default_model_filename, ec)) {
        if (platform != nullptr) *platform = m.platform;
        return m.backend;
      }
    }
  }
  return "";
}

}  // namespace nereid::core
