#include "backends/builtin_backends.h"

#include "backends/identity/identity_backend.h"
#include "backends/onnx/onnx_backend.h"
#include "backends/plugin_backend.h"

namespace nereid::backends {

void RegisterBuiltinBackends(core::BackendRegistry* registry,
                             const BuiltinBackendOptions& options) {
  registry->Register(std::make_shared<IdentityBackend>());
  registry->Register(std::make_shared<OnnxBackend>(), {"nereid"});

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
}

}  // namespace nereid::backends
