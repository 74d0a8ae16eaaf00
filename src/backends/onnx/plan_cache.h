// PlanCache: compiled plans of ONNX models kept on disk between server runs
// (`--cache-directory DIR`), so a restart loads a plan instead of importing,
// optimizing (and, for INT8, calibrating) the model again.
//
// Key: SHA-256 over everything the plan depends on: the bytes of every file
// in the model file's directory (the model and its external data), the
// compile settings (OnnxCompileSettings::canonical) and the bytes of the
// calibration directory's files, this CPU's features, the engine version and
// the plan format version. Entry: DIR/<key hex>.plan, written through a
// temporary file renamed into place, so a crash or a concurrent server never
// leaves a partial plan under the final name. A plan that fails to load
// (corrupt, truncated, another engine) is reported and replaced, never fatal.
//
// The instance's thread count is not part of the key: it is a load option,
// and no pass reads it.
//
// Thread safety: methods may be called concurrently (files are written
// under unique temporary names and renamed atomically).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/runtime/plan.h"

namespace nereid::backends {

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

class PlanCache {
 public:
  // Creates `directory` when missing; InvalidArgument when it cannot.
  static StatusOr<std::unique_ptr<PlanCache>> Create(const std::string& directory);


  // The key of `model_path` compiled with `settings_text` (and the files of
  // `calibration_dir`, empty for none) on this CPU by this engine.
  static StatusOr<std::string> Key(const std::string& model_path, const std::string& settings_text,
                                   const std::string& calibration_dir);
  std::string PathFor(const std::string& key) const;

  // NotFound when no entry exists; another error when one exists but does
  // not load (the caller recompiles and Store() replaces it).
  StatusOr<std::unique_ptr<engine::Plan>> Load(const std::string& key,
                                               const engine::PlanLoadOptions& options) const;
  Status Store(const std::string& key, const engine::Plan& plan) const;

 private:
  explicit PlanCache(std::string directory) : directory_(std::move(directory)) {}
  std::string directory_;
};

}  // namespace nereid::backends
