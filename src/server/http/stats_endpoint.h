// HTTP side of Triton's statistics extension:
//   GET /v2/models/stats                         every ready version of every model
//   GET /v2/models/{m}/stats                     every ready version of m
//   GET /v2/models/{m}/versions/{v}/stats        one version
// A model or version that is not ready answers 400 "requested model ... is
// not available" (Triton's INVALID_ARG); a malformed version 400.
//
// Thread safety: pure functions over a thread-safe InferenceServer.
#pragma once

#include <string>
#include <vector>

#include "core/server.h"
#include "server/http/router.h"

namespace nereid::server::http {

// True for the three paths above (split by SplitPath).
bool IsStatisticsPath(const std::vector<std::string>& parts);

HttpResponse HandleStatistics(const core::InferenceServer& server,
                              const std::vector<std::string>& parts);

}  // namespace nereid::server::http
