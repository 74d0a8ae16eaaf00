#include "server/http/extension_handlers.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "server/http/base64.h"
#include "server/http/compression.h"
#include "server/http/infer_codec.h"
#include "server/kserve/kserve.h"
#include "server/kserve/repository.h"

namespace nereid::server::http {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse ErrorResponse(const Status& s) {
  return JsonResponse(HttpStatusFor(s.code()), ErrorJson(s.message()));
}

// The request body, decompressed if needed.
StatusOr<std::string> Body(const HttpRequest& request, size_t max_input_size) {
  if (request.content_encoding.empty()) return *request.body;
  ASSIGN_OR_RETURN(Encoding enc, ParseContentEncoding(request.content_encoding));
  if (enc == Encoding::kIdentity) return *request.body;
  return Decompress(*request.body, enc, max_input_size);
}

// Parses `body` as a JSON object (an empty or all-blank body is an empty
// object) and calls `fn` for each member.
template <typename Fn>
Status ForEachMember(const std::string& body, Fn fn) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return Status::Ok();
  simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(body).get(root)) {
    return InvalidArgument(std::string("malformed JSON request body: ") +
                           simdjson::error_message(error));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return InvalidArgument("the request body must be a JSON object");
  for (auto field : obj) {
    RETURN_IF_ERROR(fn(std::string(field.key), field.value));
  }
  return Status::Ok();
}

// {"k": v, ...} -> Parameters; "file:" values are base64-decoded.
StatusOr<Parameters> ParseParameters(element obj) {
  simdjson::dom::object members;
  if (obj.get_object().get(members)) return InvalidArgument("'parameters' must be a JSON object");
  Parameters out;
  for (auto field : members) {
    std::string key(field.key);
    element v = field.value;
    switch (v.type()) {
      case element_type::BOOL: out.emplace_back(key, v.get_bool().value_unsafe()); break;
      case element_type::INT64: out.emplace_back(key, v.get_int64().value_unsafe()); break;
      case element_type::UINT64:
        return InvalidArgument("parameter '" + key + "' is too large");
      case element_type::DOUBLE: out.emplace_back(key, v.get_double().value_unsafe()); break;
      case element_type::STRING: {
        std::string s(v.get_string().value_unsafe());
        if (key.rfind("file:", 0) == 0) {
          auto decoded = Base64Decode(s);
          if (!decoded.ok()) return decoded.status().WithPrefix("parameter '" + key + "'");
          s = std::move(decoded).value();
        }
        out.emplace_back(key, std::move(s));
        break;
      }
      default:
        return InvalidArgument("parameter '" + key +
                               "' must be a boolean, a number or a string");
    }
  }
  return out;
}

// Reads {"parameters": {...}} (the only member allowed).
StatusOr<Parameters> ParseParametersBody(const std::string& body) {
  Parameters params;
  Status st = ForEachMember(body, [&](const std::string& key, element v) -> Status {
    if (key != "parameters") {
      return InvalidArgument("unexpected member '" + key + "' in the request body");
    }
    ASSIGN_OR_RETURN(params, ParseParameters(v));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return params;
}

std::string IndexJson(const std::vector<RepositoryIndexItem>& items) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartArray();
  for (const auto& item : items) {
    w.StartObject();
    w.Key("name");
    w.String(item.name.c_str(), item.name.size());
    if (!item.version.empty()) {
      w.Key("version");
      w.String(item.version.c_str(), item.version.size());
    }
    w.Key("state");
    w.String(item.state.c_str(), item.state.size());
    w.Key("reason");
    w.String(item.reason.c_str(), item.reason.size());
    w.EndObject();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string LogSettingsJson(const LogSettings& s) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("log_file");
  w.String(s.log_file.c_str(), s.log_file.size());
  w.Key("log_info");
  w.Bool(s.log_info);
  w.Key("log_warning");
  w.Bool(s.log_warning);
  w.Key("log_error");
  w.Bool(s.log_error);
  w.Key("log_verbose_level");
  w.Int64(s.log_verbose_level);
  w.Key("log_format");
  w.String(s.log_format.c_str(), s.log_format.size());
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

HttpResponse Ok() {
  HttpResponse r;
  r.content_type.clear();
  return r;
}

}  // namespace

void HandleRepository(core::InferenceServer* server, const HttpRequest& request,
                      const std::vector<std::string>& p, size_t max_input_size, ReplyFn reply) {
  // p[0] == "v2", p[1] == "repository".
  const bool index = p.size() == 3 && p[2] == "index";
  const bool model_action =
      p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload");
  if (!index && !model_action) {
    return reply(ErrorResponse(NotFound("no such endpoint: " + request.target)));
  }
  if (request.method != "POST") {
    return reply(JsonResponse(405, ErrorJson("method " + request.method +
                                             " is not allowed; use POST")));
  }
  auto body = Body(request, max_input_size);
  if (!body.ok()) return reply(ErrorResponse(body.status()));

  if (index) {
    bool ready_only = false;
    Status st = ForEachMember(*body, [&](const std::string& key, element v) -> Status {
      if (key != "ready") {
        return InvalidArgument("unexpected member '" + key + "' in the index request");
      }
      if (v.type() != element_type::BOOL) return InvalidArgument("'ready' must be a boolean");
      ready_only = v.get_bool().value_unsafe();
      return Status::Ok();
    });
    if (!st.ok()) return reply(ErrorResponse(st));
    return reply(JsonResponse(200, IndexJson(BuildRepositoryIndex(*server, ready_only))));
  }

  const std::string& model = p[3];
  auto params = ParseParametersBody(*body);
  if (p[4] == "load") {
    if (!params.ok()) {
      return reply(ErrorResponse(params.status().WithPrefix("failed to load '" + model + "'")));
    }
    auto load = BuildLoadParameters(*params);
    if (!load.ok()) {
      return reply(ErrorResponse(load.status().WithPrefix("failed to load '" + model + "'")));
    }
    return server->LoadModelAsync(model, std::move(load).value(), [reply](Status st) {
      if (st.ok()) return reply(Ok());
      // Triton answers every failed load with 400, except when unavailable.
      int code = st.code() == StatusCode::kUnavailable ? 503 : 400;
      reply(JsonResponse(code, ErrorJson(st.message())));
    });
  }
  if (!params.ok()) return reply(ErrorResponse(params.status()));
  auto dependents = ParseUnloadDependents(*params);
  if (!dependents.ok()) return reply(ErrorResponse(dependents.status()));
  server->UnloadModelAsync(model, *dependents, [reply](Status st) {
    reply(st.ok() ? Ok() : ErrorResponse(st));
  });
}

void HandleLogging(const HttpRequest& request, size_t max_input_size, ReplyFn reply) {
  if (request.method == "GET") {
    return reply(JsonResponse(200, LogSettingsJson(CurrentLogSettings())));
  }
  if (request.method != "POST") {
    return reply(JsonResponse(405, ErrorJson("method " + request.method +
                                             " is not allowed; use GET or POST")));
  }
  auto body = Body(request, max_input_size);
  if (!body.ok()) return reply(ErrorResponse(body.status()));
  LogSettingsUpdate update;
  Status st = ForEachMember(*body, [&](const std::string& key, element v) -> Status {
    auto want_bool = [&](std::optional<bool>* out) -> Status {
      if (v.type() != element_type::BOOL) return InvalidArgument("'" + key + "' must be a boolean");
      *out = v.get_bool().value_unsafe();
      return Status::Ok();
    };
    auto want_string = [&](std::optional<std::string>* out) -> Status {
      if (v.type() != element_type::STRING) return InvalidArgument("'" + key + "' must be a string");
      *out = std::string(v.get_string().value_unsafe());
      return Status::Ok();
    };
    if (key == "log_info") return want_bool(&update.log_info);
    if (key == "log_warning") return want_bool(&update.log_warning);
    if (key == "log_error") return want_bool(&update.log_error);
    if (key == "log_file") return want_string(&update.log_file);
    if (key == "log_format") return want_string(&update.log_format);
    if (key == "log_verbose_level") {
      if (v.type() == element_type::INT64) {
        update.log_verbose_level = v.get_int64().value_unsafe();
        return Status::Ok();
      }
      return InvalidArgument("'log_verbose_level' must be a non-negative integer");
    }
    return InvalidArgument("unknown log setting '" + key +
                           "' (expected log_file, log_info, log_warning, log_error, "
                           "log_verbose_level, log_format)");
  });
  if (st.ok()) st = ApplyLogSettings(update);
  if (!st.ok()) return reply(ErrorResponse(st));
  reply(JsonResponse(200, LogSettingsJson(CurrentLogSettings())));
}

}  // namespace nereid::server::http
