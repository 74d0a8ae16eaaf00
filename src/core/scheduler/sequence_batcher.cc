#include "core/scheduler/sequence_batcher.h"

#include <algorithm>
#include <cstring>

#include "core/scheduler/execution.h"

namespace nereid::core {

struct SequenceBatchScheduler::Sequence {
  std::string key;  // "u:<id>" or "s:<id>"
  std::string label;  // the ID as users see it
  uint64_t id = 0;
  std::string id_string;
  std::deque<std::unique_ptr<InferenceRequest>> pending;
  bool started = false;  // its first request has been handed to the instance
  bool ended = false;    // END received: no more requests
  bool executing = false;
  uint64_t last_activity_ns = 0;
  std::map<std::string, Tensor> state;  // state input name -> value (absent: initial)
};

namespace {

std::string SequenceKey(const InferenceRequest& r) {
  if (!r.sequence_id_string.empty()) return "s:" + r.sequence_id_string;
  if (r.sequence_id != 0) return "u:" + std::to_string(r.sequence_id);
  return "";
}

// One element of `dtype` holding `value` (flags, numeric CORRID).
void WriteScalar(DataType dtype, double value, uint64_t id, char* out) {
  switch (dtype) {
    case DataType::kBool: *reinterpret_cast<bool*>(out) = value != 0; break;
    case DataType::kInt32: *reinterpret_cast<int32_t*>(out) = static_cast<int32_t>(value); break;
    case DataType::kUint32: *reinterpret_cast<uint32_t*>(out) = static_cast<uint32_t>(id); break;
    case DataType::kInt64: *reinterpret_cast<int64_t*>(out) = static_cast<int64_t>(id); break;
    case DataType::kUint64: *reinterpret_cast<uint64_t*>(out) = id; break;
    case DataType::kFp32: *reinterpret_cast<float*>(out) = static_cast<float>(value); break;
    default: break;
  }
}

}  // namespace

SequenceBatchScheduler::SequenceBatchScheduler(
    std::string model_name, SequenceOptions options,
    std::vector<std::unique_ptr<ModelInstance>> instances, Clock& clock, ModelStatistics* stats,
    std::vector<std::unique_ptr<RateLimiter::Client>> limits)
    : model_name_(std::move(model_name)),
      options_(std::move(options)),
      clock_(clock),
      stats_(stats),
      instances_(std::move(instances)),
      limits_(std::move(limits)),
      assigned_(instances_.size()) {
  for (size_t i = 0; i < instances_.size(); ++i) {
    threads_.emplace_back([this, i] { RunInstance(i); });
  }
}

SequenceBatchScheduler::~SequenceBatchScheduler() { Stop(); }

void SequenceBatchScheduler::Fail(std::unique_ptr<InferenceRequest> request, const Status& status,
                                  FailureReason reason) {
  const uint64_t now = clock_.NowNs();
  if (stats_) {
    stats_->RecordFailure(request->received_ns ? request->received_ns : now, now, reason);
  }
  request->CompleteWithError(status);
}

void SequenceBatchScheduler::Enqueue(std::unique_ptr<InferenceRequest> request) {
  const std::string key = SequenceKey(*request);
  const std::string label =
      key.empty() ? "" : (key[0] == 's' ? "'" + key.substr(2) + "'" : key.substr(2));
  Status refused;
  FailureReason reason = FailureReason::kOther;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t now = clock_.NowNs();
    if (stopping_) {
      refused = Unavailable("model '" + model_name_ + "' is being unloaded");
    } else if (key.empty()) {
      refused = InvalidArgument("inference request to model '" + model_name_ +
                                "' must specify a non-zero or non-empty correlation ID "
                                "(parameter sequence_id): it is a sequence model");
    } else if (Status typed = CheckIdType(*request); !typed.ok()) {
      refused = typed;
    } else {
      auto it = live_.find(key);
      std::shared_ptr<Sequence> seq;
      if (request->sequence_start) {
        if (it != live_.end()) {
          refused = InvalidArgument("sequence " + label + " of model '" + model_name_ +
                                    "' is already active: a second request with sequence_start "
                                    "needs the sequence to end first (sequence_end)");
        } else {
          seq = std::make_shared<Sequence>();
          seq->key = key;
          seq->label = label;
          seq->id = request->sequence_id;
          seq->id_string = request->sequence_id_string;
          live_[key] = seq;
          backlog_.push_back(seq);
          AssignBacklogLocked();
        }
      } else if (it == live_.end()) {
        refused = InvalidArgument(
            "inference request for sequence " + label + " to model '" + model_name_ +
            "' must specify the START flag (sequence_start) on the first request of the "
            "sequence; the sequence is not active (never started, ended, or idle for longer "
            "than max_sequence_idle_microseconds)");
      } else {
        seq = it->second;
      }
      if (seq) {
        request->enqueue_ns = now;
        if (request->received_ns == 0) request->received_ns = now;
        seq->last_activity_ns = now;
        if (request->sequence_end) {
          seq->ended = true;
          live_.erase(key);  // the same ID may start again; this one drains
        }
        seq->pending.push_back(std::move(request));
        if (stats_) stats_->RequestQueued();
        cv_.notify_all();
        return;
      }
    }
  }
  Fail(std::move(request), refused, reason);
}

Status SequenceBatchScheduler::CheckIdType(const InferenceRequest& request) const {
  for (const SequenceControl& c : options_.controls) {
    if (c.kind != SequenceControl::Kind::kCorrId) continue;
    const bool wants_string = c.dtype == DataType::kBytes;
    const bool is_string = !request.sequence_id_string.empty();
    if (wants_string != is_string) {
      return InvalidArgument("model '" + model_name_ + "' takes " +
                             (wants_string ? "string" : "integer") +
                             " correlation IDs (its CONTROL_SEQUENCE_CORRID input '" + c.input +
                             "' is " + (wants_string ? "TYPE_STRING" : "numeric") +
                             "), but sequence_id is " + (is_string ? "a string" : "an integer"));
    }
  }
  return Status::Ok();
}

void SequenceBatchScheduler::AssignBacklogLocked() {
  const size_t cap = static_cast<size_t>(std::max<int64_t>(options_.slots_per_instance, 1));
  while (!backlog_.empty()) {
    size_t best = assigned_.size();
    for (size_t i = 0; i < assigned_.size(); ++i) {
      if (assigned_[i].size() < cap &&
          (best == assigned_.size() || assigned_[i].size() < assigned_[best].size())) {
        best = i;
      }
    }
    if (best == assigned_.size()) return;  // every slot is taken
    assigned_[best].push_back(std::move(backlog_.front()));
    backlog_.pop_front();
    cv_.notify_all();
  }
}

uint64_t SequenceBatchScheduler::ReleaseAndAssignLocked(size_t index, uint64_t now) {
  const uint64_t idle_ns = options_.max_sequence_idle_us * 1000;
  uint64_t next = UINT64_MAX;
  auto& mine = assigned_[index];
  bool freed = false;
  for (auto it = mine.begin(); it != mine.end();) {
    Sequence& s = **it;
    const bool quiet = s.pending.empty() && !s.executing;
    const uint64_t deadline = s.last_activity_ns + idle_ns;
    // While stopping, quiet sequences give their slots to the backlog at once.
    if (quiet && (s.ended || stopping_ || now >= deadline)) {
      if (!s.ended) live_.erase(s.key);  // idle: released with its state
      it = mine.erase(it);
      freed = true;
      continue;
    }
    if (quiet) next = std::min(next, deadline);
    ++it;
  }
  if (freed) AssignBacklogLocked();
  return next;
}

size_t SequenceBatchScheduler::active_sequences() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = backlog_.size();
  for (const auto& v : assigned_) n += v.size();
  return n;
}

void SequenceBatchScheduler::Prepare(InferenceRequest* request,
                                     const std::shared_ptr<Sequence>& seq, bool first) {
  const bool batched = options_.max_batch_size > 0;
  auto tensors = std::make_shared<std::vector<Tensor>>();
  tensors->reserve(options_.controls.size() + options_.states.size());
  std::vector<std::string> names;
  for (const SequenceControl& c : options_.controls) {
    const Shape shape = batched ? Shape{1, 1} : Shape{1};
    Tensor t;
    if (c.kind == SequenceControl::Kind::kCorrId && c.dtype == DataType::kBytes) {
      const std::string& v = seq->id_string.empty() ? std::to_string(seq->id) : seq->id_string;
      t = Tensor::Allocate(DataType::kBytes, shape, 4 + v.size());
      const uint32_t n = static_cast<uint32_t>(v.size());
      std::memcpy(t.mutable_data(), &n, 4);
      std::memcpy(t.mutable_data() + 4, v.data(), v.size());
    } else {
      t = Tensor::AllocateDense(c.dtype, shape);
      double value = 0;
      switch (c.kind) {
        case SequenceControl::Kind::kStart: value = first ? c.true_value : c.false_value; break;
        case SequenceControl::Kind::kEnd:
          value = request->sequence_end ? c.true_value : c.false_value;
          break;
        case SequenceControl::Kind::kReady: value = c.true_value; break;
        case SequenceControl::Kind::kCorrId: value = static_cast<double>(seq->id); break;
      }
      WriteScalar(c.dtype, value, seq->id, t.mutable_data());
    }
    tensors->push_back(std::move(t));
    names.push_back(c.input);
  }
  for (const SequenceState& st : options_.states) {
    auto it = first ? seq->state.end() : seq->state.find(st.input);
    if (it != seq->state.end()) {
      tensors->push_back(it->second);  // shares the kept output's storage
    } else {
      Shape shape = st.initial_shape;
      if (batched) shape.insert(shape.begin(), 1);
      Tensor t = Tensor::AllocateDense(st.dtype, shape);
      if (st.initial_data.size() == t.byte_size()) {
        std::memcpy(t.mutable_data(), st.initial_data.data(), t.byte_size());
      } else {
        std::memset(t.mutable_data(), 0, t.byte_size());
      }
      tensors->push_back(std::move(t));
    }
    names.push_back(st.input);
  }
  for (size_t i = 0; i < tensors->size(); ++i) {
    request->inputs.push_back({names[i], (*tensors)[i].view(), {}});
  }
  struct Owners {
    std::shared_ptr<const void> previous;
    std::shared_ptr<std::vector<Tensor>> added;
  };
  request->buffer_owner =
      std::make_shared<Owners>(Owners{std::move(request->buffer_owner), std::move(tensors)});
  if (options_.states.empty()) return;
  // Keep the state outputs for the next request; the client never sees them.
  ResponseCallback inner = request->TakeCallback();
  request->set_callback([this, seq, inner = std::move(inner)](
                            std::unique_ptr<InferenceResponse> response) mutable {
    if (response->status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const SequenceState& st : options_.states) {
        auto& outs = response->outputs;
        for (auto it = outs.begin(); it != outs.end(); ++it) {
          if (it->name == st.output) {
            seq->state[st.input] = std::move(it->tensor);
            outs.erase(it);
            break;
          }
        }
      }
    }
    if (inner) inner(std::move(response));
  });
}

void SequenceBatchScheduler::Stop() { StopAndJoin(mu_, cv_, &stopping_, &threads_); }

void SequenceBatchScheduler::RunInstance(size_t index) {
  const size_t max_batch = static_cast<size_t>(std::max<int64_t>(options_.max_batch_size, 1));
  const uint64_t delay_ns = options_.max_queue_delay_us * 1000;
  RateLimiter::Client* limit = index < limits_.size() ? limits_[index].get() : nullptr;
  for (;;) {
    std::vector<std::unique_ptr<InferenceRequest>> batch, cancelled;
    std::vector<std::pair<std::shared_ptr<Sequence>, bool>> used;  // sequence, first request
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        const uint64_t now = clock_.NowNs();
        uint64_t wake = ReleaseAndAssignLocked(index, now);
        std::vector<std::shared_ptr<Sequence>> ready;
        for (auto& s : assigned_[index]) {
          if (!s->pending.empty()) ready.push_back(s);
        }
        std::sort(ready.begin(), ready.end(), [](const auto& a, const auto& b) {
          return a->pending.front()->enqueue_ns < b->pending.front()->enqueue_ns;
        });
        if (ready.size() > max_batch) ready.resize(max_batch);
        if (!ready.empty()) {
          const uint64_t oldest = ready.front()->pending.front()->enqueue_ns;
          if (ready.size() == max_batch || delay_ns == 0 || stopping_ ||
              now - oldest >= delay_ns) {
            for (auto& s : ready) {
              auto r = std::move(s->pending.front());
              s->pending.pop_front();
              s->last_activity_ns = now;
              const bool first = !s->started;
              if (r->is_cancelled()) {  // never ran: the next request still STARTs
                cancelled.push_back(std::move(r));
                continue;
              }
              s->started = true;
              s->executing = true;
              used.emplace_back(s, first);
              batch.push_back(std::move(r));
            }
            break;
          }
          wake = std::min(wake, oldest + delay_ns);
        }
        if (stopping_) {
          bool any = !backlog_.empty();
          for (auto& s : assigned_[index]) any |= !s->pending.empty();
          if (!any) return;
          if (ready.empty() && !backlog_.empty()) {
            // Another instance's slot frees up for the backlog; it notifies.
            wake = std::min(wake, now + 1000000);
          }
        }
        clock_.WaitUntil(lock, cv_, wake);
      }
    }
    if (stats_) {
      for (size_t i = 0; i < batch.size() + cancelled.size(); ++i) stats_->RequestDequeued();
    }
    for (auto& r : cancelled) {
      Fail(std::move(r),
           Cancelled("the request for model '" + model_name_ +
                     "' was cancelled by the client before it ran"),
           FailureReason::kCanceled);
    }
    if (batch.empty()) continue;
    for (size_t i = 0; i < batch.size(); ++i) Prepare(batch[i].get(), used[i].first, used[i].second);
    RateLimiter::Grant grant;
    if (limit) grant = limit->Acquire();
    ExecuteBatch(model_name_, instances_[index].get(), batch, clock_, stats_);
    grant.Release();
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t now = clock_.NowNs();
    for (auto& [s, first] : used) {
      s->executing = false;
      s->last_activity_ns = now;
    }
    cv_.notify_all();
  }
}

}  // namespace nereid::core
