// HTTP endpoints of Triton's trace extension:
//
//   GET|POST /v2/trace/setting              global settings
//   GET|POST /v2/models/{m}/trace/setting   one model's settings
//
// Values are reported as Triton does: trace_level as an array of strings,
// the numbers as strings. A POST body holds the settings to change; null
// resets a setting (a model's to the global value, a global one to its
// start-up value). Sampling and trace files live in core (TraceManager).
//
// Thread safety: stateless functions over the thread-safe TraceManager.
#pragma once

#include <memory>
#include <string>

#include "core/server.h"
#include "server/http/router.h"

namespace nereid::server::http {

// `model` is empty for the global settings.
HttpResponse HandleTraceSetting(core::InferenceServer& server, const HttpRequest& request,
                                const std::string& model);

// Wraps `reply` so that it stamps HTTP_SEND_START / HTTP_SEND_END on `trace`.
ReplyFn TracedReply(ReplyFn reply, std::shared_ptr<core::Trace> trace);

}  // namespace nereid::server::http
