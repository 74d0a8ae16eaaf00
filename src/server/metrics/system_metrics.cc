#include "server/metrics/system_metrics.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "common/logging.h"

namespace nereid::server::metrics {
namespace {

StatusOr<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return Unavailable(std::string("cannot read ") + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

StatusOr<CpuTimes> ParseProcStat(const std::string& text) {
  std::istringstream in(text);
  std::string label;
  if (!(in >> label) || label != "cpu") {
    return InvalidArgument("/proc/stat does not start with the aggregate 'cpu' line");
  }
  // user nice system idle iowait irq softirq steal [guest guest_nice]
  std::vector<uint64_t> f;
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line);
  uint64_t v;
  while (fields >> v) f.push_back(v);
  if (f.size() < 4) return InvalidArgument("/proc/stat 'cpu' line has too few fields");
  CpuTimes t;
  // guest and guest_nice are already counted in user and nice.
  for (size_t i = 0; i < f.size() && i < 8; ++i) t.total += f[i];
  t.idle = f[3] + (f.size() > 4 ? f[4] : 0);
  return t;
}

StatusOr<std::pair<uint64_t, uint64_t>> ParseMemInfo(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::optional<uint64_t> total, available;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    uint64_t kib = 0;
    if (!(fields >> name >> kib)) continue;
    if (name == "MemTotal:") total = kib * 1024;
    if (name == "MemAvailable:") available = kib * 1024;
  }
  if (!total || !available) {
    return InvalidArgument("/proc/meminfo lacks MemTotal or MemAvailable");
  }
  if (*available > *total) return InvalidArgument("/proc/meminfo: MemAvailable > MemTotal");
  return std::make_pair(*total, *total - *available);
}

double CpuUtilization(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 0.0;
  const uint64_t total = after.total - before.total;
  const uint64_t idle = after.idle >= before.idle ? after.idle - before.idle : 0;
  if (idle >= total) return 0.0;
  return static_cast<double>(total - idle) / static_cast<double>(total);
}

SystemMetricsPoller::SystemMetricsPoller(std::chrono::milliseconds interval) : interval_(interval) {
  Poll();
  thread_ = std::thread([this] { Loop(); });
}

SystemMetricsPoller::~SystemMetricsPoller() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

SystemSample SystemMetricsPoller::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

void SystemMetricsPoller::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    Poll();
    lock.lock();
  }
}

void SystemMetricsPoller::Poll() {
  SystemSample s;
  auto stat = ReadFile("/proc/stat");
  StatusOr<CpuTimes> cpu = stat.ok() ? ParseProcStat(*stat) : StatusOr<CpuTimes>(stat.status());
  if (cpu.ok()) {
    // 0 until a second sample gives an interval to measure over.
    s.cpu_utilization = last_cpu_ ? CpuUtilization(*last_cpu_, *cpu) : 0.0;
    last_cpu_ = *cpu;
  } else {
    NLOG(WARNING) << "CPU metrics: " << cpu.status().message();
  }
  auto meminfo = ReadFile("/proc/meminfo");
  auto mem = meminfo.ok() ? ParseMemInfo(*meminfo)
                          : StatusOr<std::pair<uint64_t, uint64_t>>(meminfo.status());
  if (mem.ok()) {
    s.memory_total_bytes = mem->first;
    s.memory_used_bytes = mem->second;
  } else {
    NLOG(WARNING) << "memory metrics: " << mem.status().message();
  }
  std::lock_guard<std::mutex> lock(mu_);
  latest_ = s;
}

}  // namespace nereid::server::metrics
