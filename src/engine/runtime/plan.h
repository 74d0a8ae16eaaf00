// Plan: a compiled, runnable ONNX graph.
//
// Build one with Plan::FromOnnxFile / FromOnnxBytes (import -> shape
// inference -> passes -> kernel selection). Run() executes it on concrete
// inputs; dimensions that were symbolic in the model (e.g. the batch
// dimension) take their values from the inputs at run time.
//
// Memory: the first run of a set of input shapes records every tensor its
// kernels allocate; later runs of those shapes place the intermediates at
// precomputed offsets in one reused arena (see runtime/memory_plan.h), and
// elementwise kernels may write into an input at its last use
// (Kernel::InPlaceInput). LastMemoryReport() tells what that saved.
//
// Thread safety: a Plan is logically immutable after construction; Run() may
// be called from several threads at once (each call uses its own scratch
// memory; the per-shape memory plans are a mutex-guarded cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

// The memory plan of one set of input shapes (Plan::LastMemoryReport).
// Bytes are counted in 64-byte units, as they are allocated.
struct MemoryReport {
  std::string input_shapes;  // e.g. "[1,3,224,224]"; inputs separated by ", "
  int64_t steps = 0;
  // Intermediates: tensors allocated by kernels that died before the run
  // ended. They are placed in the arena.
  int64_t allocations = 0;
  size_t arena_bytes = 0;      // the arena: what a planned run needs for them
  size_t naive_bytes = 0;      // every intermediate in its own buffer (sum)
  size_t heap_peak_bytes = 0;  // most intermediate bytes alive at once (the
                               // heap without an arena; a lower bound for arena_bytes)
  // Tensors still alive when the run ended (the outputs and what shares
  // their bytes): never in the arena, always on the heap.
  int64_t escaped_allocations = 0;
  size_t escaped_bytes = 0;
  int64_t in_place_steps = 0;  // steps whose output reused an input's bytes
  double planning_ms = 0;      // computing the offsets (once, on the first run)
  // Runs served by this plan after the recording one, and how many of them
  // met an allocation the recording did not predict (a data-dependent shape)
  // and finished on the heap.
  int64_t planned_runs = 0;
  int64_t fallback_runs = 0;
};

// Numeric precision of convolutions and matrix products (issue 7). Other
// ops and precision-sensitive layers stay FP32 whatever is asked.
enum class Precision {
  kFp32,
  kBf16,  // BF16 inputs and weights, FP32 accumulation and outputs
  kInt8,  // u8 activations x s8 weights (calibrated scales), FP32 elsewhere
  kBest,  // the fastest per layer among those the plan may use
};

// How INT8 activation thresholds are chosen (runtime/calibration.h).
enum class Calibrator { kMinMax, kPercentile, kEntropy };

struct CalibrationSet;  // runtime/calibration.h

struct CompileOptions {
  Precision precision = Precision::kFp32;
  // INT8: the samples activation ranges are measured on (required for
  // kInt8 and kBest), and the calibrator choosing thresholds from them.
  std::shared_ptr<const CalibrationSet> calibration;
  Calibrator calibrator = Calibrator::kEntropy;
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
  // Plan intermediates into one reused arena per input shape (off: every
  // tensor comes from the heap, as kernels allocate it).
  bool memory_planning = true;
  // Input shape sets whose memory plans are kept (least recently used
  // evicted); other shapes still run, recording anew.
  int max_planned_shapes = 8;
  // Let kernels that declare Kernel::InPlaceInput() write into that input.
  bool in_place = true;
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

  // The memory plan of the input shapes most recently planned or run from a
  // plan (its counters as of now); nullopt before any successful run or
  // when memory planning is off.
  virtual std::optional<MemoryReport> LastMemoryReport() const { return std::nullopt; }
};

}  // namespace nereid::engine
