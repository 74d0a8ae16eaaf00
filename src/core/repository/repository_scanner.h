// Finding models and versions on disk, Triton's layout:
//
//   <root>/<model>/config.pbtxt          (optional when auto-complete can fill it)
//   <root>/<model>/<version>/<file>      version = digits, no leading zero
//
// Thread safety: free functions touching only the filesystem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace inference {
class ModelVersionPolicy;
}

namespace nereid::core {

struct ModelLocation {
  std::string name;
  std::string root;
  std::string dir;  // <root>/<name>
};

struct ScanResult {
  std::vector<ModelLocation> models;
  // Names found in more than one root: Triton refuses to serve them.
  std::vector<std::pair<ModelLocation, Status>> conflicts;
};

// Lists model directories under every root (hidden entries ignored). A root
// that is missing or not a directory is an error naming it.
StatusOr<ScanResult> ScanRepositories(const std::vector<std::string>& roots);

// Numeric version sub-directories of `model_dir`, ascending.
std::vector<int64_t> ListVersions(const std::string& model_dir);

// Applies a version policy to the available versions. `specific` versions
// that do not exist are an error naming them.
StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelVersionPolicy& policy,
                                              const std::vector<int64_t>& available);

}  // namespace nereid::core
