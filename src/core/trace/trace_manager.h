// Triton's trace extension (level TIMESTAMPS): which requests are traced,
// what is recorded for them, and where the records go.
//
// Settings exist globally and per model (a model setting that was never set,
// or was reset with null, follows the global one). Sampling: of the requests
// a setting governs, every trace_rate-th is traced while trace_count is not
// 0 (-1 = unlimited; each trace decrements a positive count). A traced
// request carries a Trace that front ends, core and the scheduler stamp
// (HTTP_RECV_END or GRPC_WAITREAD_END, REQUEST_START, QUEUE_START,
// COMPUTE_START, COMPUTE_END, REQUEST_END, HTTP_/GRPC_SEND_START and _END;
// steady-clock ns). When the
// last reference to a Trace goes, it becomes one JSON object
// {"id","model_name","model_version","timestamps":[{"name","ns"}]} of the
// trace file, which is a JSON array: with log_frequency 0 the traces are
// written to trace_file at Flush() (shutdown); with log_frequency N every N
// traces go to trace_file.<k>, k = 0, 1, ...
//
// When no setting has a level other than OFF, Start() costs one relaxed
// atomic load.
//
// Thread safety: every method is thread-safe; a Trace may be stamped from
// several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace nereid::core {

enum class TraceLevel { kOff, kTimestamps };

struct TraceSettings {
  TraceLevel level = TraceLevel::kOff;
  int64_t rate = 1000;
  int64_t count = -1;
  int64_t log_frequency = 0;
  std::string file;
};

// One field of an update: absent (unchanged), reset (null) or a value.
template <typename T>
struct SettingUpdate {
  bool present = false;
  std::optional<T> value;  // nullopt with present = reset
};

struct TraceSettingsUpdate {
  SettingUpdate<TraceLevel> level;
  SettingUpdate<int64_t> rate;
  SettingUpdate<int64_t> count;
  SettingUpdate<int64_t> log_frequency;
  SettingUpdate<std::string> file;
};

// Applies one "--trace-config" value (Triton's forms: "level=TIMESTAMPS",
// "rate=N", "count=N", "mode=triton", "triton,file=PATH",
// "triton,log-frequency=N") to `settings`.
Status ParseTraceConfig(const std::string& text, TraceSettings* settings);

class TraceSink;

class Trace {
 public:
  Trace(std::shared_ptr<TraceSink> sink, uint64_t id, std::string model_name);
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  void Record(const char* name);
  void set_model_version(int64_t version) { version_.store(version); }
  uint64_t id() const { return id_; }

 private:
  std::shared_ptr<TraceSink> sink_;
  const uint64_t id_;
  const std::string model_name_;
  std::atomic<int64_t> version_{-1};
  std::mutex mu_;
  std::vector<std::pair<const char*, uint64_t>> stamps_;  // guarded by mu_
};

class TraceManager {
 public:
  // `initial`: the start-up (flag) settings, also what a global reset
  // returns to. InvalidArgument for bad values or tracing without a file.
  static StatusOr<std::unique_ptr<TraceManager>> Create(TraceSettings initial,
                                                        Clock& clock = SystemClock::Get());
  ~TraceManager();

  // A new trace for a request to `model`, or null when it is not sampled.
  std::shared_ptr<Trace> Start(const std::string& model) {
    if (!active_.load(std::memory_order_relaxed)) return nullptr;
    return StartSlow(model);
  }

  // The effective settings of `model` ("" = global).
  TraceSettings Settings(const std::string& model) const;
  // Applies `update` to the model's ("" = global) settings. trace_file
  // cannot be changed through the API (as in current Triton: a client must
  // not choose where the server writes); log_frequency is global only.
  Status Update(const std::string& model, const TraceSettingsUpdate& update);

  // Writes the traces collected so far (log_frequency 0) to the trace file.
  void Flush();

 private:
  struct Scope {
    std::optional<TraceLevel> level;
    std::optional<int64_t> rate;
    std::optional<int64_t> count;
    uint64_t seen = 0;
  };
  TraceManager(TraceSettings initial, Clock& clock);
  std::shared_ptr<Trace> StartSlow(const std::string& model);
  TraceSettings Effective(const std::string& model) const;  // needs mu_
  void UpdateActive();                                       // needs mu_

  const TraceSettings initial_;
  std::shared_ptr<TraceSink> sink_;
  std::atomic<bool> active_{false};
  std::atomic<uint64_t> next_id_{1};
  mutable std::mutex mu_;
  TraceSettings global_;                 // guarded by mu_
  uint64_t global_seen_ = 0;             // guarded by mu_
  std::map<std::string, Scope> models_;  // guarded by mu_
};

}  // namespace nereid::core
