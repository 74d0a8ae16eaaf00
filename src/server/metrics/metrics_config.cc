#include "server/metrics/metrics_config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace nereid::server::metrics {
namespace {

StatusOr<bool> ParseBool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return InvalidArgument("--metrics-config " + key + " must be true or false, got '" + value + "'");
}

StatusOr<double> ParseFraction(const std::string& text, const std::string& what) {
  if (text.empty()) return InvalidArgument(what + " is empty");
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 || v > 1) {
    return InvalidArgument(what + " must be a number in [0, 1], got '" + text + "'");
  }
  return v;
}

StatusOr<std::vector<std::pair<double, double>>> ParseQuantiles(const std::string& value) {
  std::vector<std::pair<double, double>> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    std::string item =
        value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      return InvalidArgument(
          "--metrics-config summary_quantiles expects <quantile>:<error>[,...], got '" + item +
          "'");
    }
    ASSIGN_OR_RETURN(double q, ParseFraction(item.substr(0, colon), "summary quantile"));
    ASSIGN_OR_RETURN(double e, ParseFraction(item.substr(colon + 1), "summary quantile error"));
    out.emplace_back(q, e);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

Status ApplyMetricsConfig(const std::string& setting, MetricsConfig* config) {
  size_t eq = setting.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgument("--metrics-config expects <setting>=<value>, got '" + setting + "'");
  }
  std::string key = setting.substr(0, eq), value = setting.substr(eq + 1);
  if (key == "counter_latencies") {
    ASSIGN_OR_RETURN(config->counter_latencies, ParseBool(key, value));
  } else if (key == "summary_latencies") {
    ASSIGN_OR_RETURN(config->summary_latencies, ParseBool(key, value));
  } else if (key == "histogram_latencies") {
    ASSIGN_OR_RETURN(config->histogram_latencies, ParseBool(key, value));
  } else if (key == "summary_quantiles") {
    ASSIGN_OR_RETURN(config->summary_quantiles, ParseQuantiles(value));
  } else {
    return InvalidArgument("unknown --metrics-config setting '" + key +
                           "' (supported: counter_latencies, summary_latencies, "
                           "summary_quantiles, histogram_latencies)");
  }
  return Status::Ok();
}

}  // namespace nereid::server::metrics
