#include "backends/builtin_backends.h"

#include "backends/identity/identity_backend.h"
#include "backends/onnx/onnx_backend.h"
#include "backends/onnx/plan_cache.h"
#include "backends/plugin_backend.h"
#include "backends/python/python_backend.h"

namespace nereid::backends {

Status ParseBackendConfig(const std::string& flag, BackendSettings* settings) {
  const size_t comma = flag.find(',');
  const size_t eq = flag.find('=', comma == std::string::npos ? 0 : comma);
  if (comma == std::string::npos || comma == 0 || eq == std::string::npos || eq == comma + 1) {
    return InvalidArgument("--backend-config '" + flag + "' must be BACKEND,SETTING=VALUE");
  }
  (*settings)[flag.substr(0, comma)][flag.substr(comma + 1, eq - comma - 1)] = flag.substr(eq + 1);
  return Status::Ok();
}

Status RegisterBuiltinBackends(core::BackendRegistry* registry,
                               const BuiltinBackendOptions& options) {
  PythonBackendOptions python;
  for (const auto& [backend, values] : options.settings) {
    if (backend == "python") {
      RETURN_IF_ERROR(ApplyPythonBackendConfig(values, &python));
    } else {
      return InvalidArgument("--backend-config: no backend '" + backend +
                             "' takes settings (known: python)");
    }
  }
  registry->Register(std::make_shared<IdentityBackend>());
  std::shared_ptr<const PlanCache> plan_cache;
  if (!options.plan_cache_directory.empty()) {
    ASSIGN_OR_RETURN(plan_cache, PlanCache::Create(options.plan_cache_directory));
  }
  registry->Register(std::make_shared<OnnxBackend>(std::move(plan_cache)), {"nereid"});
  registry->Register(std::make_shared<PythonBackend>(std::move(python)));

  PluginBackendOptions torch;
  torch.name = "pytorch";
  torch.default_model_filename = "model.pt";
  torch.library = "libnereid_backend_pytorch.so";
  torch.directory = options.backend_directory;
  // Set by CMake when the plugin target (src/backends/torch) is built.
#ifndef NEREID_BUILDS_TORCH_PLUGIN
  torch.unavailable =
      "this build of nereid has no libtorch backend (it was configured with "
      "-DNEREID_TORCH=OFF, or without libtorch-dev installed)";
#endif
  registry->Register(std::make_shared<PluginBackend>(std::move(torch)));
  return Status::Ok();
}

}  // namespace nereid::backends
