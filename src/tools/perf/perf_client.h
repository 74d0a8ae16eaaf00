// PerfClient: what `nereid perf` needs from a protocol (HTTP or gRPC): the
// model's description, its statistics, and closed-loop load phases.
//
// A phase runs `concurrency` virtual clients, each of which sends one request,
// waits for its answer (or its timeout), and sends the next, until the phase's
// time is up or `max_requests` were sent; then it waits for the requests still
// out (each bounded by the timeout) and returns. So a phase always ends within
// duration + timeout, whatever the server does, and when it returns no request
// is in flight: statistics read right after it cover exactly its requests.
//
// Thread safety: none; one thread calls a PerfClient. Both implementations
// drive all virtual clients from the calling thread (an event loop), so the
// client's own cost is one thread whichever the concurrency.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/perf/perf_inputs.h"
#include "tools/perf/perf_stats.h"

namespace nereid::tools::perf {

struct PhaseOptions {
  int concurrency = 1;
  std::chrono::milliseconds duration{1000};
  int64_t max_requests = 0;  // requests sent in the phase at most; 0: no bound
};

struct PhaseResult {
  std::vector<uint64_t> latencies_ns;  // one per successful request
  int64_t errors = 0;                  // failed or timed-out requests
  std::string first_error;
  // From the phase's start to its last completion.
  std::chrono::nanoseconds elapsed{0};
};

class PerfClient {
 public:
  virtual ~PerfClient() = default;

  // "http://localhost:8000" / "grpc://localhost:8001", for messages.
  virtual std::string url() const = 0;

  // Metadata and config (max_batch_size) of `model`; `version` empty: the
  // server's choice. Unreachable server: Unavailable "cannot connect to URL: ...";
  // other failures carry the server's message.
  virtual StatusOr<ModelInfo> GetModelInfo(const std::string& model,
                                           const std::string& version) = 0;

  // The model's statistics, summed over the versions the server reports.
  virtual StatusOr<ServerStats> GetStats(const std::string& model, const std::string& version) = 0;

  // Builds the infer request sent by every later phase (once: phases only
  // copy or reference it).
  virtual Status SetRequest(const std::string& model, const std::string& version,
                            const std::vector<InputTensor>& inputs) = 0;

  virtual PhaseResult RunPhase(const PhaseOptions& options) = 0;
};

}  // namespace nereid::tools::perf
