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
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "core/statistics.h"
#include "server/metrics/metrics_config.h"
#include "server/metrics/system_metrics.h"

namespace nereid::server::metrics {

std::string RenderPrometheusText(const std::vector<core::ModelStatsSnapshot>& models,
                                 const SystemSample* system, const MetricsConfig& config);

// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& value);

}  // namespace nereid::server::metrics
