#include "server/http/trace_routes.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "server/http/infer_codec.h"
#include "server/kserve/kserve.h"
#include "server/kserve/trace_settings.h"

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
  w.StartObject();
  for (const auto& [key, values] : TraceSettingsToStrings(s)) {
    w.Key(key.c_str(), key.size());
    if (key == "trace_level") w.StartArray();
    for (const auto& v : values) w.String(v.c_str(), v.size());
    if (key == "trace_level") w.EndArray();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// JSON values to the shared string form: null resets; a string, an integer
// or an array of strings are values.
StatusOr<TraceSettingValue> ToStrings(std::string_view key, element v) {
  if (v.is_null()) return TraceSettingValue();
  if (v.is_string()) return TraceSettingValue({std::string(v.get_string().value_unsafe())});
  if (v.type() == element_type::INT64) {
    return TraceSettingValue({std::to_string(v.get_int64().value_unsafe())});
  }
  simdjson::dom::array items;
  if (!v.get_array().get(items)) {
    std::vector<std::string> out;
    for (element e : items) {
      if (!e.is_string()) return InvalidArgument(std::string(key) + " must hold strings");
      out.emplace_back(e.get_string().value_unsafe());
    }
    return TraceSettingValue(std::move(out));
  }
  return InvalidArgument(std::string(key) + " must be a string, an integer or an array of strings");
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
  std::vector<std::pair<std::string, TraceSettingValue>> settings;
  for (auto [key, value] : obj) {
    ASSIGN_OR_RETURN(TraceSettingValue v, ToStrings(key, value));
    settings.emplace_back(std::string(key), std::move(v));
  }
  return ParseTraceSettingsUpdate(settings);
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
