// RequestQueue: the queue of a model's waiting requests and the decision of
// which of them form the next batch (Triton's dynamic batcher and queue
// policies), as plain data structures without threads or clocks, so every
// rule is tested with explicit timestamps.
//
//   * Priority levels 1..N (1 is served first), each with its queue policy:
//     a bounded size (a full level refuses at once: load shedding), a default
//     timeout a request may override, and what happens on timeout: REJECT
//     (the request fails) or DELAY (it moves behind every non-delayed request
//     of its level).
//   * A batch is a run of requests from the front of the queue in priority
//     order, closed by the first request whose input names or non-batch
//     shapes differ (inputs with allow_ragged_batch excepted), or that would
//     take the batch past max_batch_size. A request whose own batch is > 1
//     counts as that many items.
//   * The batch goes at once when it reached the largest preferred batch size
//     (or max_batch_size), or could not grow (closed as above); otherwise it
//     waits until its oldest request has waited max_queue_delay, and then
//     sends the largest preferred size it can form, else everything.
//   * Without dynamic batching every request is a batch of its own.
//
// Thread safety: none; the scheduler guards it with its mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/request/inference_request.h"

namespace nereid::core {

struct QueuePolicy {
  bool delay_on_timeout = false;  // timeout_action DELAY (else REJECT)
  uint64_t default_timeout_us = 0;  // 0: no timeout
  bool allow_timeout_override = false;
  uint32_t max_queue_size = 0;  // 0: unbounded
};

// The scheduling part of a model config, free of protobuf
// (scheduler_options.h builds it from a ModelConfig).
struct SchedulerOptions {
  bool dynamic_batching = false;
  int64_t max_batch_size = 0;                 // 0: the model does not batch
  std::vector<int64_t> preferred_batch_sizes;  // ascending
  uint64_t max_queue_delay_us = 0;
  bool preserve_ordering = false;
  uint64_t priority_levels = 0;  // 0: a single level
  uint64_t default_priority_level = 0;
  QueuePolicy default_policy;
  std::map<uint64_t, QueuePolicy> priority_policies;  // level -> policy
  std::set<std::string> ragged_inputs;                 // allow_ragged_batch
  // Decoupled model: responses stream as they come, so preserve_ordering
  // (which orders whole responses) does not apply.
  bool decoupled = false;
};

class RequestQueue {
 public:
  explicit RequestQueue(SchedulerOptions options);

  // Unavailable("... exceeds maximum queue size") when the level `request`
  // would be queued at is full; Enqueue succeeds otherwise.
  Status Admit(const InferenceRequest& request) const;

  // Queues `request` at its priority level (0 or beyond the levels: the
  // default level, as Triton does). When the level is full the request stays
  // in `request` and Unavailable("... exceeds maximum queue size") is
  // returned.
  Status Enqueue(std::unique_ptr<InferenceRequest>& request, uint64_t now_ns);

  // Applies timeouts due at `now_ns`: REJECT moves the request to
  // `*rejected`, DELAY to the end of its level's delayed queue.
  void ExpireTimeouts(uint64_t now_ns, std::vector<std::unique_ptr<InferenceRequest>>* rejected);

  struct Decision {
    size_t count = 0;              // requests from the front forming a batch; 0: none yet
    uint64_t wake_ns = UINT64_MAX;  // when count == 0: when to decide again
  };
  // The next batch at `now_ns`. `flush` sends whatever can be batched without
  // waiting for the queue delay (used while stopping).
  Decision Next(uint64_t now_ns, bool flush = false) const;

  // Removes the first `count` requests into `*batch`, except cancelled ones,
  // which go to `*cancelled`.
  void PopFront(size_t count, std::vector<std::unique_ptr<InferenceRequest>>* batch,
                std::vector<std::unique_ptr<InferenceRequest>>* cancelled);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const SchedulerOptions& options() const { return options_; }
  // The level (1-based) a request of `priority` is queued at.
  size_t LevelOf(uint64_t priority) const;

 private:
  struct Entry {
    std::unique_ptr<InferenceRequest> request;
    uint64_t enqueue_ns = 0;
    uint64_t deadline_ns = 0;  // 0: never times out
    int64_t items = 1;
  };
  struct Level {
    QueuePolicy policy;
    std::deque<Entry> queue;
    std::deque<Entry> delayed;  // timed out under DELAY
    size_t size() const { return queue.size() + delayed.size(); }
  };
  // Calls fn(entry) over the queue in service order until it returns false.
  template <typename Fn>
  void ForEach(Fn&& fn) const;
  bool Compatible(const InferenceRequest& a, const InferenceRequest& b) const;

  SchedulerOptions options_;
  std::vector<Level> levels_;  // index 0 = level 1
  size_t size_ = 0;
  uint64_t next_deadline_ns_ = UINT64_MAX;  // earliest pending timeout
};

}  // namespace nereid::core
