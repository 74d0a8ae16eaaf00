// Triton's statistics extension response as JSON:
//   {"model_stats": [{"name", "version", "last_inference", "inference_count",
//     "execution_count", "inference_stats": {success, fail, queue,
//     compute_input, compute_infer, compute_output, cache_hit, cache_miss:
//     {"count", "ns"}}, "response_stats": {}, "batch_stats": [{"batch_size",
//     "compute_input", "compute_infer", "compute_output"}], "memory_usage": []}]}
// Built from core's protocol-neutral snapshots (gRPC maps the same structs
// onto its ModelStatisticsResponse).
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "core/statistics.h"

namespace nereid::server {

std::string ModelStatisticsJson(const std::vector<core::ModelStatsSnapshot>& stats);

}  // namespace nereid::server
