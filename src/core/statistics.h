// ModelStatistics: per model version inference statistics (Triton's
// statistics extension) and the request counters Prometheus metrics are
// built from. Recorded by core (server and scheduler) with the injected
// Clock; the front ends only read snapshots.
//
// Units: durations in nanoseconds of Clock::NowNs; last_inference in
// milliseconds since the Unix epoch (Clock::WallMs).
//
// Semantics (as Triton):
//   success/fail    one per request, ns = request received -> completed
//   queue, compute_input/infer/output
//                   one per successful request
//   inference_count sum of the batch sizes of successful requests (a request
//                   of a model without batching counts 1)
//   execution_count executions (batches) with at least one success
//   batch_stats     per executed batch size: compute_input/infer/output
//   cache_hit       one per request answered from the response cache, ns =
//                   the lookup (building the key, finding the entry, making
//                   the response). A hit also counts one success (ns =
//                   received -> answered) and one queue (ns 0: it waits in no
//                   queue) but no compute_*, inference_count,
//                   execution_count or batch_stats (Triton's statistics
//                   extension: "DOES NOT include cache hits"); it does set
//                   last_inference (the doc's "last inference request made")
//   cache_miss      one per successful request that missed, ns = lookup +
//                   insertion, also added to its success ns (as Triton, the
//                   insertion happens after the scheduler timed the request)
//   recent          latencies of executed requests only (summaries); hits and
//                   misses keep their own recent durations
//
// Thread safety: every method is thread-safe; totals are updated under one
// mutex, so a snapshot is always internally consistent.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"

namespace nereid::core {

// Triton's `reason` label of nv_inference_request_failure.
enum class FailureReason { kRejected = 0, kCanceled, kBackend, kOther };
inline constexpr int kFailureReasonCount = 4;
const char* FailureReasonName(FailureReason reason);  // "REJECTED", ...

struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
  bool operator==(const DurationStat&) const = default;
};

struct BatchStat {
  uint64_t batch_size = 0;
  DurationStat compute_input;
  DurationStat compute_infer;
  DurationStat compute_output;
};

// Latencies of one successful request, for summaries (nanoseconds).
struct RequestLatency {
  uint64_t request_ns = 0;
  uint64_t queue_ns = 0;
  uint64_t compute_input_ns = 0;
  uint64_t compute_infer_ns = 0;
  uint64_t compute_output_ns = 0;
};

// A consistent copy of one version's statistics. Protocol-neutral: HTTP
// writes it as Triton's JSON, gRPC maps it onto ModelStatistics.
struct ModelStatsSnapshot {
  std::string name;
  int64_t version = 0;
  uint64_t last_inference_ms = 0;
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  DurationStat success, fail, queue, compute_input, compute_infer, compute_output;
  DurationStat cache_hit, cache_miss;
  std::vector<BatchStat> batch_stats;  // ascending batch_size
  // For metrics.
  std::array<uint64_t, kFailureReasonCount> failures_by_reason{};
  uint64_t pending_requests = 0;
  uint64_t load_duration_ns = 0;  // backend load + instance creation
  std::vector<RequestLatency> recent;  // last kRecentLatencies executed successes, oldest first
  // The response cache serves this version (config enable + --cache-config).
  bool cache_enabled = false;
  std::vector<uint64_t> recent_cache_hit_ns;   // last kRecentLatencies, oldest first
  std::vector<uint64_t> recent_cache_miss_ns;  // last kRecentLatencies, oldest first
};

// Timestamps of one request as it went through core (Clock::NowNs).
// compute_start: the execution started (queue end); infer_start/infer_end:
// the framework run (the backend marks them; without marks they equal
// compute_start and the completion time); end: the request completed.
struct RequestTimestamps {
  uint64_t received_ns = 0;
  uint64_t queue_start_ns = 0;
  uint64_t compute_start_ns = 0;
  uint64_t infer_start_ns = 0;
  uint64_t infer_end_ns = 0;
  uint64_t end_ns = 0;
};

// The durations of `t` (a pair of timestamps out of order counts zero).
RequestLatency LatencyOf(const RequestTimestamps& t);

class ModelStatistics {
 public:
  static constexpr size_t kRecentLatencies = 1024;

  ModelStatistics(std::string name, int64_t version, Clock& clock);
  ModelStatistics(const ModelStatistics&) = delete;
  ModelStatistics& operator=(const ModelStatistics&) = delete;

  Clock& clock() const { return clock_; }

  // A request completed with outputs.
  void RecordSuccess(const RequestTimestamps& t) { RecordSuccess(LatencyOf(t)); }
  // The same from durations (an ensemble reports sums over its steps).
  void RecordSuccess(const RequestLatency& latency);
  // A request completed with an error (also before it was queued).
  void RecordFailure(uint64_t received_ns, uint64_t end_ns, FailureReason reason);
  // One execution that had at least one success; `batch_size` is the sum of
  // the successful requests' batch sizes. Timestamps as RequestTimestamps,
  // end_ns = the last request of the batch completed.
  void RecordExecution(uint64_t batch_size, uint64_t compute_start_ns, uint64_t infer_start_ns,
                       uint64_t infer_end_ns, uint64_t end_ns);
  // The same from durations.
  void RecordExecutionDurations(uint64_t batch_size, uint64_t compute_input_ns,
                                uint64_t compute_infer_ns, uint64_t compute_output_ns);

  // A request answered from the response cache: received -> lookup start
  // -> lookup end (the response is made) -> end (answered).
  void RecordCacheHit(uint64_t received_ns, uint64_t lookup_start_ns, uint64_t lookup_end_ns,
                      uint64_t end_ns);
  // A successful request that missed the cache, after its response was
  // inserted: `ns` = lookup + insertion.
  void RecordCacheMiss(uint64_t ns);
  void SetCacheEnabled(bool enabled);

  // Pending requests (queued, not yet executing).
  void RequestQueued();
  void RequestDequeued();

  // How long loading this version took (set once by the model manager).
  void SetLoadDuration(uint64_t ns);

  ModelStatsSnapshot Snapshot() const;

 private:
  const std::string name_;
  const int64_t version_;
  Clock& clock_;

  mutable std::mutex mu_;
  ModelStatsSnapshot s_;                   // guarded by mu_; recent unused
  std::map<uint64_t, BatchStat> batches_;  // guarded by mu_
  // Bounded rings of the last kRecentLatencies values; guarded by mu_.
  template <typename T>
  struct Ring {
    std::vector<T> items;
    size_t next = 0;
    void Push(const T& v);
    std::vector<T> Ordered() const;  // oldest first
  };
  Ring<RequestLatency> ring_;
  Ring<uint64_t> hit_ring_;
  Ring<uint64_t> miss_ring_;
};

}  // namespace nereid::core
