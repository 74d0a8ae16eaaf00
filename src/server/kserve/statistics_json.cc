#include "server/kserve/statistics_json.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace nereid::server {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteDuration(Writer& w, const char* key, const core::DurationStat& d) {
  w.Key(key);
  w.StartObject();
  w.Key("count");
  w.Uint64(d.count);
  w.Key("ns");
  w.Uint64(d.ns);
  w.EndObject();
}

void WriteModel(Writer& w, const core::ModelStatsSnapshot& s) {
  w.StartObject();
  w.Key("name");
  w.String(s.name.c_str(), static_cast<rapidjson::SizeType>(s.name.size()));
  w.Key("version");
  w.String(std::to_string(s.version).c_str());
  w.Key("last_inference");
  w.Uint64(s.last_inference_ms);
  w.Key("inference_count");
  w.Uint64(s.inference_count);
  w.Key("execution_count");
  w.Uint64(s.execution_count);
  w.Key("inference_stats");
  w.StartObject();
  WriteDuration(w, "success", s.success);
  WriteDuration(w, "fail", s.fail);
  WriteDuration(w, "queue", s.queue);
  WriteDuration(w, "compute_input", s.compute_input);
  WriteDuration(w, "compute_infer", s.compute_infer);
  WriteDuration(w, "compute_output", s.compute_output);
  WriteDuration(w, "cache_hit", s.cache_hit);
  WriteDuration(w, "cache_miss", s.cache_miss);
  w.EndObject();
  // Per-response statistics exist only for decoupled models (not supported).
  w.Key("response_stats");
  w.StartObject();
  w.EndObject();
  w.Key("batch_stats");
  w.StartArray();
  for (const auto& b : s.batch_stats) {
    w.StartObject();
    w.Key("batch_size");
    w.Uint64(b.batch_size);
    WriteDuration(w, "compute_input", b.compute_input);
    WriteDuration(w, "compute_infer", b.compute_infer);
    WriteDuration(w, "compute_output", b.compute_output);
    w.EndObject();
  }
  w.EndArray();
  w.Key("memory_usage");
  w.StartArray();
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string ModelStatisticsJson(const std::vector<core::ModelStatsSnapshot>& stats) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("model_stats");
  w.StartArray();
  for (const auto& s : stats) WriteModel(w, s);
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace nereid::server
