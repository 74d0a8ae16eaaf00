// BackendRegistry: the backends this binary has, by name, and Triton's
// platform names mapped onto them.
//
// Thread safety: Register() only during start-up; lookups are then safe
// from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backend/backend.h"

namespace nereid::core {

class BackendRegistry {
 public:
  // Registers `backend` under its name() and any `aliases`.
  void Register(std::shared_ptr<Backend> backend, std::vector<std::string> aliases = {});
  // nullptr when unknown.
  std::shared_ptr<Backend> Find(const std::string& name) const;
  std::vector<std::string> Names() const;

  // Fills in whichever of `platform`/`backend` is empty from the other,
  // the way Triton does ("onnxruntime_onnx" <-> "onnxruntime"). Fails
  // naming the field when neither names a backend we have.
  Status ResolveBackend(inference::ModelConfig* config) const;

  // The model file a version directory holds when the config names none:
  // the platform's own ("nereid_plan" -> model.plan), else the backend's.
  // Call after ResolveBackend.
  std::string DefaultModelFilename(const inference::ModelConfig& config) const;

  // Picks a backend for a model with neither platform nor backend set, by
  // which default model file exists in one of `version_dirs` (the backends'
  // files first, then the platforms' own, which also set `*platform`).
  // Empty when none.
  std::string DetectFromFiles(const std::vector<std::string>& version_dirs,
                              std::string* platform = nullptr) const;

 private:
  std::map<std::string, std::shared_ptr<Backend>> backends_;
  std::vector<std::shared_ptr<Backend>> ordered_;
};

}  // namespace nereid::core
