#include "server/kserve/repository.h"

#include "common/logging.h"

namespace nereid::server {

std::vector<RepositoryIndexItem> BuildRepositoryIndex(const core::InferenceServer& server,
                                                      bool ready_only) {
  std::vector<RepositoryIndexItem> out;
  for (const auto& e : server.RepositoryIndex(ready_only)) {
    RepositoryIndexItem item;
    item.name = e.name;
    if (e.version >= 0) item.version = std::to_string(e.version);
    item.state = std::string(core::ModelStateName(e.state));
    item.reason = e.reason;
    out.push_back(std::move(item));
  }
  return out;
}

namespace {

const char* TypeName(const ParameterValue& v) {
  switch (v.index()) {
    case 0: return "a boolean";
    case 1: return "an integer";
    case 2: return "a number";
    default: return "a string";
  }
}

}  // namespace

StatusOr<core::LoadParameters> BuildLoadParameters(const Parameters& params) {
  core::LoadParameters out;
  for (const auto& [key, value] : params) {
    if (key == "config") {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) {
        return InvalidArgument(std::string("load parameter 'config' must be a string holding "
                                           "a JSON model configuration, got ") +
                               TypeName(value));
      }
      out.config_json = *s;
    } else if (key.rfind("file:", 0) == 0) {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) {
        return InvalidArgument("load parameter '" + key + "' must hold the file's content, got " +
                               TypeName(value));
      }
      std::string path = key.substr(5);
      Status valid = core::ValidateModelFilePath(path);
      if (!valid.ok()) return valid.WithPrefix("load parameter '" + key + "'");
      out.files[path] = *s;
    } else {
      return InvalidArgument("unknown load parameter '" + key +
                             "' (expected 'config' or 'file:<version>/<file name>')");
    }
  }
  return out;
}

StatusOr<bool> ParseUnloadDependents(const Parameters& params) {
  bool dependents = false;
  for (const auto& [key, value] : params) {
    if (key != "unload_dependents") {
      return InvalidArgument("unknown unload parameter '" + key +
                             "' (expected 'unload_dependents')");
    }
    const auto* b = std::get_if<bool>(&value);
    if (!b) {
      return InvalidArgument(std::string("unload parameter 'unload_dependents' must be a "
                                         "boolean, got ") +
                             TypeName(value));
    }
    dependents = *b;
  }
  return dependents;
}

LogSettings CurrentLogSettings() {
  LogSettings s;
  s.log_file = logging::LogFile();
  s.log_info = logging::IsEnabled(logging::Level::kInfo);
  s.log_warning = logging::IsEnabled(logging::Level::kWarning);
  s.log_error = logging::IsEnabled(logging::Level::kError);
  s.log_verbose_level = logging::VerboseLevel();
  s.log_format = logging::FormatName(logging::GetFormat());
  return s;
}

Status ApplyLogSettings(const LogSettingsUpdate& update) {
  if (update.log_file && *update.log_file != logging::LogFile()) {
    return InvalidArgument("log_file cannot be changed at run time; start the server with "
                           "--log-file");
  }
  if (update.log_verbose_level &&
      (*update.log_verbose_level < 0 || *update.log_verbose_level > 1000000)) {
    return InvalidArgument("log_verbose_level must be a non-negative integer, got " +
                           std::to_string(*update.log_verbose_level));
  }
  logging::Format format = logging::GetFormat();
  if (update.log_format) {
    if (*update.log_format == "default") {
      format = logging::Format::kDefault;
    } else if (*update.log_format == "ISO8601") {
      format = logging::Format::kIso8601;
    } else {
      return InvalidArgument("log_format must be 'default' or 'ISO8601', got '" +
                             *update.log_format + "'");
    }
  }
  if (update.log_info) logging::SetEnabled(logging::Level::kInfo, *update.log_info);
  if (update.log_warning) logging::SetEnabled(logging::Level::kWarning, *update.log_warning);
  if (update.log_error) logging::SetEnabled(logging::Level::kError, *update.log_error);
  if (update.log_verbose_level) {
    logging::SetVerboseLevel(static_cast<int>(*update.log_verbose_level));
  }
  logging::SetFormat(format);
  return Status::Ok();
}

}  // namespace nereid::server
