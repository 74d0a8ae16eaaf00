#include "tools/perf/perf_json.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>

namespace nereid::tools::perf {
namespace {

using rapidjson::Value;

StatusOr<rapidjson::Document> Parse(std::string_view body, std::string_view what) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return InvalidArgument("the server's " + std::string(what) +
                           " is not a JSON object: " + std::string(body.substr(0, 200)));
  }
  return doc;
}

std::string GetString(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

uint64_t GetUint64(const Value& obj, const char* key) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return 0;
  if (it->value.IsUint64()) return it->value.GetUint64();
  // Triton's HTTP statistics write numbers; accept strings too.
  if (it->value.IsString()) return std::strtoull(it->value.GetString(), nullptr, 10);
  return 0;
}

StatusOr<std::vector<TensorInfo>> ParseTensors(const Value& obj, const char* key) {
  std::vector<TensorInfo> out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return out;
  if (!it->value.IsArray())
    return InvalidArgument(std::string("metadata '") + key + "' is not an array");
  for (const Value& t : it->value.GetArray()) {
    if (!t.IsObject())
      return InvalidArgument(std::string("metadata '") + key + "' entry is not an object");
    TensorInfo info{GetString(t, "name"), GetString(t, "datatype"), {}};
    auto shape = t.FindMember("shape");
    if (shape != t.MemberEnd() && shape->value.IsArray()) {
      for (const Value& d : shape->value.GetArray()) {
        if (!d.IsInt64())
          return InvalidArgument("metadata shape of '" + info.name + "' is not integers");
        info.shape.push_back(d.GetInt64());
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

void AddDuration(const Value& stats, const char* key, DurationCounter* d) {
  if (!stats.IsObject()) return;
  auto it = stats.FindMember(key);
  if (it == stats.MemberEnd()) return;
  d->count += GetUint64(it->value, "count");
  d->ns += GetUint64(it->value, "ns");
}

template <typename W>
void Field(W& w, const char* key, double v) {
  w.Key(key);
  w.Double(v);
}

template <typename W>
void Field(W& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

template <typename W>
void Field(W& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace

StatusOr<ModelInfo> ParseModelMetadataJson(std::string_view body) {
  ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(body, "model metadata"));
  ModelInfo info;
  info.name = GetString(doc, "name");
  info.platform = GetString(doc, "platform");
  auto versions = doc.FindMember("versions");
  if (versions != doc.MemberEnd() && versions->value.IsArray()) {
    for (const Value& v : versions->value.GetArray()) {
      if (v.IsString()) info.versions.emplace_back(v.GetString(), v.GetStringLength());
    }
  }
  ASSIGN_OR_RETURN(info.inputs, ParseTensors(doc, "inputs"));
  ASSIGN_OR_RETURN(info.outputs, ParseTensors(doc, "outputs"));
  return info;
}

StatusOr<int64_t> ParseMaxBatchSizeJson(std::string_view body) {
  ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(body, "model config"));
  auto it = doc.FindMember("max_batch_size");
  if (it == doc.MemberEnd()) return int64_t{0};
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsString())
    return static_cast<int64_t>(std::strtoll(it->value.GetString(), nullptr, 10));
  return InvalidArgument("the model config's max_batch_size is not a number");
}

StatusOr<ServerStats> ParseStatisticsJson(std::string_view body) {
  ASSIGN_OR_RETURN(rapidjson::Document doc, Parse(body, "model statistics"));
  auto models = doc.FindMember("model_stats");
  if (models == doc.MemberEnd() || !models->value.IsArray()) {
    return InvalidArgument("the server's statistics have no 'model_stats' array");
  }
  ServerStats s;
  for (const Value& m : models->value.GetArray()) {
    if (!m.IsObject()) continue;
    s.inference_count += GetUint64(m, "inference_count");
    s.execution_count += GetUint64(m, "execution_count");
    auto inf = m.FindMember("inference_stats");
    if (inf == m.MemberEnd()) continue;
    AddDuration(inf->value, "success", &s.success);
    AddDuration(inf->value, "fail", &s.fail);
    AddDuration(inf->value, "queue", &s.queue);
    AddDuration(inf->value, "compute_input", &s.compute_input);
    AddDuration(inf->value, "compute_infer", &s.compute_infer);
    AddDuration(inf->value, "compute_output", &s.compute_output);
  }
  return s;
}

std::string ErrorMessageFromBody(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    std::string error = GetString(doc, "error");
    if (!error.empty()) return error;
  }
  std::string text(body.substr(0, 300));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "(empty body)" : text;
}

std::string InferHeaderJson(const std::vector<InputTensor>& inputs) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("inputs");
  w.StartArray();
  for (const auto& in : inputs) {
    w.StartObject();
    Field(w, "name", in.name);
    w.Key("shape");
    w.StartArray();
    for (int64_t d : in.shape) w.Int64(d);
    w.EndArray();
    Field(w, "datatype", in.datatype);
    w.Key("parameters");
    w.StartObject();
    Field(w, "binary_data_size", static_cast<uint64_t>(in.data.size()));
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.Key("parameters");
  w.StartObject();
  w.Key("binary_data_output");
  w.Bool(true);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string ResultsJson(const RunInfo& run, const std::vector<LevelReport>& levels) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartArray();
  for (const LevelReport& l : levels) {
    w.StartObject();
    Field(w, "model", run.model);
    Field(w, "model_version", run.version);
    Field(w, "protocol", run.protocol);
    Field(w, "url", run.url);
    Field(w, "batch_size", static_cast<uint64_t>(run.batch));
    Field(w, "concurrency", static_cast<uint64_t>(l.concurrency));
    Field(w, "measurement_ms", l.measurement_ms);
    Field(w, "requests", l.requests);
    Field(w, "errors", static_cast<uint64_t>(l.errors));
    Field(w, "first_error", l.first_error);
    Field(w, "requests_per_sec", l.requests_per_sec);
    Field(w, "inferences_per_sec", l.inferences_per_sec);
    Field(w, "latency_avg_us", l.latency.avg_us);
    Field(w, "latency_min_us", l.latency.min_us);
    Field(w, "latency_p50_us", l.latency.p50_us);
    Field(w, "latency_p90_us", l.latency.p90_us);
    Field(w, "latency_p95_us", l.latency.p95_us);
    Field(w, "latency_p99_us", l.latency.p99_us);
    Field(w, "latency_max_us", l.latency.max_us);
    Field(w, "percentile", l.latency.extra_percentile);
    Field(w, "latency_percentile_us", l.latency.extra_us);
    w.Key("server");
    w.StartObject();
    w.Key("valid");
    w.Bool(l.server.valid);
    Field(w, "error", l.server_error);
    Field(w, "success_count", l.server.success_count);
    Field(w, "fail_count", l.server.fail_count);
    Field(w, "inference_count", l.server.inference_count);
    Field(w, "execution_count", l.server.execution_count);
    Field(w, "request_us", l.server.request_us);
    Field(w, "queue_us", l.server.queue_us);
    Field(w, "compute_input_us", l.server.compute_input_us);
    Field(w, "compute_infer_us", l.server.compute_infer_us);
    Field(w, "compute_output_us", l.server.compute_output_us);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace nereid::tools::perf
