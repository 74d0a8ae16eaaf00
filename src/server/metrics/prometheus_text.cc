#include "server/metrics/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <functional>

namespace nereid::server::metrics {
namespace {

using Snapshot = core::ModelStatsSnapshot;

std::string Labels(const Snapshot& s) {
  return "model=\"" + EscapeLabelValue(s.name) + "\",version=\"" + std::to_string(s.version) + "\"";
}

void Header(std::string* out, const char* name, const char* help, const char* type) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

void Sample(std::string* out, const std::string& name, const std::string& labels,
            const std::string& value) {
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += ' ';
  *out += value;
  *out += '\n';
}

// Shortest text that reads back as the same double ("0.9", not 0.90000000000000002).
std::string Number(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

void PerModel(std::string* out, const std::vector<Snapshot>& models, const char* name,
              const char* help, const char* type,
              const std::function<uint64_t(const Snapshot&)>& value) {
  Header(out, name, help, type);
  for (const auto& m : models) Sample(out, name, Labels(m), std::to_string(value(m)));
}

struct Latency {
  const char* counter;
  const char* counter_help;
  const char* summary;
  const char* summary_help;
  core::DurationStat Snapshot::*stat;
  uint64_t core::RequestLatency::*sample;
};

const Latency kLatencies[] = {
    {"nv_inference_request_duration_us",
     "Cumulative inference request duration in microseconds (includes cached requests)",
     "nv_inference_request_summary_us",
     "Summary of inference request duration in microseconds (includes cached requests)",
     &Snapshot::success, &core::RequestLatency::request_ns},
    {"nv_inference_queue_duration_us",
     "Cumulative inference queuing duration in microseconds (includes cached requests)",
     "nv_inference_queue_summary_us",
     "Summary of inference queuing duration in microseconds (includes cached requests)",
     &Snapshot::queue, &core::RequestLatency::queue_ns},
    {"nv_inference_compute_input_duration_us",
     "Cumulative compute input duration in microseconds (does not include cached requests)",
     "nv_inference_compute_input_summary_us",
     "Summary of compute input duration in microseconds (does not include cached requests)",
     &Snapshot::compute_input, &core::RequestLatency::compute_input_ns},
    {"nv_inference_compute_infer_duration_us",
     "Cumulative compute inference duration in microseconds (does not include cached requests)",
     "nv_inference_compute_infer_summary_us",
     "Summary of compute inference duration in microseconds (does not include cached requests)",
     &Snapshot::compute_infer, &core::RequestLatency::compute_infer_ns},
    {"nv_inference_compute_output_duration_us",
     "Cumulative inference compute output duration in microseconds (does not include cached "
     "requests)",
     "nv_inference_compute_output_summary_us",
     "Summary of inference compute output duration in microseconds (does not include cached "
     "requests)",
     &Snapshot::compute_output, &core::RequestLatency::compute_output_ns},
};

// Nearest-rank quantile of `sorted` (microseconds).
double Quantile(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size()));
  if (rank >= sorted.size()) rank = sorted.size() - 1;
  return static_cast<double>(sorted[rank]) / 1000.0;
}

// One summary sample set: _count/_sum from the totals, quantiles over the
// recent values (nanoseconds).
void SummarySamples(std::string* out, const std::string& name, const std::string& labels,
                    const core::DurationStat& total, std::vector<uint64_t> values,
                    const MetricsConfig& config) {
  std::sort(values.begin(), values.end());
  Sample(out, name + "_count", labels, std::to_string(total.count));
  Sample(out, name + "_sum", labels, std::to_string(total.ns / 1000));
  for (const auto& [q, err] : config.summary_quantiles) {
    (void)err;
    Sample(out, name, labels + ",quantile=\"" + Number(q) + "\"",
           values.empty() ? "NaN" : Number(Quantile(values, q)));
  }
}

void Summaries(std::string* out, const std::vector<Snapshot>& models, const Latency& l,
               const MetricsConfig& config) {
  Header(out, l.summary, l.summary_help, "summary");
  for (const auto& m : models) {
    std::vector<uint64_t> values;
    values.reserve(m.recent.size());
    for (const auto& r : m.recent) values.push_back(r.*l.sample);
    SummarySamples(out, l.summary, Labels(m), m.*l.stat, std::move(values), config);
  }
}

void CacheMetrics(std::string* out, const std::vector<Snapshot>& all, const MetricsConfig& config) {
  std::vector<const Snapshot*> models;
  for (const auto& m : all) {
    if (m.cache_enabled) models.push_back(&m);
  }
  if (models.empty()) return;
  auto counter = [&](const char* name, const char* help, uint64_t (*value)(const Snapshot&)) {
    Header(out, name, help, "counter");
    for (const Snapshot* m : models) Sample(out, name, Labels(*m), std::to_string(value(*m)));
  };
  // Triton creates even the two counts only with counter_latencies.
  if (config.counter_latencies) {
    counter("nv_cache_num_hits_per_model", "Number of cache hits per model",
            [](const Snapshot& s) { return s.cache_hit.count; });
    counter("nv_cache_num_misses_per_model", "Number of cache misses per model",
            [](const Snapshot& s) { return s.cache_miss.count; });
    counter("nv_cache_hit_duration_per_model",
            "Total cache hit duration per model, in microseconds",
            [](const Snapshot& s) { return s.cache_hit.ns / 1000; });
    counter("nv_cache_miss_duration_per_model",
            "Total cache miss (insert+lookup) duration per model, in microseconds",
            [](const Snapshot& s) { return s.cache_miss.ns / 1000; });
  }
  if (config.summary_latencies) {
    Header(out, "nv_cache_hit_summary_per_model",
           "Summary of cache hit counts/durations per model, in microseconds.", "summary");
    for (const Snapshot* m : models) {
      SummarySamples(out, "nv_cache_hit_summary_per_model", Labels(*m), m->cache_hit,
                     m->recent_cache_hit_ns, config);
    }
    Header(out, "nv_cache_miss_summary_per_model",
           "Summary of cache miss counts/durations per model, in microseconds.", "summary");
    for (const Snapshot* m : models) {
      SummarySamples(out, "nv_cache_miss_summary_per_model", Labels(*m), m->cache_miss,
                     m->recent_cache_miss_ns, config);
    }
  }
}

// The local cache's server-wide gauges (Triton's local cache publishes them
// as gauges through its custom metrics; durations in microseconds).
void CacheGauges(std::string* out, const core::ResponseCacheStats& c) {
  auto gauge = [out](const char* name, const char* help, const std::string& value) {
    Header(out, name, help, "gauge");
    Sample(out, name, "", value);
  };
  gauge("nv_cache_util", "Cache utilization [0.0 - 1.0]",
        Number(c.capacity_bytes ? static_cast<double>(c.used_bytes) /
                                      static_cast<double>(c.capacity_bytes)
                                : 0.0));
  gauge("nv_cache_num_entries", "Number of responses stored in response cache",
        std::to_string(c.entries));
  gauge("nv_cache_num_lookups", "Number of cache lookups in response cache",
        std::to_string(c.lookups));
  gauge("nv_cache_num_hits", "Number of cache hits in response cache", std::to_string(c.hits));
  gauge("nv_cache_num_misses", "Number of cache misses in response cache",
        std::to_string(c.misses));
  gauge("nv_cache_num_evictions", "Number of cache evictions in response cache",
        std::to_string(c.evictions));
  gauge("nv_cache_lookup_duration", "Total cache lookup duration (hit and miss), in microseconds",
        std::to_string(c.lookup_ns / 1000));
  gauge("nv_cache_insertion_duration", "Total cache insertion duration, in microseconds",
        std::to_string(c.insert_ns / 1000));
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderPrometheusText(const std::vector<core::ModelStatsSnapshot>& models,
                                 const SystemSample* system, const MetricsConfig& config,
                                 const core::ResponseCacheStats* cache) {
  std::string out;
  PerModel(&out, models, "nv_inference_request_success",
           "Number of successful inference requests, all batch sizes", "counter",
           [](const Snapshot& s) { return s.success.count; });
  Header(&out, "nv_inference_request_failure",
         "Number of failed inference requests, all batch sizes", "counter");
  for (const auto& m : models) {
    for (int r = 0; r < core::kFailureReasonCount; ++r) {
      Sample(&out, "nv_inference_request_failure",
             Labels(m) + ",reason=\"" +
                 core::FailureReasonName(static_cast<core::FailureReason>(r)) + "\"",
             std::to_string(m.failures_by_reason[r]));
    }
  }
  PerModel(&out, models, "nv_inference_count",
           "Number of inferences performed (does not include cached requests)", "counter",
           [](const Snapshot& s) { return s.inference_count; });
  PerModel(&out, models, "nv_inference_exec_count",
           "Number of model executions performed (does not include cached requests)", "counter",
           [](const Snapshot& s) { return s.execution_count; });
  PerModel(&out, models, "nv_inference_pending_request_count",
           "Instantaneous number of pending requests awaiting execution per-model.", "gauge",
           [](const Snapshot& s) { return s.pending_requests; });
  Header(&out, "nv_model_load_duration_secs", "Model load time in seconds", "gauge");
  for (const auto& m : models) {
    Sample(&out, "nv_model_load_duration_secs", Labels(m),
           Number(static_cast<double>(m.load_duration_ns) / 1e9));
  }
  if (config.counter_latencies) {
    for (const Latency& l : kLatencies) {
      PerModel(&out, models, l.counter, l.counter_help, "counter",
               [&l](const Snapshot& s) { return (s.*l.stat).ns / 1000; });
    }
  }
  if (config.summary_latencies) {
    for (const Latency& l : kLatencies) Summaries(&out, models, l, config);
  }
  CacheMetrics(&out, models, config);
  if (cache) CacheGauges(&out, *cache);
  if (system) {
    if (system->cpu_utilization) {
      Header(&out, "nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]", "gauge");
      Sample(&out, "nv_cpu_utilization", "", Number(*system->cpu_utilization));
    }
    if (system->memory_total_bytes) {
      Header(&out, "nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes", "gauge");
      Sample(&out, "nv_cpu_memory_total_bytes", "", std::to_string(*system->memory_total_bytes));
      Header(&out, "nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes", "gauge");
      Sample(&out, "nv_cpu_memory_used_bytes", "", std::to_string(*system->memory_used_bytes));
    }
  }
  return out;
}

}  // namespace nereid::server::metrics
