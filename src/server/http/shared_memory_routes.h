// HTTP endpoints of Triton's shared memory extensions:
//
//   GET  /v2/systemsharedmemory[/region/{r}]/status
//   POST /v2/systemsharedmemory/region/{r}/register   {"key", "offset", "byte_size"}
//   POST /v2/systemsharedmemory[/region/{r}]/unregister
//   same shapes under /v2/cudasharedmemory: no CUDA device is used by this
//   build, so status lists nothing, unregister succeeds and register fails.
//
// The registry lives in core (InferenceServer::system_shared_memory()) so
// the gRPC front end shares it; this file is only the JSON mapping.
//
// Thread safety: stateless functions over the thread-safe registry.
#pragma once

#include <string>
#include <vector>

#include "core/server.h"
#include "server/http/router.h"

namespace nereid::server::http {

// `parts` is the split path, parts[0] == "v2" and parts[1] is
// "systemsharedmemory" or "cudasharedmemory".
HttpResponse HandleSharedMemory(core::InferenceServer& server, const HttpRequest& request,
                                const std::vector<std::string>& parts);

}  // namespace nereid::server::http
