// Renders Triton's metrics in the Prometheus text exposition format (0.0.4)
// from core's statistics snapshots and the latest system sample.
//
// Per model version (labels model, version): nv_inference_request_success,
// nv_inference_request_failure{reason}, nv_inference_count,
// nv_inference_exec_count, nv_inference_pending_request_count,
// nv_model_load_duration_secs (backend load + instance creation); with
// counter_latencies nv_inference_{request,queue,compute_input,
// compute_infer,compute_output}_duration_us; with summary_latencies the
// matching *_summary_us summaries (quantiles over the last
// ModelStatistics::kRecentLatencies successful requests; _count/_sum equal
// the counters). System: nv_cpu_utilization, nv_cpu_memory_total_bytes,
// nv_cpu_memory_used_bytes. Counters derive from the statistics totals, so
// they are monotonic and agree with the statistics extension (ns / 1000).
//
// Response cache (as Triton): per model version whose cache is on, with
// counter_latencies nv_cache_num_hits_per_model, nv_cache_num_misses_per_model,
// nv_cache_hit_duration_per_model, nv_cache_miss_duration_per_model (us),
// and with summary_latencies nv_cache_hit_summary_per_model and
// nv_cache_miss_summary_per_model; with a cache, the server-wide gauges of
// Triton's local cache: nv_cache_util, nv_cache_num_entries,
// nv_cache_num_lookups, nv_cache_num_hits, nv_cache_num_misses,
// nv_cache_num_evictions, nv_cache_lookup_duration and
// nv_cache_insertion_duration (us).
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "core/cache/response_cache.h"
#include "core/statistics.h"
#include "server/metrics/metrics_config.h"
#include "server/metrics/system_metrics.h"

namespace nereid::server::metrics {

// `cache`: the server's response cache counters; null without a cache.
std::string RenderPrometheusText(const std::vector<core::ModelStatsSnapshot>& models,
                                 const SystemSample* system, const MetricsConfig& config,
                                 const core::ResponseCacheStats* cache = nullptr);

// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& value);

}  // namespace nereid::server::metrics
