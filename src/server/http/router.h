// Router: KServe v2 REST endpoints over plain request/response structs, so
// the socket layer (http_server.cc, Boost.Beast) stays separate from the
// protocol logic and this file stays testable without sockets.
//
// Thread safety: Handle() may be called from any number of I/O threads.
// `reply` is called exactly once, possibly on another (instance) thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/server.h"

namespace nereid::server::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and optional query
  std::shared_ptr<std::string> body = std::make_shared<std::string>();
  std::optional<std::string> inference_header_length;
  std::string content_encoding;
  std::string accept_encoding;
  // Set by the server when the client closes the connection before the
  // response is written (handed to inference requests as their cancel flag).
  std::shared_ptr<std::atomic<bool>> cancelled;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using ReplyFn = std::function<void(HttpResponse)>;

class Router {
 public:
  Router(core::InferenceServer* server, size_t max_input_size)
      : server_(server), max_input_size_(max_input_size) {}

  void Handle(HttpRequest request, ReplyFn reply) const;

 private:
  void HandleModel(const HttpRequest& request, const std::string& model,
                   const std::string& version, const std::string& action, ReplyFn reply) const;
  void HandleInfer(const HttpRequest& request, const std::string& model, int64_t version,
                   ReplyFn reply) const;

  core::InferenceServer* server_;
  size_t max_input_size_;
};

// Splits "/v2/models/a%20b/infer?x" into {"v2","models","a b","infer"};
// nullopt on a malformed %-escape.
std::optional<std::vector<std::string>> SplitPath(const std::string& target);

}  // namespace nereid::server::http
