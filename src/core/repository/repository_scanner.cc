#include "core/repository/repository_scanner.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "proto/model_config.pb.h"

namespace nereid::core {

namespace fs = std::filesystem;

StatusOr<ScanResult> ScanRepositories(const std::vector<std::string>& roots) {
  ScanResult result;
  std::map<std::string, size_t> index;
  std::vector<bool> conflicted;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return InvalidArgument("model repository '" + root + "' does not exist or is not a directory");
    }
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (!entry.is_directory(ec)) continue;
      names.push_back(name);
    }
    if (ec) return InvalidArgument("cannot read model repository '" + root + "': " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      ModelLocation loc{name, root, (fs::path(root) / name).string()};
      auto it = index.find(name);
      if (it != index.end()) {
        std::string msg = "model '" + name + "' appears in more than one model repository ('" +
                          result.models[it->second].root + "' and '" + root + "')";
        result.conflicts.push_back({loc, InvalidArgument(msg)});
        conflicted[it->second] = true;
        continue;
      }
      index[name] = result.models.size();
      result.models.push_back(loc);
      conflicted.push_back(false);
    }
  }
  // Both copies of a duplicated name are refused, as Triton does.
  std::vector<ModelLocation> kept;
  for (size_t i = 0; i < result.models.size(); ++i) {
    if (conflicted[i]) {
      std::string msg = "model '" + result.models[i].name +
                        "' appears in more than one model repository";
      result.conflicts.push_back({result.models[i], InvalidArgument(msg)});
    } else {
      kept.push_back(result.models[i]);
    }
  }
  result.models = std::move(kept);
  return result;
}

std::vector<int64_t> ListVersions(const std::string& model_dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 18) continue;
    if (!std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    if (name.size() > 1 && name[0] == '0') continue;  // Triton ignores leading zeros
    versions.push_back(std::stoll(name));
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelVersionPolicy& policy,
                                              const std::vector<int64_t>& available) {
  std::vector<int64_t> chosen;
  if (policy.has_all()) {
    chosen = available;
  } else if (policy.has_specific()) {
    for (int64_t v : policy.specific().versions()) {
      if (!std::binary_search(available.begin(), available.end(), v)) {
        return NotFound("version_policy names version " + std::to_string(v) +
                        ", which has no version directory");
      }
      chosen.push_back(v);
    }
    std::sort(chosen.begin(), chosen.end());
    chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  } else {
    uint32_t n = policy.has_latest() ? policy.latest().num_versions() : 1;
    size_t start = available.size() > n ? available.size() - n : 0;
    chosen.assign(available.begin() + start, available.end());
  }
  if (chosen.empty()) return NotFound("no version directory to serve");
  return chosen;
}

}  // namespace nereid::core
