// Protocol-neutral parts of Triton's model repository and logging
// extensions, shared by the HTTP front end and (later) the gRPC one:
//
//   repository index   core's index as the wire shows it (version as text,
//                      "" when the entry is not tied to a version)
//   load / unload      typed request parameters -> core::LoadParameters /
//                      unload_dependents, with the checks both front ends need
//   log settings       read and update common/logging
//
// Thread safety: free functions; ApplyLogSettings may race with other
// updates, each field is set atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "core/server.h"

namespace nereid::server {

struct RepositoryIndexItem {
  std::string name;
  std::string version;  // "" when not tied to a version
  std::string state;    // "READY", "UNAVAILABLE", "LOADING"
  std::string reason;
};

std::vector<RepositoryIndexItem> BuildRepositoryIndex(const core::InferenceServer& server,
                                                      bool ready_only);

// A request parameter as the front end decoded it. "file:" values are the
// file's bytes (HTTP decodes base64 first; gRPC carries bytes).
using ParameterValue = std::variant<bool, int64_t, double, std::string>;
using Parameters = std::vector<std::pair<std::string, ParameterValue>>;

// "config" (string) and "file:<path>" (bytes) -> core::LoadParameters.
// Other names and wrong types are InvalidArgument naming them.
StatusOr<core::LoadParameters> BuildLoadParameters(const Parameters& params);
// "unload_dependents" (bool, default false); other names are errors.
StatusOr<bool> ParseUnloadDependents(const Parameters& params);

struct LogSettings {
  std::string log_file;  // "" = standard error
  bool log_info = true;
  bool log_warning = true;
  bool log_error = true;
  int64_t log_verbose_level = 0;
  std::string log_format = "default";  // "default" | "ISO8601"
};

// Every field optional: only those given change.
struct LogSettingsUpdate {
  std::optional<std::string> log_file;
  std::optional<bool> log_info, log_warning, log_error;
  std::optional<int64_t> log_verbose_level;
  std::optional<std::string> log_format;
};

LogSettings CurrentLogSettings();
// Validates the whole update first, then applies it; nothing changes on
// error. log_file cannot be changed at run time (as in Triton): giving a
// different file is InvalidArgument.
Status ApplyLogSettings(const LogSettingsUpdate& update);

}  // namespace nereid::server
