// The entry points a backend plugin (a shared library loaded with dlopen by
// PluginBackend) exports, and the contract between it and the executable.
//
// A plugin is built from this source tree together with `nereid` and is
// loaded only by that same build: it uses core's C++ types (Backend,
// InferenceRequest, Status, the generated ModelConfig) directly and resolves
// their out-of-line symbols from the executable's dynamic symbol table (see
// cmake/plugin_exports.dynamic-list). Only the two functions below are looked
// up by name; they have C linkage so their names do not depend on mangling.
//
// The ABI version guards against a plugin left over from an older build in
// the backend directory: it is checked before any C++ object crosses over.
// Bump it whenever a type the plugins use changes its layout.
#pragma once

#include <memory>

#include "common/status.h"
#include "core/backend/backend.h"

namespace nereid::backends {

inline constexpr int kBackendPluginAbiVersion = 1;
inline constexpr char kBackendPluginAbiSymbol[] = "NereidBackendPluginAbiVersion";
inline constexpr char kBackendPluginCreateSymbol[] = "NereidCreateBackend";

using BackendPluginAbiFn = int (*)();
// Stores the plugin's backend in *out, or an error when it cannot start.
// Called once per process, under PluginBackend's lock.
using BackendPluginCreateFn = void (*)(StatusOr<std::shared_ptr<core::Backend>>* out);

}  // namespace nereid::backends
