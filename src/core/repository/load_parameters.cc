#include "core/repository/load_parameters.h"

#include <google/protobuf/util/json_util.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "proto/model_config.pb.h"

namespace nereid::core {

namespace fs = std::filesystem;

Status ParseConfigJson(const std::string& json, inference::ModelConfig* config) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json, config, options);
  if (!st.ok()) {
    return InvalidArgument("invalid 'config' parameter (a JSON ModelConfig): " +
                           std::string(st.message()));
  }
  return Status::Ok();
}

Status ValidateModelFilePath(const std::string& rel) {
  if (rel.empty()) return InvalidArgument("empty model file path");
  if (rel.find('\0') != std::string::npos) {
    return InvalidArgument("model file path contains a NUL byte");
  }
  if (rel.front() == '/') {
    return InvalidArgument("model file path '" + rel + "' must be relative");
  }
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("model file path '" + rel +
                             "' must not contain empty, '.' or '..' components");
    }
    start = end + 1;
  }
  return Status::Ok();
}

StatusOr<std::string> WriteModelFiles(const std::map<std::string, std::string>& files,
                                      const std::string& parent) {
  for (const auto& [rel, content] : files) RETURN_IF_ERROR(ValidateModelFilePath(rel));
  std::error_code ec;
  fs::path base = parent.empty() ? fs::temp_directory_path(ec) : fs::path(parent);
  if (ec) return Internal("no temporary directory: " + ec.message());
  std::string templ = (base / "nereid_model_XXXXXX").string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    return Internal("cannot create a temporary model directory under " + base.string());
  }
  std::string dir(buf.data());
  for (const auto& [rel, content] : files) {
    fs::path path = fs::path(dir) / rel;
    fs::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (ec || !out) {
      fs::remove_all(dir, ec);
      return Internal("cannot write model file '" + rel + "' into " + dir);
    }
  }
  return dir;
}

std::string DirectoryFingerprint(const std::string& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return "missing";
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code e2;
    auto status = it->status(e2);
    std::string rel = fs::relative(it->path(), dir, e2).string();
    std::string line = rel;
    if (fs::is_regular_file(status)) {
      line += "|" + std::to_string(it->file_size(e2));
      line += "|" + std::to_string(it->last_write_time(e2).time_since_epoch().count());
    } else {
      line += "/";
    }
    entries.push_back(std::move(line));
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& e : entries) out += e + "\n";
  return out;
}

}  // namespace nereid::core
