// Identity backend: output i is input i, unchanged (no copy: outputs share
// the request's buffer). For server tests and benchmarks.
//
// Config parameters:
//   execute_delay_ms   sleep this long in every Execute (default 0)
#pragma once

#include "core/backend/backend.h"

namespace nereid::backends {

class IdentityBackend final : public core::Backend {
 public:
  std::string name() const override { return "identity"; }
  // No model file: an empty version directory is enough.
  std::string default_model_filename() const override { return ""; }
  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override;
};

}  // namespace nereid::backends
