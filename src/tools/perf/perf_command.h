// `nereid perf`: a closed-loop load generator for a running KServe v2 server
// (Nereid or Triton), in the role of Triton's perf_analyzer and with its
// flag names where they fit.
//
//   nereid perf -m MODEL [-x VERSION] [-u HOST:PORT] [-i http|grpc]
//               [--concurrency-range START[:END[:STEP]] | C1,C2,...]
//               [-p MS] [--warmup-ms MS] [--max-requests N] [-b BATCH]
//               [--shape NAME:D1,D2,...] [--input-data zero|random]
//               [--percentile P] [-f FILE] [--timeout-ms MS]
//
// It reads the model's metadata and config, builds one request (every input;
// -1 dimensions from --shape; batch dimension -b), and for each concurrency
// level C runs C virtual clients that each send a request, wait for the answer
// and send the next: a warm-up phase, then a measured phase bracketed by two
// reads of the server's statistics. Both phases end with no request in flight,
// so the server's counters cover exactly the measured requests. Per level it
// prints (and with -f writes as JSON) throughput, client latency percentiles,
// errors, and the server's per-request queue/compute times and
// execution/inference counts.
//
// Thread safety: RunPerf runs on the calling thread and drives the load from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nereid::tools::perf {

struct PerfOptions {
  std::string model;              // -m, required
  std::string version;            // -x; empty: the server's choice
  std::string url;                // -u; empty: localhost:8000 (http) / localhost:8001 (grpc)
  std::string protocol = "http";  // -i: http | grpc
  std::string concurrency_range = "1";
  int measurement_interval_ms = 2000;  // -p
  int warmup_ms = 500;
  int64_t max_requests = 0;           // per phase; 0: bounded by time only
  int batch = 1;                      // -b
  std::vector<std::string> shapes;    // --shape NAME:D1,D2,...
  std::string input_data = "random";  // zero | random
  double percentile = 99;             // extra latency percentile reported
  std::string json_file;              // -f / --json
  int timeout_ms = 10000;             // per request (and per metadata/statistics call)
};

// Returns the process exit status: 0 when every level had successful
// requests, 1 on any error (bad flag values, unreachable server, unknown
// model, a level where every request failed); messages go to stderr.
int RunPerf(const PerfOptions& options);

}  // namespace nereid::tools::perf
