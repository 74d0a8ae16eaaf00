#include "tools/perf/perf_stats.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

namespace nereid::tools::perf {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A whole decimal integer in [lo, hi]; `what` names the value in errors.
StatusOr<int64_t> ParseInt(std::string_view text, int64_t lo, int64_t hi, std::string_view what) {
  std::string_view s = Trim(text);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return InvalidArgument(std::string(what) + " '" + std::string(text) + "' is not an integer");
  }
  if (v < lo || v > hi) {
    return InvalidArgument(std::string(what) + " " + std::to_string(v) + " is out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

double Us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Average microseconds of `after - before`, or 0 when nothing was counted.
double AverageUs(const DurationCounter& before, const DurationCounter& after) {
  uint64_t count = after.count - before.count;
  if (count == 0) return 0;
  return static_cast<double>(after.ns - before.ns) / static_cast<double>(count) / 1000.0;
}

bool Monotonic(const DurationCounter& before, const DurationCounter& after) {
  return after.count >= before.count && after.ns >= before.ns;
}

}  // namespace

StatusOr<std::vector<int>> ParseConcurrencyRange(std::string_view text) {
  const std::string flag = "--concurrency-range";
  std::string_view s = Trim(text);
  if (s.empty()) return InvalidArgument(flag + " is empty");
  std::vector<int> levels;
  if (s.find(',') != std::string_view::npos) {
    if (s.find(':') != std::string_view::npos) {
      return InvalidArgument(flag + " '" + std::string(text) +
                             "': use either START:END:STEP or a comma list, not both");
    }
    for (std::string_view part : Split(s, ',')) {
      ASSIGN_OR_RETURN(int64_t v, ParseInt(part, 1, kMaxConcurrency, flag + " value"));
      levels.push_back(static_cast<int>(v));
    }
  } else {
    std::vector<std::string_view> parts = Split(s, ':');
    if (parts.size() > 3) {
      return InvalidArgument(flag + " '" + std::string(text) + "' is not START[:END[:STEP]]");
    }
    ASSIGN_OR_RETURN(int64_t start, ParseInt(parts[0], 1, kMaxConcurrency, flag + " start"));
    int64_t end = start, step = 1;
    if (parts.size() > 1) {
      ASSIGN_OR_RETURN(end, ParseInt(parts[1], 1, kMaxConcurrency, flag + " end"));
    }
    if (parts.size() > 2) {
      ASSIGN_OR_RETURN(step, ParseInt(parts[2], 1, kMaxConcurrency, flag + " step"));
    }
    if (end < start) {
      return InvalidArgument(flag + " '" + std::string(text) + "': end " + std::to_string(end) +
                             " is below start " + std::to_string(start));
    }
    for (int64_t c = start; c <= end; c += step) levels.push_back(static_cast<int>(c));
  }
  if (levels.size() > kMaxLevels) {
    return InvalidArgument(flag + " '" + std::string(text) + "' gives " +
                           std::to_string(levels.size()) + " levels; at most " +
                           std::to_string(kMaxLevels) + " are allowed");
  }
  return levels;
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

StatusOr<HostPort> ParseHostPort(std::string_view text, int default_port) {
  std::string_view s = Trim(text);
  if (size_t scheme = s.find("://"); scheme != std::string_view::npos) s.remove_prefix(scheme + 3);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  HostPort out;
  out.port = default_port;
  std::string_view port_text;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("-u '" + std::string(text) + "': missing ']' after the IPv6 address");
    }
    out.host = std::string(s.substr(1, close - 1));
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return InvalidArgument("-u '" + std::string(text) + "' is not HOST:PORT");
      }
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = s.rfind(':');
    if (colon != std::string_view::npos && s.find(':') != colon) {
      return InvalidArgument("-u '" + std::string(text) +
                             "': write an IPv6 address in brackets, [ADDR]:PORT");
    }
    out.host = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) port_text = s.substr(colon + 1);
  }
  if (out.host.empty()) return InvalidArgument("-u '" + std::string(text) + "' has no host");
  if (!port_text.empty() || (s.size() && s.back() == ':')) {
    ASSIGN_OR_RETURN(int64_t port, ParseInt(port_text, 1, 65535, "-u port"));
    out.port = static_cast<int>(port);
  }
  return out;
}

uint64_t Percentile(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: ceil(p/100 * n), at least 1. The small epsilon keeps
  // 0.9 * 10 from becoming 9.000000000000002 and rounding up to 10.
  double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()) - 1e-9);
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

LatencySummary Summarize(std::vector<uint64_t>* latencies_ns, double extra_percentile) {
  LatencySummary s;
  s.extra_percentile = extra_percentile;
  std::vector<uint64_t>& v = *latencies_ns;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.count = v.size();
  // Sum in long double: 10^7 requests of 10^9 ns would wrap a uint64 sum.
  long double sum = std::accumulate(v.begin(), v.end(), 0.0L);
  s.avg_us = static_cast<double>(sum / static_cast<long double>(v.size()) / 1000.0L);
  s.min_us = Us(v.front());
  s.max_us = Us(v.back());
  s.p50_us = Us(Percentile(v, 50));
  s.p90_us = Us(Percentile(v, 90));
  s.p95_us = Us(Percentile(v, 95));
  s.p99_us = Us(Percentile(v, 99));
  s.extra_us = Us(Percentile(v, extra_percentile));
  return s;
}

ServerStatsDelta DiffStats(const ServerStats& before, const ServerStats& after) {
  ServerStatsDelta d;
  const bool monotonic =
      after.inference_count >= before.inference_count &&
      after.execution_count >= before.execution_count && Monotonic(before.success, after.success) &&
      Monotonic(before.fail, after.fail) && Monotonic(before.queue, after.queue) &&
      Monotonic(before.compute_input, after.compute_input) &&
      Monotonic(before.compute_infer, after.compute_infer) &&
      Monotonic(before.compute_output, after.compute_output);
  if (!monotonic) return d;
  d.valid = true;
  d.success_count = after.success.count - before.success.count;
  d.fail_count = after.fail.count - before.fail.count;
  d.inference_count = after.inference_count - before.inference_count;
  d.execution_count = after.execution_count - before.execution_count;
  d.request_us = AverageUs(before.success, after.success);
  d.queue_us = AverageUs(before.queue, after.queue);
  d.compute_input_us = AverageUs(before.compute_input, after.compute_input);
  d.compute_infer_us = AverageUs(before.compute_infer, after.compute_infer);
  d.compute_output_us = AverageUs(before.compute_output, after.compute_output);
  return d;
}

}  // namespace nereid::tools::perf
