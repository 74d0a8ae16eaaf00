// The backends compiled into this binary.
#pragma once

#include "core/backend/backend_registry.h"

namespace nereid::backends {

// Registers "identity" and the ONNX backend ("onnxruntime", alias "nereid").
void RegisterBuiltinBackends(core::BackendRegistry* registry);

}  // namespace nereid::backends
