// The arithmetic of `nereid perf`, kept free of I/O so it is unit-tested:
// parsing --concurrency-range and -u, latency percentiles, and the server's
// statistics counters diffed over a measurement window.
//
// Units: latencies are collected in nanoseconds and reported in microseconds
// (doubles). Thread safety: free functions on values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nereid::tools::perf {

// Largest concurrency and number of levels one run accepts (a bound on the
// client's own threads, connections and memory, not on the server).
inline constexpr int kMaxConcurrency = 4096;
inline constexpr size_t kMaxLevels = 256;

// perf_analyzer's --concurrency-range: "START[:END[:STEP]]" (END defaults to
// START, STEP to 1, and STEP is added: 1:16:4 -> 1,5,9,13), or a comma list
// "1,4,16,32" (levels in the given order). Every level is in 1..kMaxConcurrency.
StatusOr<std::vector<int>> ParseConcurrencyRange(std::string_view text);

// -u: "HOST:PORT", "HOST" (-> default_port), "[V6ADDR]:PORT"; a leading
// "scheme://" and a trailing "/" are dropped.
struct HostPort {
  std::string host;  // without brackets
  int port = 0;
  // "host:port" with IPv6 hosts bracketed again.
  std::string ToString() const;
};
StatusOr<HostPort> ParseHostPort(std::string_view text, int default_port);

// Nearest-rank percentile of an ascending `sorted` vector: the smallest value
// with at least p% of the values <= it. p in (0, 100]; 0 for an empty vector.
uint64_t Percentile(const std::vector<uint64_t>& sorted, double p);

// Client latencies of the successful requests of one level, in microseconds.
struct LatencySummary {
  uint64_t count = 0;
  double avg_us = 0, min_us = 0, max_us = 0;
  double p50_us = 0, p90_us = 0, p95_us = 0, p99_us = 0;
  double extra_percentile = 99;  // --percentile
  double extra_us = 0;           // latency at --percentile
};
// Sorts `latencies_ns` in place.
LatencySummary Summarize(std::vector<uint64_t>* latencies_ns, double extra_percentile);

// One of Triton's statistics durations: how many and their total time.
struct DurationCounter {
  uint64_t count = 0;
  uint64_t ns = 0;
};

// A model's cumulative statistics (summed over the versions the server
// reported), as read from /v2/models/M/stats or ModelStatistics.
struct ServerStats {
  uint64_t inference_count = 0;  // batch items of successful requests
  uint64_t execution_count = 0;  // backend executions
  DurationCounter success, fail, queue, compute_input, compute_infer, compute_output;
};

// The difference of two snapshots taken before and after a measurement
// window, as per-request averages (perf_analyzer's server-side columns).
struct ServerStatsDelta {
  // False when a counter went backwards (the model was reloaded during the
  // window, which restarts its counters); the other fields are then zero.
  bool valid = false;
  uint64_t success_count = 0;  // successful requests
  uint64_t fail_count = 0;
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  // Average microseconds per request, each over its own count delta.
  double request_us = 0;  // arrival in core to response
  double queue_us = 0;
  double compute_input_us = 0;
  double compute_infer_us = 0;
  double compute_output_us = 0;
};
ServerStatsDelta DiffStats(const ServerStats& before, const ServerStats& after);

}  // namespace nereid::tools::perf
