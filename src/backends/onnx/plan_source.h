// Where a model's engine plan comes from, for the ONNX backend:
//   - a compiled plan file (`platform: "nereid_plan"`, default file
//     model.plan, or any file that starts with the plan magic): loaded as it
//     was compiled; the config's compile settings do not apply to it;
//   - an ONNX model: compiled with the config's compile settings
//     (compile_settings.h) or the defaults; with a plan cache the compiled
//     plan is looked up first and stored after a compile.
//
// Logs (INFO) say which, with the time taken: "loaded plan file",
// "loaded cached plan", "compiled ... and cached the plan"; an unusable
// cache entry is a WARNING and the model is compiled again.
//
// Thread safety: free functions; the cache handles concurrent use.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "backends/onnx/plan_cache.h"
#include "common/status.h"
#include "core/backend/backend.h"
#include "engine/runtime/plan.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {

// Triton accepts a directory named model.onnx holding model.onnx (external
// data beside it): the file inside.
std::string ResolveModelPath(const std::string& path);

// The plan of `config`'s model at `files.model_path`, built for
// `threads` intra-op threads. `cache` may be null (no plan cache).
StatusOr<std::unique_ptr<engine::Plan>> ObtainPlan(const inference::ModelConfig& config,
                                                   const core::ModelFiles& files, int threads,
                                                   const PlanCache* cache);

// The plan auto-complete built, kept for the Load() of the same version that
// follows it, so a load compiles (or hashes and reads a cached plan) once,
// not twice: ResNet-50 spends ~200 ms on either. Keyed by everything the
// plan depends on (path, settings, threads, and every file's size and
// modification time in the model's directory), so a model changed in
// between is built again. Holds at most one plan.
//
// Thread safety: Put and Take may be called concurrently.
class PlanHandoff {
 public:
  // The key of `config`'s model at `files` for `threads`; empty when the
  // directory cannot be listed (nothing is handed off then).
  static std::string Key(const inference::ModelConfig& config, const core::ModelFiles& files,
                         int threads);
  void Put(std::string key, std::unique_ptr<engine::Plan> plan);
  // The plan put under `key`, or null.
  std::unique_ptr<engine::Plan> Take(const std::string& key);

 private:
  std::mutex mu_;
  std::string key_;                    // guarded by mu_
  std::unique_ptr<engine::Plan> plan_;  // guarded by mu_
};

}  // namespace nereid::backends
