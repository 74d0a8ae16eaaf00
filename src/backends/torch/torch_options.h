// The pytorch backend's model settings, from config.pbtxt `parameters`
// (Triton's PyTorch backend names, string values):
//
//   INFERENCE_MODE               "true"  run forward() under c10::InferenceMode
//   DISABLE_OPTIMIZED_EXECUTION  "false" "true" turns off the JIT graph
//                                        executor's optimizations (slow first
//                                        runs of some models)
//   INTRA_OP_THREAD_COUNT        "0"     threads each instance's ops use;
//                                        0 = the server's per-instance budget
//   INTER_OP_THREAD_COUNT        "0"     libtorch's inter-op pool (process-wide:
//                                        the first model that sets it wins)
//   ENABLE_JIT_EXECUTOR          unset   set torch::jit::getExecutorMode()
//   ENABLE_JIT_PROFILING         unset   set torch::jit::getProfilingMode()
//   ENABLE_WEIGHT_SHARING        "false" instances share one module instead of
//                                        each holding its own copy
//
// Booleans are true/false/1/0/on/off (any case); counts are integers in
// [0, 1024]. Other values fail the load naming the parameter. Unknown keys
// are ignored (Triton's GPU-only keys such as DISABLE_CUDNN among them).
//
// Thread safety: pure functions.
#pragma once

#include <optional>

#include "common/status.h"
#include "proto/model_config.pb.h"

namespace nereid::backends::pytorch {

struct TorchOptions {
  bool inference_mode = true;
  bool optimized_execution = true;
  int intra_op_threads = 0;  // 0: InstanceOptions::intra_op_threads
  int inter_op_threads = 0;  // 0: libtorch's default
  std::optional<bool> jit_executor;
  std::optional<bool> jit_profiling;
  bool weight_sharing = false;
};

StatusOr<TorchOptions> ParseTorchOptions(const inference::ModelConfig& config);

}  // namespace nereid::backends::pytorch
