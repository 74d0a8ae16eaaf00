// The backends compiled into this binary.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "core/backend/backend_registry.h"

namespace nereid::backends {

// Settings per backend from `--backend-config=BACKEND,KEY=VALUE`.
using BackendSettings = std::map<std::string, std::map<std::string, std::string>>;

// Parses one `--backend-config` value ("python,interpreter=/usr/bin/python3")
// into `settings`.
Status ParseBackendConfig(const std::string& flag, BackendSettings* settings);

// Registers "identity", the ONNX backend ("onnxruntime", alias "nereid") and
// the Python backend ("python"). Fails on settings no backend knows.
Status RegisterBuiltinBackends(core::BackendRegistry* registry,
                               const BackendSettings& settings = {});

}  // namespace nereid::backends
