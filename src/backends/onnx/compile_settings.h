// Compile settings of an ONNX model from its config.pbtxt: what makes the
// ONNX backend compile the model into a plan with a given precision and
// shape profile (and, with --cache-directory, keep that plan).
//
// Model-level `parameters` (string values), the same names as
// `nereid compile`'s flags with '_' for '-':
//   precision         fp32 | bf16 | int8 | best
//   shapes            "name:1x3x224x224,..."  (one fixed shape per input)
//   min_shapes, opt_shapes, max_shapes        (a range; opt defaults to max)
//   calibration_data  directory of calibration inputs, relative to the
//                     model directory (and inside it)
//   calibrator        minmax | percentile | entropy
//   tuning_budget_ms  integer >= 0
// The same keys may instead be parameters of a CPU execution accelerator
// named "nereid", the place Triton's onnxruntime backend takes TensorRT's
// precision settings from:
//   optimization { execution_accelerators { cpu_execution_accelerator: [
//     { name: "nereid" parameters { key: "precision" value: "fp32" } } ] } }
// A key given in both places must have one value; another accelerator name
// (openvino, GPU accelerators) is refused, since nothing here can run it.
// Shapes are the model's full input shapes, batch dimension included.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/runtime/plan.h"
#include "proto/model_config.pb.h"

namespace nereid::backends {

struct OnnxCompileSettings {
  // True when the config gives any of the keys above.
  bool given = false;
  // Precision, calibration (an absolute path), profile and tuning budget.
  engine::CompileOptions options;
  // Every setting in a fixed order, for cache keys and logs:
  // "precision=fp32;calibrator=minmax;calibration_data=;min=...;opt=...;max=...;tuning_budget_ms=0".
  std::string canonical;
};

// InvalidArgument naming the parameter for unknown values, malformed
// shapes, a calibration directory outside `model_dir` or missing, another
// accelerator, or one key set twice with different values.
StatusOr<OnnxCompileSettings> ReadCompileSettings(const inference::ModelConfig& config,
                                                  const std::string& model_dir);

}  // namespace nereid::backends
