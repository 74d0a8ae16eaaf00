// The backends compiled into this binary, and the plugins it can load.
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

struct BuiltinBackendOptions {
  // Where backend plugins are (--backend-directory); empty: the `backends`
  // folder next to the executable.
  std::string backend_directory;
  // --backend-config settings.
  BackendSettings settings;
  // --cache-directory: where the ONNX backend keeps compiled plans (created
  // when missing); empty: no plan cache.
  std::string plan_cache_directory;
};

// Registers "identity", the ONNX backend ("onnxruntime", alias "nereid"),
// the Python backend ("python") and "pytorch" (TorchScript), a plugin loaded
// on first use. In a build without libtorch "pytorch" stays registered and
// every load fails saying so. Fails on settings no backend knows and on a
// plan cache directory that cannot be created.
Status RegisterBuiltinBackends(core::BackendRegistry* registry,
                               const BuiltinBackendOptions& options = {});

}  // namespace nereid::backends
