// Trace settings in the wire form both front ends use (Triton's trace
// extension): each setting is a name and a list of strings (HTTP JSON sends
// "trace_rate": "10" or ["TIMESTAMPS"]; gRPC sends SettingValue{value}). A
// missing list (JSON null, gRPC empty value list) resets the setting.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/trace/trace_manager.h"

namespace nereid::server {

using TraceSettingValue = std::optional<std::vector<std::string>>;  // nullopt = reset

// Names: trace_level, trace_rate, trace_count, log_frequency, trace_file,
// trace_mode ("triton" only). Unknown names and bad values are errors.
StatusOr<core::TraceSettingsUpdate> ParseTraceSettingsUpdate(
    const std::vector<std::pair<std::string, TraceSettingValue>>& settings);

// The settings as Triton reports them: trace_level a list, numbers as
// strings, plus trace_file and trace_mode.
std::vector<std::pair<std::string, std::vector<std::string>>> TraceSettingsToStrings(
    const core::TraceSettings& settings);

}  // namespace nereid::server
