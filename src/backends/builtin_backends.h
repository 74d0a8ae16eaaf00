// The backends compiled into this binary, and those it can load as plugins.
#pragma once

#include <string>

#include "core/backend/backend_registry.h"

namespace nereid::backends {

struct BuiltinBackendOptions {
  // Where backend plugins are (--backend-directory); empty: the `backends`
  // folder next to the executable.
  std::string backend_directory;
};

// Registers "identity", the ONNX backend ("onnxruntime", alias "nereid") and
// "pytorch" (TorchScript), a plugin loaded on first use. In a build without
// libtorch "pytorch" stays registered and every load fails saying so.
void RegisterBuiltinBackends(core::BackendRegistry* registry,
                             const BuiltinBackendOptions& options = {});

}  // namespace nereid::backends
