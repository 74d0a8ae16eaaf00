// `nereid compile`: ONNX model -> compiled plan file (trtexec's role for
// Nereid's engine, with its flag names where they fit).
//
//   nereid compile model.onnx -o model.plan [--precision fp32|bf16|int8|best]
//                  [--calibration-data DIR] [--calibrator minmax|percentile|entropy]
//                  [--shapes name:1x3x224x224,... |
//                   --min-shapes ... --opt-shapes ... --max-shapes ...]
//                  [--tuning-budget-ms N] [--threads T] [--verbose]
//                  [--write-calibration-table FILE]
//
// Phases, shown on one progress line on stderr: read, import, passes,
// kernels, a first run of the opt shapes (it checks the plan runs and
// times the run that packs the weights), write. stdout gets a summary:
// sizes, the time of each phase, the plan's CPU requirements; --verbose adds
// the passes applied and the kernel chosen for every node.
// --write-calibration-table writes the INT8 convolutions' input scales as
// JSON (engine/runtime/calibration.h), for tools/make_qdq.py.
//
// Exit status: 0 on success; 1 when the model cannot be compiled (the
// engine's error, e.g. Unimplemented for a precision it cannot do yet) or
// the plan cannot be written; 2 for bad flag values.
#pragma once

#include <cstdint>
#include <string>

namespace nereid::tools {

struct CompileCommandOptions {
  std::string model;   // ONNX model file
  std::string output;  // plan file to write
  std::string precision = "fp32";
  std::string calibration_data;  // directory
  std::string calibrator = "minmax";
  std::string shapes;  // "name:1x3x224x224,..." (fixed)
  std::string min_shapes, opt_shapes, max_shapes;
  int64_t tuning_budget_ms = 0;
  int threads = 1;  // intra-op threads of tuning and the verification run
  bool verbose = false;
  std::string calibration_table;  // JSON file to write (INT8), empty: none
};

// Returns the process exit status; messages go to stdout/stderr.
int RunCompile(const CompileCommandOptions& options);

}  // namespace nereid::tools
