// Plan: a compiled, runnable ONNX graph.
//
// Build one with Plan::FromOnnxFile / FromOnnxBytes (import -> shape
// inference -> passes -> kernel selection). Run() executes it on concrete
// inputs; dimensions that were symbolic in the model (e.g. the batch
// dimension) take their values from the inputs at run time.
//
// Thread safety: a Plan is immutable after construction; Run() may be called
// from several threads at once (each call uses its own scratch memory).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"

namespace nereid::engine {

// A graph input or output as the model declares it. Symbolic or unknown
// dimensions are -1.
struct ValueInfo {
  std::string name;
  DataType dtype = DataType::kInvalid;
  Shape shape;
};

// Time spent in one step of a plan (a node, or a fused group of nodes) over
// the runs a RunProfile accumulated.
struct StepTiming {
  std::string label;    // DescribeNode() of the step's node
  std::string op_type;  // "Conv", or "nereid.FusedConv" for a fused step
  double total_ms = 0;
  int64_t calls = 0;
};

// Per-step timings, filled by Plan::Run when a profile is passed. Steps are
// in execution order; repeated runs add up.
struct RunProfile {
  std::vector<StepTiming> steps;
};

struct CompileOptions {
  // Threads one Run() may use. The server never gives instances more than
  // the cores in total.
  int intra_op_threads = 1;
  // Use only the reference kernels (the oracle optimized kernels are tested
  // against, and a way to rule them out when debugging).
  bool reference_kernels_only = false;
  // Run the graph passes (engine/passes/: constant folding, fusions, layout).
  // Off: the graph runs as imported (before/after tests, debugging).
  bool optimize = true;
  // Passes to skip by name (see engine/passes/pass_registry.cc).
  std::vector<std::string> disabled_passes;
};

class Plan {
 public:
  virtual ~Plan() = default;

  // Errors: unreadable or malformed model -> InvalidArgument; an operator we
  // cannot run -> Unimplemented, naming the node and its op type.
  static StatusOr<std::unique_ptr<Plan>> FromOnnxFile(const std::string& path,
                                                      const CompileOptions& options);
  static StatusOr<std::unique_ptr<Plan>> FromOnnxBytes(std::string_view bytes,
                                                       const CompileOptions& options);

  // Graph inputs (initializers excluded) and outputs, in model order.
  virtual const std::vector<ValueInfo>& inputs() const = 0;
  virtual const std::vector<ValueInfo>& outputs() const = 0;

  // Runs the graph. `inputs[i]` feeds inputs()[i]; on success `outputs`
  // holds one tensor per outputs()[i], in order. Shape or dtype mismatches
  // with the model -> InvalidArgument.
  Status Run(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs) const {
    return Run(inputs, outputs, nullptr);
  }
  // As above; with a non-null `profile`, also adds each step's wall time to it.
  virtual Status Run(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                     RunProfile* profile) const = 0;
};

}  // namespace nereid::engine
