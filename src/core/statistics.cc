#include "core/statistics.h"

#include <algorithm>
#include <cstddef>

namespace nereid::core {
namespace {

// Clamped difference: a timestamp a backend never set (0) or one taken out of
// order must not wrap around to a huge duration.
uint64_t Span(uint64_t from, uint64_t to) { return to > from ? to - from : 0; }

void Add(DurationStat* d, uint64_t ns) {
  d->count += 1;
  d->ns += ns;
}

}  // namespace

const char* FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kRejected:
      return "REJECTED";
    case FailureReason::kCanceled:
      return "CANCELED";
    case FailureReason::kBackend:
      return "BACKEND";
    case FailureReason::kOther:
      break;
  }
  return "OTHER";
}

ModelStatistics::ModelStatistics(std::string name, int64_t version, Clock& clock)
    : name_(std::move(name)), version_(version), clock_(clock) {}

template <typename T>
void ModelStatistics::Ring<T>::Push(const T& v) {
  if (items.size() < kRecentLatencies) {
    items.push_back(v);
  } else {
    items[next] = v;
  }
  next = (next + 1) % kRecentLatencies;
}

template <typename T>
std::vector<T> ModelStatistics::Ring<T>::Ordered() const {
  if (items.size() < kRecentLatencies) return items;
  std::vector<T> out;
  out.reserve(items.size());
  out.insert(out.end(), items.begin() + static_cast<std::ptrdiff_t>(next), items.end());
  out.insert(out.end(), items.begin(), items.begin() + static_cast<std::ptrdiff_t>(next));
  return out;
}

RequestLatency LatencyOf(const RequestTimestamps& t) {
  RequestLatency l;
  l.request_ns = Span(t.received_ns, t.end_ns);
  l.queue_ns = Span(t.queue_start_ns, t.compute_start_ns);
  l.compute_input_ns = Span(t.compute_start_ns, t.infer_start_ns);
  l.compute_infer_ns = Span(t.infer_start_ns, t.infer_end_ns);
  l.compute_output_ns = Span(t.infer_end_ns, t.end_ns);
  return l;
}

void ModelStatistics::RecordSuccess(const RequestLatency& l) {
  const uint64_t wall_ms = clock_.WallMs();
  std::lock_guard<std::mutex> lock(mu_);
  Add(&s_.success, l.request_ns);
  Add(&s_.queue, l.queue_ns);
  Add(&s_.compute_input, l.compute_input_ns);
  Add(&s_.compute_infer, l.compute_infer_ns);
  Add(&s_.compute_output, l.compute_output_ns);
  s_.last_inference_ms = std::max(s_.last_inference_ms, wall_ms);
  ring_.Push(l);
}

void ModelStatistics::RecordCacheHit(uint64_t received_ns, uint64_t lookup_start_ns,
                                     uint64_t lookup_end_ns, uint64_t end_ns) {
  const uint64_t hit_ns = Span(lookup_start_ns, lookup_end_ns);
  const uint64_t wall_ms = clock_.WallMs();
  std::lock_guard<std::mutex> lock(mu_);
  Add(&s_.success, Span(received_ns, end_ns));
  Add(&s_.queue, 0);
  Add(&s_.cache_hit, hit_ns);
  s_.last_inference_ms = std::max(s_.last_inference_ms, wall_ms);
  hit_ring_.Push(hit_ns);
}

void ModelStatistics::RecordCacheMiss(uint64_t ns) {
  std::lock_guard<std::mutex> lock(mu_);
  s_.success.ns += ns;
  Add(&s_.cache_miss, ns);
  miss_ring_.Push(ns);
}

void ModelStatistics::SetCacheEnabled(bool enabled) {
  std::lock_guard<std::mutex> lock(mu_);
  s_.cache_enabled = enabled;
}

void ModelStatistics::RecordFailure(uint64_t received_ns, uint64_t end_ns, FailureReason reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Add(&s_.fail, Span(received_ns, end_ns));
  s_.failures_by_reason[static_cast<int>(reason)] += 1;
}

void ModelStatistics::RecordExecution(uint64_t batch_size, uint64_t compute_start_ns,
                                      uint64_t infer_start_ns, uint64_t infer_end_ns,
                                      uint64_t end_ns) {
  RecordExecutionDurations(batch_size, Span(compute_start_ns, infer_start_ns),
                           Span(infer_start_ns, infer_end_ns), Span(infer_end_ns, end_ns));
}

void ModelStatistics::RecordExecutionDurations(uint64_t batch_size, uint64_t compute_input_ns,
                                               uint64_t compute_infer_ns,
                                               uint64_t compute_output_ns) {
  if (batch_size == 0) batch_size = 1;
  const uint64_t wall_ms = clock_.WallMs();
  std::lock_guard<std::mutex> lock(mu_);
  s_.inference_count += batch_size;
  s_.execution_count += 1;
  s_.last_inference_ms = std::max(s_.last_inference_ms, wall_ms);
  BatchStat& b = batches_[batch_size];
  b.batch_size = batch_size;
  Add(&b.compute_input, compute_input_ns);
  Add(&b.compute_infer, compute_infer_ns);
  Add(&b.compute_output, compute_output_ns);
}

void ModelStatistics::RequestQueued() {
  std::lock_guard<std::mutex> lock(mu_);
  s_.pending_requests += 1;
}

void ModelStatistics::RequestDequeued() {
  std::lock_guard<std::mutex> lock(mu_);
  if (s_.pending_requests > 0) s_.pending_requests -= 1;
}

void ModelStatistics::SetLoadDuration(uint64_t ns) {
  std::lock_guard<std::mutex> lock(mu_);
  s_.load_duration_ns = ns;
}

ModelStatsSnapshot ModelStatistics::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModelStatsSnapshot out = s_;
  out.name = name_;
  out.version = version_;
  out.batch_stats.reserve(batches_.size());
  for (const auto& [size, b] : batches_) out.batch_stats.push_back(b);
  out.recent = ring_.Ordered();
  out.recent_cache_hit_ns = hit_ring_.Ordered();
  out.recent_cache_miss_ns = miss_ring_.Ordered();
  return out;
}

}  // namespace nereid::core
