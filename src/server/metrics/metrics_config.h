// MetricsConfig: Triton's `--metrics-config key=value` settings.
//
//   counter_latencies=true|false    nv_inference_*_duration_us counters (default true)
//   summary_latencies=true|false    nv_inference_*_summary_us summaries (default false)
//   summary_quantiles=q:e,...       summary quantiles (default 0.5:0.05,0.9:0.01,
//                                   0.95:0.001,0.99:0.001,0.999:0.0001); the error
//                                   is accepted for compatibility, quantiles are exact
//   histogram_latencies=true|false  histogram families (default false); Triton's only
//                                   one, nv_inference_first_response_histogram_ms, is
//                                   for decoupled models, which are not supported
// Unknown keys and malformed values are errors naming the setting.
//
// Thread safety: a value type; ApplyMetricsConfig is a pure function.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace nereid::server::metrics {

struct MetricsConfig {
  bool counter_latencies = true;
  bool summary_latencies = false;
  bool histogram_latencies = false;
  // (quantile, allowed error), quantile in [0, 1].
  std::vector<std::pair<double, double>> summary_quantiles = {
      {0.5, 0.05}, {0.9, 0.01}, {0.95, 0.001}, {0.99, 0.001}, {0.999, 0.0001}};
};

// Applies one "key=value" setting (as given to --metrics-config).
Status ApplyMetricsConfig(const std::string& setting, MetricsConfig* config);

}  // namespace nereid::server::metrics
