// Test-only: runs one request through a Router and waits for its answer.
#pragma once

#include <future>
#include <string>
#include <utility>

#include "server/http/router.h"

namespace nereid::server::http::testing {

inline HttpResponse CallRouter(Router& router, const std::string& method,
                               const std::string& target, const std::string& body = "") {
  HttpRequest req;
  req.method = method;
  req.target = target;
  *req.body = body;
  std::promise<HttpResponse> p;
  router.Handle(std::move(req), [&](HttpResponse r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

}  // namespace nereid::server::http::testing
