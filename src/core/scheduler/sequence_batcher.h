// SequenceBatchScheduler: Triton's sequence batcher for stateful models.
//
// Requests carry a correlation ID (request parameter `sequence_id`, uint64
// or string) and the flags `sequence_start` / `sequence_end`. A sequence
// begins with START and is bound to one instance for its whole life (a slot
// of that instance; `slots_per_instance` sequences per instance at once,
// later sequences wait in a backlog until a slot frees). Because an instance
// runs one batch at a time and a batch holds at most one request of each
// sequence, a sequence's requests execute one after another, in order.
//
// A batch is the oldest waiting request of up to max_batch_size of the
// instance's sequences; it goes at once when full, when
// max_queue_delay_microseconds is 0, or when its oldest request has waited
// that long. Every request is given the model's control inputs (START, END,
// READY, CORRID; int32, fp32 or bool forms) and its implicit state inputs
// (the state output of the sequence's previous request, or the initial
// state); state outputs are kept by the scheduler and removed from the
// response. A sequence with no request for max_sequence_idle_microseconds is
// released with its slot and state. Errors: no correlation ID, a non-START
// request for a sequence that is not active, START for an active sequence,
// a string ID for a numeric CORRID control or the reverse.
//
// Deviation from Triton: batches hold only the sequences that have a
// request ready (the direct strategy does not pad empty slots with READY=0
// requests); the oldest strategy shares this batching rule.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/tensor.h"
#include "core/backend/backend.h"
#include "core/scheduler/rate_limiter.h"
#include "core/scheduler/scheduler.h"
#include "core/statistics.h"

namespace nereid::core {

struct SequenceControl {
  enum class Kind { kStart, kEnd, kReady, kCorrId };
  Kind kind = Kind::kStart;
  std::string input;                 // the model input that receives it
  DataType dtype = DataType::kInt32;  // flags: int32/fp32/bool; CORRID: (u)int32/64 or BYTES
  double false_value = 0, true_value = 1;
};

struct SequenceState {
  std::string input, output;  // model input fed, model output kept
  DataType dtype = DataType::kFp32;
  Shape initial_shape;      // without the batch dimension; all >= 0
  std::string initial_data;  // raw bytes of the initial state; empty: zeros
};

struct SequenceOptions {
  int64_t max_batch_size = 0;
  uint64_t max_sequence_idle_us = 1000000;
  uint64_t max_queue_delay_us = 0;
  int64_t slots_per_instance = 1;
  std::vector<SequenceControl> controls;
  std::vector<SequenceState> states;
};

class SequenceBatchScheduler final : public Scheduler {
 public:
  // `limits`: empty or one rate limiter registration per instance.
  SequenceBatchScheduler(std::string model_name, SequenceOptions options,
                         std::vector<std::unique_ptr<ModelInstance>> instances, Clock& clock,
                         ModelStatistics* stats = nullptr,
                         std::vector<std::unique_ptr<RateLimiter::Client>> limits = {});
  ~SequenceBatchScheduler() override;

  void Enqueue(std::unique_ptr<InferenceRequest> request) override;
  // Refuses new requests, runs every queued one, joins the threads.
  void Stop() override;

  // Sequences currently holding a slot or waiting for one (for tests).
  size_t active_sequences() const;

 private:
  struct Sequence;
  void RunInstance(size_t index);
  // With mu_ held: frees slots of ended/idle sequences of `index` and fills
  // free slots from the backlog. Returns the next idle deadline.
  uint64_t ReleaseAndAssignLocked(size_t index, uint64_t now);
  void AssignBacklogLocked();
  // The request's ID type must match a CONTROL_SEQUENCE_CORRID input's.
  Status CheckIdType(const InferenceRequest& request) const;
  // Adds control and state inputs and wraps the callback to keep the state.
  void Prepare(InferenceRequest* request, const std::shared_ptr<Sequence>& seq, bool first);
  void Fail(std::unique_ptr<InferenceRequest> request, const Status& status, FailureReason reason);

  const std::string model_name_;
  const SequenceOptions options_;
  Clock& clock_;
  ModelStatistics* stats_;
  std::vector<std::unique_ptr<ModelInstance>> instances_;
  std::vector<std::unique_ptr<RateLimiter::Client>> limits_;
  std::vector<std::thread> threads_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Sequence>> live_;          // correlation key -> not ended
  std::vector<std::vector<std::shared_ptr<Sequence>>> assigned_;  // per instance
  std::deque<std::shared_ptr<Sequence>> backlog_;
  bool stopping_ = false;
};

}  // namespace nereid::core
