#include "backends/builtin_backends.h"

#include "backends/identity/identity_backend.h"
#include "backends/onnx/onnx_backend.h"

namespace nereid::backends {

void RegisterBuiltinBackends(core::BackendRegistry* registry) {
  registry->Register(std::make_shared<IdentityBackend>());
  registry->Register(std::make_shared<OnnxBackend>(), {"nereid"});
}

}  // namespace nereid::backends
