// System (CPU) metrics from Linux /proc, as Triton's nv_cpu_* gauges:
//   utilization  busy share of all cores between the last two samples [0, 1]
//                (/proc/stat "cpu" line: busy = total - idle - iowait)
//   memory       MemTotal and MemTotal - MemAvailable (/proc/meminfo), bytes
// SystemMetricsPoller samples every `interval` on its own thread
// (--metrics-interval-ms); scrapes read the latest sample.
//
// Thread safety: the parse functions are pure; SystemMetricsPoller's methods
// are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"

namespace nereid::server::metrics {

struct CpuTimes {
  uint64_t total = 0;  // all jiffies of the aggregate "cpu" line
  uint64_t idle = 0;   // idle + iowait
};

struct SystemSample {
  std::optional<double> cpu_utilization;  // absent when /proc/stat is unreadable
  std::optional<uint64_t> memory_total_bytes;
  std::optional<uint64_t> memory_used_bytes;
};

// `text`: contents of /proc/stat.
StatusOr<CpuTimes> ParseProcStat(const std::string& text);
// `text`: contents of /proc/meminfo. Returns {total, used} in bytes.
StatusOr<std::pair<uint64_t, uint64_t>> ParseMemInfo(const std::string& text);
// Busy share between two samples; 0 when no time passed.
double CpuUtilization(const CpuTimes& before, const CpuTimes& after);

class SystemMetricsPoller {
 public:
  // Takes a first sample at once, then one every `interval`.
  explicit SystemMetricsPoller(std::chrono::milliseconds interval);
  ~SystemMetricsPoller();
  SystemMetricsPoller(const SystemMetricsPoller&) = delete;
  SystemMetricsPoller& operator=(const SystemMetricsPoller&) = delete;

  SystemSample Latest() const;

 private:
  void Poll();
  void Loop();

  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                 // guarded by mu_
  SystemSample latest_;               // guarded by mu_
  std::optional<CpuTimes> last_cpu_;  // only the poll thread (and the constructor)
  std::thread thread_;
};

}  // namespace nereid::server::metrics
