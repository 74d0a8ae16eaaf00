// MetricsService: the Prometheus endpoint (`GET /metrics` on --metrics-port)
// with the CPU/memory poller behind it. Reuses the Beast HttpServer with a
// one-route handler; every scrape renders fresh snapshots of core's
// statistics, so counters agree with the statistics extension.
//
// Thread safety: Start/Stop from one controlling thread; scrapes run on the
// service's I/O thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "core/server.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics_config.h"
#include "server/metrics/system_metrics.h"

namespace nereid::server::metrics {

struct MetricsServiceOptions {
  std::string address = "0.0.0.0";
  int port = 8002;                           // 0: pick a free port
  std::chrono::milliseconds interval{2000};  // CPU/memory polling
  bool cpu_metrics = true;
  MetricsConfig config;
};

class MetricsService {
 public:
  // `server` must outlive the service.
  static StatusOr<std::unique_ptr<MetricsService>> Start(const MetricsServiceOptions& options,
                                                         const core::InferenceServer* server);
  ~MetricsService();

  int port() const { return http_->port(); }
  void Stop();

  // The /metrics body (exposed for tests).
  std::string Render() const;

 private:
  MetricsService(MetricsServiceOptions options, const core::InferenceServer* server);
  void Handle(const http::HttpRequest& request, http::ReplyFn reply) const;

  MetricsServiceOptions options_;
  const core::InferenceServer* server_;
  std::unique_ptr<SystemMetricsPoller> poller_;
  std::unique_ptr<http::HttpServer> http_;
};

}  // namespace nereid::server::metrics
