#include "server/http/stats_endpoint.h"

#include "server/http/infer_codec.h"
#include "server/kserve/kserve.h"
#include "server/kserve/statistics_json.h"

namespace nereid::server::http {

bool IsStatisticsPath(const std::vector<std::string>& p) {
  if (p.size() < 3 || p[0] != "v2" || p[1] != "models" || p.back() != "stats") return false;
  return p.size() == 3 || p.size() == 4 || (p.size() == 6 && p[3] == "versions");
}

HttpResponse HandleStatistics(const core::InferenceServer& server,
                              const std::vector<std::string>& p) {
  std::string model = p.size() >= 4 ? p[2] : "";
  auto version = ParseModelVersion(p.size() == 6 ? p[4] : "");
  HttpResponse r;
  StatusOr<std::vector<core::ModelStatsSnapshot>> stats =
      version.ok() ? server.Statistics(model, *version)
                   : StatusOr<std::vector<core::ModelStatsSnapshot>>(version.status());
  if (!stats.ok()) {
    r.status = HttpStatusFor(stats.status().code());
    r.body = ErrorJson(stats.status().message());
    return r;
  }
  r.body = ModelStatisticsJson(*stats);
  return r;
}

}  // namespace nereid::server::http
