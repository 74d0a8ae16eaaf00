#include "core/scheduler/request_queue.h"

#include <algorithm>

namespace nereid::core {

RequestQueue::RequestQueue(SchedulerOptions options)
    : options_(std::move(options)),
      // Sized once: a Level (deques of move-only entries) is never copied.
      levels_(std::max<uint64_t>(options_.priority_levels, 1)) {
  std::sort(options_.preferred_batch_sizes.begin(), options_.preferred_batch_sizes.end());
  const size_t n = levels_.size();
  for (size_t i = 0; i < n; ++i) {
    auto it = options_.priority_policies.find(i + 1);
    levels_[i].policy =
        it != options_.priority_policies.end() ? it->second : options_.default_policy;
  }
}

size_t RequestQueue::LevelOf(uint64_t priority) const {
  if (priority == 0 || priority > levels_.size()) {
    const uint64_t def = options_.default_priority_level;
    return def >= 1 && def <= levels_.size() ? def : levels_.size();
  }
  return priority;
}

Status RequestQueue::Admit(const InferenceRequest& request) const {
  const Level& level = levels_[LevelOf(request.priority) - 1];
  const uint32_t max = level.policy.max_queue_size;
  if (max > 0 && level.size() >= max) {
    return Unavailable("inference request for model '" + request.model_name +
                       "' exceeds maximum queue size (" + std::to_string(max) + ")");
  }
  return Status::Ok();
}

Status RequestQueue::Enqueue(std::unique_ptr<InferenceRequest>& request, uint64_t now_ns) {
  RETURN_IF_ERROR(Admit(*request));
  Level& level = levels_[LevelOf(request->priority) - 1];
  const QueuePolicy& policy = level.policy;
  Entry e;
  e.enqueue_ns = now_ns;
  uint64_t timeout_us = policy.default_timeout_us;
  if (policy.allow_timeout_override && request->timeout_us != 0) timeout_us = request->timeout_us;
  if (timeout_us != 0) {
    e.deadline_ns = now_ns + timeout_us * 1000;
    next_deadline_ns_ = std::min(next_deadline_ns_, e.deadline_ns);
  }
  if (options_.dynamic_batching && options_.max_batch_size > 0) {
    e.items = std::max<int64_t>(request->batch_size, 1);
  }
  e.request = std::move(request);
  level.queue.push_back(std::move(e));
  ++size_;
  return Status::Ok();
}

void RequestQueue::ExpireTimeouts(uint64_t now_ns,
                                  std::vector<std::unique_ptr<InferenceRequest>>* rejected) {
  if (now_ns < next_deadline_ns_) return;
  uint64_t next = UINT64_MAX;
  for (Level& level : levels_) {
    std::deque<Entry> kept;
    for (Entry& e : level.queue) {
      if (e.deadline_ns == 0 || e.deadline_ns > now_ns) {
        if (e.deadline_ns != 0) next = std::min(next, e.deadline_ns);
        kept.push_back(std::move(e));
      } else if (level.policy.delay_on_timeout) {
        e.deadline_ns = 0;
        level.delayed.push_back(std::move(e));
      } else {
        rejected->push_back(std::move(e.request));
        --size_;
      }
    }
    level.queue.swap(kept);
  }
  next_deadline_ns_ = next;
}

template <typename Fn>
void RequestQueue::ForEach(Fn&& fn) const {
  for (const Level& level : levels_) {
    for (const Entry& e : level.queue) {
      if (!fn(e)) return;
    }
    for (const Entry& e : level.delayed) {
      if (!fn(e)) return;
    }
  }
}

bool RequestQueue::Compatible(const InferenceRequest& a, const InferenceRequest& b) const {
  if (a.inputs.size() != b.inputs.size()) return false;
  const size_t skip = options_.max_batch_size > 0 ? 1 : 0;
  for (const RequestInput& in : a.inputs) {
    const RequestInput* other = b.FindInput(in.name);
    if (!other || other->tensor.dtype != in.tensor.dtype) return false;
    if (options_.ragged_inputs.count(in.name)) continue;
    const Shape& x = in.tensor.shape;
    const Shape& y = other->tensor.shape;
    if (x.size() != y.size() || !std::equal(x.begin() + std::min(skip, x.size()), x.end(),
                                            y.begin() + std::min(skip, y.size()))) {
      return false;
    }
  }
  return true;
}

RequestQueue::Decision RequestQueue::Next(uint64_t now_ns, bool flush) const {
  Decision d;
  if (size_ == 0) {
    d.wake_ns = next_deadline_ns_;
    return d;
  }
  if (!options_.dynamic_batching) {
    d.count = 1;
    return d;
  }
  const int64_t max_items = std::max<int64_t>(options_.max_batch_size, 1);
  const auto& preferred = options_.preferred_batch_sizes;
  const int64_t target =
      preferred.empty() ? max_items : std::min<int64_t>(preferred.back(), max_items);
  const InferenceRequest* first = nullptr;
  int64_t total = 0;
  size_t count = 0, best_preferred = 0;
  uint64_t oldest_ns = UINT64_MAX;
  bool closed = false;  // the batch cannot grow: send it now
  ForEach([&](const Entry& e) {
    if (e.request->is_cancelled()) {  // removed when popped; takes no room
      ++count;
      return true;
    }
    if (first && (total + e.items > max_items || !Compatible(*first, *e.request))) {
      closed = true;
      return false;
    }
    if (!first) first = e.request.get();
    total += e.items;
    ++count;
    oldest_ns = std::min(oldest_ns, e.enqueue_ns);
    if (std::binary_search(preferred.begin(), preferred.end(), total)) best_preferred = count;
    if (total >= target) {
      closed = true;
      return false;
    }
    return true;
  });
  if (!first) {  // only cancelled requests: pop them now
    d.count = count;
    return d;
  }
  const uint64_t delay_ns = options_.max_queue_delay_us * 1000;
  const bool delay_over = flush || delay_ns == 0 || now_ns - oldest_ns >= delay_ns;
  if (closed) {
    d.count = count;
  } else if (delay_over) {
    d.count = best_preferred > 0 ? best_preferred : count;
  } else {
    d.wake_ns = std::min(oldest_ns + delay_ns, next_deadline_ns_);
  }
  return d;
}

void RequestQueue::PopFront(size_t count, std::vector<std::unique_ptr<InferenceRequest>>* batch,
                            std::vector<std::unique_ptr<InferenceRequest>>* cancelled) {
  for (Level& level : levels_) {
    for (std::deque<Entry>* q : {&level.queue, &level.delayed}) {
      while (count > 0 && !q->empty()) {
        auto r = std::move(q->front().request);
        q->pop_front();
        --size_;
        --count;
        (r->is_cancelled() ? cancelled : batch)->push_back(std::move(r));
      }
    }
  }
}

}  // namespace nereid::core
