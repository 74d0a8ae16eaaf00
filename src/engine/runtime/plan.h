// Plan: a compiled, runnable ONNX graph.
//
// Build one from an ONNX model with CompileToPlan / Plan::FromOnnxFile /
// FromOnnxBytes (import -> shape inference -> passes -> kernel selection),
// or load a compiled plan file with Plan::FromPlanFile / FromPlanBytes,
// which skips import and passes and rebuilds the kernels the compile chose
// from the stored optimized graph (runtime/plan_file.h has the format).
// Plan::Serialize writes such a file. Run() executes a plan on concrete
// inputs; dimensions that were symbolic in the model (e.g. the batch
// dimension) take their values from the inputs at run time, within the
// plan's shape profile when it has one.
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
#include <functional>
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

std::string_view PrecisionName(Precision precision);  // "fp32", "bf16", "int8", "best"
StatusOr<Precision> ParsePrecision(std::string_view text);

// How INT8 calibration turns observed activations into a range.
enum class Calibrator { kMinMax, kPercentile, kEntropy };
std::string_view CalibratorName(Calibrator calibrator);  // "minmax", "percentile", "entropy"
StatusOr<Calibrator> ParseCalibrator(std::string_view text);

// The shapes one input may take: every dim within [min, max]; `opt` is the
// shape compile-time work (warm-up, auto-tuning) uses. Same rank for all three.
struct InputShapeRange {
  std::string name;
  Shape min, opt, max;
};
using ShapeProfile = std::vector<InputShapeRange>;

struct CalibrationSet;  // runtime/calibration.h

struct CompileOptions {
  Precision precision = Precision::kFp32;
  // INT8: the samples activation ranges are measured on (required for
  // kInt8), loaded from `calibration_data` below by the caller.
  std::shared_ptr<const CalibrationSet> calibration;
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

  // --- Compiled plans (issue 7): recorded in the plan file. ---
  // Input shapes the plan is built for (empty: any). Inputs whose range is
  // one shape (min == max) are specialized: their dims become fixed before
  // shape inference, so passes see static shapes. Run() refuses inputs
  // outside [min, max].
  ShapeProfile shape_profile;
  // INT8 calibration: a directory of sample inputs and the method that
  // turns their activation ranges into scales.
  std::string calibration_data;
  Calibrator calibrator = Calibrator::kMinMax;
  // Time kernel auto-tuning may spend per plan (0: none; runtime/tuner.h):
  // at the profile's opt shapes (or the model's static shapes) every node
  // with alternative kernels has them timed and keeps the fastest; the
  // choices are stored in the plan. Tuning stops starting new timings once
  // the budget is spent (one timing may overrun it) and keeps the defaults
  // of the nodes it did not reach.
  int64_t tuning_budget_ms = 0;
};

// Runtime settings of a plan loaded from a file. What the compile decided
// (graph, kernels, precision, shape profile) comes from the file.
struct PlanLoadOptions {
  int intra_op_threads = 1;
  bool memory_planning = true;
  int max_planned_shapes = 8;
  bool in_place = true;
  // The CPU features to check the plan's requirements against; nullopt:
  // this CPU's (DetectCpuFeatures). Tests inject other CPUs here.
  std::optional<std::vector<std::string>> cpu_features;
};

// What a plan was built from and what its compile chose; persisted in plan
// files, so a loaded plan reports the same.
struct PlanInfo {
  std::string engine_version;   // of the engine that compiled it
  std::string onednn_version;   // "2.6.3"
  // CPU features the compile's decisions assumed (loading checks them) and
  // those the compiling CPU had (diagnostics).
  std::vector<std::string> required_cpu_features;
  std::vector<std::string> compiled_on_cpu_features;
  Precision precision = Precision::kFp32;
  Calibrator calibrator = Calibrator::kMinMax;
  std::string calibration_data;
  int64_t tuning_budget_ms = 0;
  ShapeProfile shape_profile;
  bool optimize = true;
  std::vector<std::string> disabled_passes;
  // Passes applied in order, with their rewrite counts (ms: compile only;
  // 0 after loading a file).
  struct Pass {
    std::string name;
    int rewrites = 0;
    double ms = 0;
  };
  std::vector<Pass> passes;
  // One entry per step (node of the optimized graph), in execution order.
  struct KernelChoice {
    std::string node;     // DescribeNode()
    std::string op_type;  // "Conv", "nereid.FusedConv"
    int priority = 0;     // of the factory that built it (0: reference kernel)
    // Auto-tuning's choice for the kernel (engine/kernels/tuning.h), e.g.
    // "alg=direct;impl=jit:avx512_core;layout=blocked" or "threads=1"; ""
    // for the factory's default.
    std::string params;
  };
  std::vector<KernelChoice> kernels;
  // What the precision assignment chose per convolution / matrix product,
  // and why (compile only; empty after loading a file).
  std::vector<std::string> precision_lines;
  // What auto-tuning did (compile only; empty after loading a file).
  struct Tuning {
    bool ran = false;
    std::string skipped;  // why it did not run or stopped early ("" when it finished)
    std::string input_shapes;  // of the tuning run, e.g. "[1,3,224,224]"
    double spent_ms = 0;
    int tuned = 0;         // nodes whose candidates were all timed
    int changed = 0;       // of those, nodes whose winner is not the default
    int not_reached = 0;   // nodes with optimized kernels left untuned: budget spent
    int unfinished = 0;    // nodes the budget ran out in the middle of (defaults kept)
    int failed_candidates = 0;  // failed to build or run, or computed something else
    struct Node {
      size_t step = 0;
      std::string node;          // DescribeNode()
      std::string input_shapes;  // "[1,64,56,56] [64,64,3,3] [64]"
      int candidates = 0;        // timed (failures included)
      int failed = 0;
      std::string default_label, chosen_label;
      double default_ms = 0, chosen_ms = 0;  // median per run
    };
    std::vector<Node> nodes;  // tuned nodes, in execution order
  };
  Tuning tuning;
  bool loaded_from_file = false;
};

// Progress of a long compile: the phase ("import", "passes", "kernels",
// ...) and how far it is (done of total steps; total 0 = unknown).
struct CompileProgress {
  std::string_view phase;
  int64_t done = 0;
  int64_t total = 0;
  std::string_view detail;  // the pass or node at hand
};
using CompileProgressFn = std::function<void(const CompileProgress&)>;

class Plan {
 public:
  virtual ~Plan() = default;

  // Errors: unreadable or malformed model -> InvalidArgument; an operator we
  // cannot run -> Unimplemented, naming the node and its op type.
  static StatusOr<std::unique_ptr<Plan>> FromOnnxFile(const std::string& path,
                                                      const CompileOptions& options);
  static StatusOr<std::unique_ptr<Plan>> FromOnnxBytes(std::string_view bytes,
                                                       const CompileOptions& options);

  // A compiled plan file (Serialize's output). Errors, all naming what is
  // wrong: not a plan file or truncated or corrupt (checksums) ->
  // InvalidArgument; another plan format or engine version, or a CPU
  // lacking a feature the plan needs -> FailedPrecondition.
  static StatusOr<std::unique_ptr<Plan>> FromPlanFile(const std::string& path,
                                                      const PlanLoadOptions& options);
  static StatusOr<std::unique_ptr<Plan>> FromPlanBytes(std::string_view bytes,
                                                       const PlanLoadOptions& options);

  // The plan file of this plan: its optimized graph with its constants,
  // kernel choices, compile options and requirements.
  virtual StatusOr<std::string> Serialize() const = 0;
  // What the plan was built from and what its compile chose.
  virtual const PlanInfo& info() const = 0;

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

// Compiles an ONNX model (its bytes; `external_data_dir` is where external
// initializer files are, empty: refused) into a plan, reporting progress to
// `progress` (may be null) from the calling thread. Errors as
// Plan::FromOnnxBytes; a precision the engine cannot do yet, or compile
// options that contradict each other or the model -> Unimplemented /
// InvalidArgument naming the option.
StatusOr<std::unique_ptr<Plan>> CompileToPlan(std::string_view onnx_bytes,
                                              const CompileOptions& options,
                                              const CompileProgressFn& progress = nullptr,
                                              const std::string& external_data_dir = "");
// The same for a model file (external data beside it).
StatusOr<std::unique_ptr<Plan>> CompileFileToPlan(const std::string& path,
                                                  const CompileOptions& options,
                                                  const CompileProgressFn& progress = nullptr);

// True when the file at `path` begins like a plan file (its magic), so
// callers can tell plans from ONNX models without parsing either.
bool IsPlanFile(const std::string& path);

// Writes Serialize()'s bytes to `path` through a temporary file renamed
// into place, so readers never see a partial plan.
Status WritePlanFile(const Plan& plan, const std::string& path);

}  // namespace nereid::engine
