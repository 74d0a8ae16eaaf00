#include "server/metrics/metrics_service.h"

#include <optional>

#include "server/http/infer_codec.h"
#include "server/metrics/prometheus_text.h"

namespace nereid::server::metrics {

MetricsService::MetricsService(MetricsServiceOptions options, const core::InferenceServer* server)
    : options_(std::move(options)), server_(server) {}

MetricsService::~MetricsService() { Stop(); }

StatusOr<std::unique_ptr<MetricsService>> MetricsService::Start(
    const MetricsServiceOptions& options, const core::InferenceServer* server) {
  if (options.interval.count() < 1) {
    return InvalidArgument("--metrics-interval-ms must be at least 1");
  }
  std::unique_ptr<MetricsService> service(new MetricsService(options, server));
  if (options.cpu_metrics) {
    service->poller_ = std::make_unique<SystemMetricsPoller>(options.interval);
  }
  http::HttpServerOptions ho;
  ho.address = options.address;
  ho.port = options.port;
  ho.threads = 1;  // scrapes are rare and cheap
  ho.max_input_size = 64 * 1024;
  const MetricsService* self = service.get();
  auto started =
      http::HttpServer::Start(ho, [self](http::HttpRequest request, http::ReplyFn reply) {
        self->Handle(request, std::move(reply));
      });
  if (!started.ok()) return started.status().WithPrefix("metrics service");
  service->http_ = std::move(started).value();
  return service;
}

void MetricsService::Stop() {
  if (http_) {
    http_->StopAccepting();
    http_->Stop();
  }
  poller_.reset();
}

std::string MetricsService::Render() const {
  auto stats = server_->Statistics("", -1);
  std::vector<core::ModelStatsSnapshot> models;
  if (stats.ok()) models = std::move(stats).value();
  SystemSample sample;
  if (poller_) sample = poller_->Latest();
  std::optional<core::ResponseCacheStats> cache;
  if (const core::ResponseCache* c = server_->response_cache()) cache = c->Stats();
  return RenderPrometheusText(models, poller_ ? &sample : nullptr, options_.config,
                              cache ? &*cache : nullptr);
}

void MetricsService::Handle(const http::HttpRequest& request, http::ReplyFn reply) const {
  http::HttpResponse r;
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path != "/metrics") {
    r.status = 404;
    r.body = http::ErrorJson("no such endpoint: " + path + " (metrics are at /metrics)");
  } else if (request.method != "GET" && request.method != "HEAD") {
    r.status = 405;
    r.body = http::ErrorJson("method " + request.method + " is not allowed on /metrics");
  } else {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = Render();
  }
  reply(std::move(r));
}

}  // namespace nereid::server::metrics
