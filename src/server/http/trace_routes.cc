#include "server/http/trace_routes.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <charconv>

#include "server/http/infer_codec.h"
#include "server/kserve/kserve.h"

namespace nereid::server::http {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

HttpResponse Reply(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(const Status& s) { return Reply(HttpStatusFor(s.code()), ErrorJson(s.message())); }

std::string SettingsJson(const core::TraceSettings& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto number = [&w](const char* key, int64_t v) {
    w.Key(key);
    std::string text = std::to_string(v);
    w.String(text.c_str(), text.size());
  };
  w.StartObject();
  w.Key("trace_level");
  w.StartArray();
  w.String(s.level == core::TraceLevel::kOff ? "OFF" : "TIMESTAMPS");
  w.EndArray();
  number("trace_rate", s.rate);
  number("trace_count", s.count);
  number("log_frequency", s.log_frequency);
  w.Key("trace_file");
  w.String(s.file.c_str(), s.file.size());
  w.Key("trace_mode");
  w.String("triton");
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// A number given as a JSON integer or a string of digits (Triton's form).
Status ParseNumber(std::string_view key, element v, core::SettingUpdate<int64_t>* out) {
  out->present = true;
  if (v.is_null()) return Status::Ok();
  int64_t n = 0;
  if (v.type() == element_type::INT64) {
    n = v.get_int64().value_unsafe();
  } else if (v.is_string()) {
    std::string_view s = v.get_string().value_unsafe();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      return InvalidArgument(std::string(key) + " must be an integer, got '" + std::string(s) +
                             "'");
    }
  } else {
    return InvalidArgument(std::string(key) + " must be an integer or a string of digits");
  }
  out->value = n;
  return Status::Ok();
}

Status ParseLevelName(std::string_view s, bool* timestamps) {
  if (s == "TIMESTAMPS") {
    *timestamps = true;
  } else if (s == "TENSORS") {
    return Unimplemented("trace level TENSORS is not supported (only OFF and TIMESTAMPS)");
  } else if (s != "OFF") {
    return InvalidArgument("unknown trace level '" + std::string(s) + "' (OFF or TIMESTAMPS)");
  }
  return Status::Ok();
}

Status ParseLevel(element v, core::SettingUpdate<core::TraceLevel>* out) {
  out->present = true;
  if (v.is_null()) return Status::Ok();
  bool timestamps = false;
  if (v.is_string()) {
    RETURN_IF_ERROR(ParseLevelName(v.get_string().value_unsafe(), &timestamps));
  } else if (v.is_array()) {
    simdjson::dom::array levels;
    if (v.get_array().get(levels)) return InvalidArgument("trace_level must be an array");
    for (element e : levels) {
      if (!e.is_string()) return InvalidArgument("trace_level must hold strings");
      RETURN_IF_ERROR(ParseLevelName(e.get_string().value_unsafe(), &timestamps));
    }
  } else {
    return InvalidArgument("trace_level must be an array of strings");
  }
  out->value = timestamps ? core::TraceLevel::kTimestamps : core::TraceLevel::kOff;
  return Status::Ok();
}

StatusOr<core::TraceSettingsUpdate> ParseUpdate(const std::string& body) {
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(body).get(doc)) {
    return InvalidArgument(std::string("malformed JSON in trace setting request: ") +
                           simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) {
    return InvalidArgument("trace setting request must be a JSON object");
  }
  core::TraceSettingsUpdate u;
  for (auto [key, value] : obj) {
    if (key == "trace_level") {
      RETURN_IF_ERROR(ParseLevel(value, &u.level));
    } else if (key == "trace_rate") {
      RETURN_IF_ERROR(ParseNumber(key, value, &u.rate));
    } else if (key == "trace_count") {
      RETURN_IF_ERROR(ParseNumber(key, value, &u.count));
    } else if (key == "log_frequency") {
      RETURN_IF_ERROR(ParseNumber(key, value, &u.log_frequency));
    } else if (key == "trace_file") {
      u.file.present = true;
    } else if (key == "trace_mode") {
      std::string_view mode;
      if (!value.is_null() && (value.get_string().get(mode) || mode != "triton")) {
        return Unimplemented("only trace_mode 'triton' is supported");
      }
    } else {
      return InvalidArgument("unknown trace setting '" + std::string(key) + "'");
    }
  }
  return u;
}

}  // namespace

HttpResponse HandleTraceSetting(core::InferenceServer& server, const HttpRequest& request,
                                const std::string& model) {
  if (request.method != "GET" && request.method != "POST") {
    return Reply(405, ErrorJson("method " + request.method + " is not allowed on " +
                                request.target.substr(0, request.target.find('?'))));
  }
  if (!model.empty()) {
    auto m = server.GetModel(model, -1);
    if (!m.ok() && m.status().code() == StatusCode::kNotFound) return Error(m.status());
  }
  if (request.method == "POST") {
    auto update = ParseUpdate(*request.body);
    if (!update.ok()) return Error(update.status());
    Status st = server.trace().Update(model, *update);
    if (!st.ok()) return Error(st);
  }
  return Reply(200, SettingsJson(server.trace().Settings(model)));
}

ReplyFn TracedReply(ReplyFn reply, std::shared_ptr<core::Trace> trace) {
  return [reply = std::move(reply), trace = std::move(trace)](HttpResponse r) {
    trace->Record("HTTP_SEND_START");
    reply(std::move(r));
    trace->Record("HTTP_SEND_END");
  };
}

}  // namespace nereid::server::http
