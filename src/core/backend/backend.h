// Backend interfaces: how core talks to the code that runs a model.
//
//   Backend        one per framework ("onnxruntime", "identity", ...);
//                  stateless apart from caches; registered at start-up.
//   BackendModel   one loaded model version (weights, compiled plan).
//   ModelInstance  one execution context; core runs each instance on its
//                  own thread and never calls Execute concurrently on one
//                  instance.
//
// Core never includes a backend's headers; backends include only these
// interfaces and core/request.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/request/inference_request.h"

namespace inference {
class ModelConfig;
}

namespace nereid::core {

// Where a model version's files are.
struct ModelFiles {
  std::string model_dir;     // <repo>/<model>
  std::string version_dir;   // <repo>/<model>/<version>; empty when autocompleting
  std::string model_path;    // <version_dir>/<default_model_filename>
};

struct InstanceOptions {
  std::string name;          // "<model>_<group>_<index>"
  int intra_op_threads = 1;  // CPU threads this instance may use
  // Sends a request to any loaded model down the server's own path
  // (validation, scheduling, statistics); the request's callback gets the
  // responses, possibly on another thread. Python models' BLS calls use it.
  // Null when there is no server (unit tests).
  std::function<void(std::unique_ptr<InferenceRequest>)> submit;
};

class ModelInstance {
 public:
  virtual ~ModelInstance() = default;
  // Runs a batch of validated requests and completes every one of them
  // (with outputs or an error) before returning. Called from the instance's
  // own thread.
  virtual void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) = 0;

  // Statistics: a backend calls these from Execute around the framework run,
  // so core can split compute_input (before), compute_infer (between) and
  // compute_output (after, until each request completes). Optional: without
  // them the whole execution counts as compute_infer.
  void MarkInferStart() {
    if (clock_) infer_start_ns_ = clock_->NowNs();
  }
  void MarkInferEnd() {
    if (clock_) infer_end_ns_ = clock_->NowNs();
  }

  // Used by the scheduler, on the instance's thread, before each Execute.
  void BeginExecution(const Clock* clock) {
    clock_ = clock;
    infer_start_ns_ = infer_end_ns_ = 0;
  }
  uint64_t infer_start_ns() const { return infer_start_ns_; }  // 0: not marked
  uint64_t infer_end_ns() const { return infer_end_ns_; }      // 0: not marked

 private:
  const Clock* clock_ = nullptr;
  uint64_t infer_start_ns_ = 0;
  uint64_t infer_end_ns_ = 0;
};

class BackendModel {
 public:
  virtual ~BackendModel() = default;
  virtual StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(
      const InstanceOptions& options) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The name config.pbtxt's `backend` field uses.
  virtual std::string name() const = 0;
  // Used when the config has no default_model_filename ("model.onnx").
  virtual std::string default_model_filename() const = 0;
  // Fills inputs, outputs and max_batch_size the config leaves out, from the
  // model file at `files.model_path` (Triton's auto-complete). The default
  // does nothing.
  virtual Status AutoCompleteConfig(const ModelFiles& files, inference::ModelConfig* config);
  // Loads one version. `config` is complete and validated.
  virtual StatusOr<std::unique_ptr<BackendModel>> Load(const inference::ModelConfig& config,
                                                       const ModelFiles& files) = 0;
};

}  // namespace nereid::core
