// JSON for `nereid perf` (RapidJSON): parsing the server's HTTP answers
// (model metadata, config, statistics, errors), the JSON header of a binary
// infer request, and the --json results file.
//
// Thread safety: free functions on values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tools/perf/perf_inputs.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {

// GET /v2/models/M[/versions/V]: name, versions, platform, inputs, outputs.
StatusOr<ModelInfo> ParseModelMetadataJson(std::string_view body);

// GET /v2/models/M[/versions/V]/config: max_batch_size (0 when absent).
StatusOr<int64_t> ParseMaxBatchSizeJson(std::string_view body);

// GET /v2/models/M[/versions/V]/stats: the counters summed over every entry
// of "model_stats".
StatusOr<ServerStats> ParseStatisticsJson(std::string_view body);

// The "error" of a KServe error body, else the body itself (at most 300
// characters, so an HTML page does not flood the terminal).
std::string ErrorMessageFromBody(std::string_view body);

// The JSON part of a binary-tensor infer request: every input with
// "binary_data_size", and "binary_data_output": true.
std::string InferHeaderJson(const std::vector<InputTensor>& inputs);

// What one run measures, per concurrency level.
struct RunInfo {
  std::string model;
  std::string version;   // empty: the server's choice
  std::string protocol;  // "http" | "grpc"
  std::string url;
  int batch = 1;
};
struct LevelReport {
  int concurrency = 1;
  double measurement_ms = 0;  // the measured window: first send to last answer
  uint64_t requests = 0;      // successful requests in the window
  int64_t errors = 0;
  std::string first_error;
  double requests_per_sec = 0;
  double inferences_per_sec = 0;  // requests_per_sec x batch
  LatencySummary latency;
  ServerStatsDelta server;   // server.valid false: not read or reset
  std::string server_error;  // why the statistics could not be read
};

// The --json file: an array with one object per level (each also names the
// model, protocol, url and batch size, so an object stands on its own).
std::string ResultsJson(const RunInfo& run, const std::vector<LevelReport>& levels);

}  // namespace nereid::tools::perf
