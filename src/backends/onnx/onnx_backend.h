// ONNX backend: serves ONNX models on Nereid's engine. Selected by
// `platform: "onnxruntime_onnx"`, `backend: "onnxruntime"` or
// `backend: "nereid"`, so existing Triton repositories run unchanged.
//
// One compiled engine Plan per model version is shared by all instances
// (Plan::Run is thread-safe), so weights are held once.
#pragma once

#include "core/backend/backend.h"

namespace nereid::backends {

class OnnxBackend final : public core::Backend {
 public:
  std::string name() const override { return "onnxruntime"; }
  std::string default_model_filename() const override { return "model.onnx"; }
  // Triton's ORT auto-complete: inputs, outputs and max_batch_size from the
  // model. Batching (max_batch_size 4) is assumed when every input and
  // output has a variable first dimension.
  Status AutoCompleteConfig(const core::ModelFiles& files, inference::ModelConfig* config) override;
  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override;
};

}  // namespace nereid::backends
