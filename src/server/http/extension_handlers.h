// HTTP endpoints of Triton's model repository and logging extensions:
//
//   POST /v2/repository/index                 {"ready": bool}?  -> [{name, version, state, reason}]
//   POST /v2/repository/models/{m}/load       {"parameters": {"config": "<json>",
//                                                             "file:<v>/<f>": "<base64>"}}?
//   POST /v2/repository/models/{m}/unload     {"parameters": {"unload_dependents": bool}}?
//   GET  /v2/logging                          -> settings
//   POST /v2/logging                          {settings...} -> settings
//
// The JSON is mapped onto the protocol-neutral layer (server/kserve/
// repository.h) that the gRPC front end will share.
//
// Thread safety: stateless; may be called from any number of I/O threads.
// Load and unload run on the model manager's control thread and reply from
// there, so no I/O thread waits for a load or a drain.
#pragma once

#include <string>
#include <vector>

#include "core/server.h"
#include "server/http/router.h"

namespace nereid::server::http {

// `parts` is the split path starting with "v2", "repository".
void HandleRepository(core::InferenceServer* server, const HttpRequest& request,
                      const std::vector<std::string>& parts, size_t max_input_size,
                      ReplyFn reply);

// `parts` is {"v2", "logging"}.
void HandleLogging(const HttpRequest& request, size_t max_input_size, ReplyFn reply);

}  // namespace nereid::server::http
