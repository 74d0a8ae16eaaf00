// ONNX backend: serves ONNX models on Nereid's engine. Selected by
// `platform: "onnxruntime_onnx"`, `backend: "onnxruntime"` or
// `backend: "nereid"`, so existing Triton repositories run unchanged; also
// serves compiled plans (`platform: "nereid_plan"`, model.plan, made by
// `nereid compile`). Where a plan comes from: plan_source.h.
//
// One compiled engine Plan per model version is shared by all instances
// (Plan::Run is thread-safe), so weights are held once.
#pragma once

#include <memory>

#include "backends/onnx/plan_cache.h"
#include "backends/onnx/plan_source.h"
#include "core/backend/backend.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {

// Intra-op threads of each instance's runs: the model's
// `parameters { key: "intra_op_thread_count" value: { string_value: "N" } }`
// (the name Triton's onnxruntime backend uses) when given and > 0, else
// `cores` divided among the model's instances (at least 1), so count x
// threads never oversubscribes the CPU by default. InvalidArgument for a
// value that is not an integer in [0, 1024].
StatusOr<int> OnnxIntraOpThreads(const inference::ModelConfig& config, int cores);

class OnnxBackend final : public core::Backend {
 public:
  // `cache` (may be null): where compiled plans of ONNX models are kept.
  explicit OnnxBackend(std::shared_ptr<const PlanCache> cache = nullptr);
  std::string name() const override { return "onnxruntime"; }
  std::string default_model_filename() const override { return "model.onnx"; }
  // Triton's ORT auto-complete: inputs, outputs and max_batch_size from the
  // model. Batching (max_batch_size 4) is assumed when every input and
  // output has a variable first dimension.
  Status AutoCompleteConfig(const core::ModelFiles& files, inference::ModelConfig* config) override;
  StatusOr<std::unique_ptr<core::BackendModel>> Load(const inference::ModelConfig& config,
                                                     const core::ModelFiles& files) override;

 private:
  std::shared_ptr<const PlanCache> cache_;
  PlanHandoff handoff_;  // auto-complete's plan, for the Load that follows
};

}  // namespace nereid::backends
