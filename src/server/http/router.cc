#include "server/http/router.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "server/http/compression.h"
#include "core/model_config_json.h"
#include "server/http/extension_handlers.h"
#include "server/http/infer_codec.h"
#include "server/http/shared_memory_routes.h"
#include "server/http/trace_routes.h"
#include "server/http/stats_endpoint.h"
#include "server/kserve/kserve.h"

namespace nereid::server::http {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(const Status& s) { return Json(HttpStatusFor(s.code()), ErrorJson(s.message())); }

HttpResponse Empty(int status) {
  HttpResponse r;
  r.status = status;
  r.content_type.clear();
  return r;
}

void WriteTensors(Writer& w, const char* key, const std::vector<TensorMetadata>& tensors) {
  w.Key(key);
  w.StartArray();
  for (const auto& t : tensors) {
    w.StartObject();
    w.Key("name");
    w.String(t.name.c_str());
    w.Key("datatype");
    w.String(t.datatype.c_str());
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.shape) w.Int64(d);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

std::string ModelMetadataJson(const ModelMetadata& md) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("name");
  w.String(md.name.c_str());
  w.Key("versions");
  w.StartArray();
  for (const auto& v : md.versions) w.String(v.c_str());
  w.EndArray();
  w.Key("platform");
  w.String(md.platform.c_str());
  WriteTensors(w, "inputs", md.inputs);
  WriteTensors(w, "outputs", md.outputs);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string ServerMetadataJson(const core::InferenceServer& server) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("name");
  w.String(server.id().c_str());
  w.Key("version");
  w.String(core::InferenceServer::Version().c_str());
  w.Key("extensions");
  w.StartArray();
  for (const auto& e : core::InferenceServer::Extensions()) w.String(e.c_str());
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Compresses the body when the client asked for it.
HttpResponse Finish(HttpResponse r, const std::string& accept_encoding) {
  if (accept_encoding.empty() || r.body.empty()) return r;
  Encoding enc = PickAcceptEncoding(accept_encoding);
  if (enc == Encoding::kIdentity) return r;
  auto compressed = Compress(r.body, enc);
  if (!compressed.ok()) return r;
  r.body = std::move(compressed).value();
  r.headers.push_back({"Content-Encoding", enc == Encoding::kGzip ? "gzip" : "deflate"});
  return r;
}

}  // namespace

std::optional<std::vector<std::string>> SplitPath(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> parts;
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (path[i] == '%') {
      if (i + 2 >= path.size()) return std::nullopt;
      int hi = HexValue(path[i + 1]), lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      cur.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      cur.push_back(path[i]);
    }
  }
  return parts;
}

void Router::Handle(HttpRequest request, ReplyFn reply) const {
  std::string accept = request.accept_encoding;
  ReplyFn finish = [reply = std::move(reply), accept](HttpResponse r) {
    reply(Finish(std::move(r), accept));
  };
  auto parts = SplitPath(request.target);
  if (!parts) return finish(Error(InvalidArgument("malformed %-escape in URL")));
  const auto& p = *parts;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  auto method_error = [&] {
    finish(Json(405, ErrorJson("method " + request.method + " is not allowed on " +
                               request.target.substr(0, request.target.find('?')))));
  };
  if (p.empty() || p[0] != "v2") {
    return finish(Error(NotFound("no such endpoint: " + request.target)));
  }
  if (p.size() == 1) {
    if (!get) return method_error();
    return finish(Json(200, ServerMetadataJson(*server_)));
  }
  if (p[1] == "health" && p.size() == 3 && (p[2] == "live" || p[2] == "ready")) {
    if (!get) return method_error();
    bool ok = p[2] == "live" ? server_->IsLive() : server_->IsReady();
    return finish(Empty(ok ? 200 : 400));
  }
  if (p[1] == "trace" && p.size() == 3 && p[2] == "setting") {
    return finish(HandleTraceSetting(*server_, request, ""));
  }
  if (p[1] == "models" && p.size() == 5 && p[3] == "trace" && p[4] == "setting") {
    return finish(HandleTraceSetting(*server_, request, p[2]));
  }
  if (p[1] == "models" && p.size() >= 3) {
    if (IsStatisticsPath(p)) {
      if (!get) return method_error();
      return finish(HandleStatistics(*server_, p));
    }
    std::string version, action;
    size_t i = 3;
    if (p.size() >= 5 && p[3] == "versions") {
      version = p[4];
      i = 5;
    }
    if (p.size() == i + 1) {
      action = p[i];
    } else if (p.size() != i) {
      return finish(Error(NotFound("no such endpoint: " + request.target)));
    }
    if (action == "infer" ? !post : !get) return method_error();
    // Move the request's body into the infer path without copying.
    return HandleModel(request, p[2], version, action, std::move(finish));
  }
  if (p[1] == "repository") {
    return HandleRepository(server_, request, p, max_input_size_, std::move(finish));
  }
  if (p[1] == "logging" && p.size() == 2) {
    return HandleLogging(request, max_input_size_, std::move(finish));
  }
  if (p[1] == "systemsharedmemory" || p[1] == "cudasharedmemory") {
    return finish(HandleSharedMemory(*server_, request, p));
  }
  finish(Error(NotFound("no such endpoint: " + request.target)));
}

void Router::HandleModel(const HttpRequest& request, const std::string& model,
                         const std::string& version_text, const std::string& action,
                         ReplyFn reply) const {
  auto version = ParseModelVersion(version_text);
  if (!version.ok()) return reply(Error(version.status()));
  if (action == "infer") return HandleInfer(request, model, *version, std::move(reply));
  auto m = server_->GetModel(model, *version);
  if (action == "ready") return reply(Empty(m.ok() ? 200 : 400));
  if (!m.ok()) return reply(Error(m.status()));
  if (action.empty()) {
    return reply(Json(200, ModelMetadataJson(BuildModelMetadata(**m, server_->ModelIndex()))));
  }
  if (action == "config") return reply(Json(200, core::MessageToTritonJson((*m)->config())));
  reply(Error(NotFound("no such endpoint: " + request.target)));
}

void Router::HandleInfer(const HttpRequest& http, const std::string& model_name, int64_t version,
                         ReplyFn reply) const {
  std::shared_ptr<core::Trace> trace = server_->trace().Start(model_name);
  if (trace) {
    trace->Record("HTTP_RECV_END");
    reply = TracedReply(std::move(reply), trace);
  }
  std::shared_ptr<std::string> body = http.body;
  if (!http.content_encoding.empty()) {
    auto enc = ParseContentEncoding(http.content_encoding);
    if (!enc.ok()) return reply(Error(enc.status()));
    if (*enc != Encoding::kIdentity) {
      auto plain = Decompress(*body, *enc, max_input_size_);
      if (!plain.ok()) return reply(Error(plain.status()));
      body = std::make_shared<std::string>(std::move(plain).value());
    }
  }
  auto request = std::make_unique<core::InferenceRequest>();
  request->model_name = model_name;
  request->model_version = version;
  // The raw binary mode needs the model's config to know the input.
  std::shared_ptr<core::Model> model;
  if (http.inference_header_length && *http.inference_header_length == "0") {
    auto m = server_->GetModel(model_name, version);
    if (!m.ok()) return reply(Error(m.status()));
    model = *m;
  }
  auto encoding = std::make_shared<OutputEncoding>();
  Status parsed = ParseInferRequest(body, http.inference_header_length,
                                    model ? &model->config() : nullptr, request.get(),
                                    encoding.get());
  if (!parsed.ok()) return reply(Error(parsed));
  request->trace = std::move(trace);
  request->cancelled = http.cancelled;
  request->set_callback([reply, encoding](std::unique_ptr<core::InferenceResponse> response) {
    if (!response->status.ok()) return reply(Error(response->status));
    auto encoded = EncodeInferResponse(*response, *encoding);
    if (!encoded.ok()) return reply(Error(encoded.status()));
    HttpResponse r;
    r.body = std::move(encoded->body);
    if (encoded->has_binary) {
      r.content_type = "application/octet-stream";
      r.headers.push_back({"Inference-Header-Content-Length", std::to_string(encoded->json_size)});
    }
    reply(std::move(r));
  });
  server_->Infer(std::move(request));
}

}  // namespace nereid::server::http
