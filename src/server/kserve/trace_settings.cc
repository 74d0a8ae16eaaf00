#include "server/kserve/trace_settings.h"

#include <charconv>

namespace nereid::server {
namespace {

Status ParseNumber(const std::string& key, const TraceSettingValue& v,
                   core::SettingUpdate<int64_t>* out) {
  out->present = true;
  if (!v) return Status::Ok();
  if (v->size() != 1) return InvalidArgument(key + " takes one value");
  const std::string& s = (*v)[0];
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgument(key + " must be an integer, got '" + s + "'");
  }
  out->value = n;
  return Status::Ok();
}

Status ParseLevel(const TraceSettingValue& v, core::SettingUpdate<core::TraceLevel>* out) {
  out->present = true;
  if (!v) return Status::Ok();
  bool timestamps = false;
  for (const std::string& s : *v) {
    if (s == "TIMESTAMPS") {
      timestamps = true;
    } else if (s == "TENSORS") {
      return Unimplemented("trace level TENSORS is not supported (only OFF and TIMESTAMPS)");
    } else if (s != "OFF") {
      return InvalidArgument("unknown trace level '" + s + "' (OFF or TIMESTAMPS)");
    }
  }
  out->value = timestamps ? core::TraceLevel::kTimestamps : core::TraceLevel::kOff;
  return Status::Ok();
}

}  // namespace

StatusOr<core::TraceSettingsUpdate> ParseTraceSettingsUpdate(
    const std::vector<std::pair<std::string, TraceSettingValue>>& settings) {
  core::TraceSettingsUpdate u;
  for (const auto& [key, value] : settings) {
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
      if (value && (value->size() != 1 || (*value)[0] != "triton")) {
        return Unimplemented("only trace_mode 'triton' is supported");
      }
    } else {
      return InvalidArgument("unknown trace setting '" + key + "'");
    }
  }
  return u;
}

std::vector<std::pair<std::string, std::vector<std::string>>> TraceSettingsToStrings(
    const core::TraceSettings& s) {
  return {{"trace_level", {s.level == core::TraceLevel::kOff ? "OFF" : "TIMESTAMPS"}},
          {"trace_rate", {std::to_string(s.rate)}},
          {"trace_count", {std::to_string(s.count)}},
          {"log_frequency", {std::to_string(s.log_frequency)}},
          {"trace_file", {s.file}},
          {"trace_mode", {"triton"}}};
}

}  // namespace nereid::server
