// HttpServer: HTTP/1.1 with keep-alive on Boost.Beast/Asio, feeding the
// Router. Beast is confined to http_server.cc (it is the slowest header in
// the build).
//
// Threads: `threads` I/O threads run all connections; each connection is
// served on its own strand. Inference never runs on an I/O thread: the
// router hands requests to core and the reply is posted back.
//
// Thread safety: Start/StopAccepting/Stop from one controlling thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/http/router.h"

namespace nereid::server::http {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 8000;  // 0: pick a free port (see HttpServer::port())
  int threads = 2;
  size_t max_input_size = 64 * 1024 * 1024;
  size_t max_header_size = 64 * 1024;
  int idle_timeout_secs = 300;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  static StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                     std::shared_ptr<const Router> router);
  // Any handler (e.g. the metrics endpoint); same contract as Router::Handle.
  using Handler = std::function<void(HttpRequest, ReplyFn)>;
  static StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                     Handler handler);
  virtual int port() const = 0;
  // Closes the listening socket; open connections finish their current
  // request and are closed after the response ("Connection: close").
  virtual void StopAccepting() = 0;
  // Stops everything and joins the I/O threads.
  virtual void Stop() = 0;
};

}  // namespace nereid::server::http
