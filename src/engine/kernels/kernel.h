// Kernel: one executable operator instance, and the registry that makes
// kernels from graph nodes.
//
// A KernelFactory turns a Node (its attributes, the opset in force and any
// dtypes known before run time) into a Kernel, rejecting at build time what
// it cannot run (Unimplemented) or what is malformed (InvalidArgument).
// Kernels compute their output shapes from the actual input shapes at run
// time, so dynamic dimensions (batch) need no rebuild.
//
// Kernels register themselves beside their definition:
//   NEREID_REGISTER_KERNEL("", "Relu", MakeRelu);                 // reference, priority 0
//   NEREID_REGISTER_KERNEL_PRIORITY("", "Conv", MakeDnnlConv, 10);  // optimized
// Several factories may serve one op: the plan tries them from the highest
// priority down and takes the first that does not answer Unimplemented, so
// an optimized kernel handles the cases it is good at and leaves the rest
// (other dtypes, rare attributes) to the reference kernel.
// Registration runs during static initialization; lookups happen after
// main() starts. The kernel library is linked WHOLE_ARCHIVE so unreferenced
// registration objects are kept (see src/engine/CMakeLists.txt).
//
// Thread safety: Kernel::Run is const and may run concurrently on different
// inputs; kernels keep no mutable state. The registry is safe to read
// concurrently; Register() is meant for static initialization only.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/tuning.h"

namespace nereid::engine {

class Kernel {
 public:
  virtual ~Kernel() = default;

  // `inputs` has one entry per node input; an entry is null for an omitted
  // optional input. `outputs` has one empty Tensor per node output; the
  // kernel fills every one (it may leave those of omitted optional outputs
  // empty). An output may share the bytes of an input (views: Reshape,
  // Identity); it must never write into an input's bytes (except as
  // InPlaceInput() below allows).
  // Errors (shape/dtype mismatch found at run time) are InvalidArgument;
  // the runtime prefixes them with the node's description.
  virtual Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const = 0;

  // In place: the index of an input whose bytes output 0 may reuse, or -1
  // (the default: never). Opt in only where writing output element i can
  // never clobber an input element still to be read, e.g. elementwise ops
  // whose output element i depends on element i of that input only
  // (Relu, Exp, Add's first input when it has the output's shape).
  // When that input dies at this node (no later node reads it, it is no
  // graph input, initializer or output, this node reads it once) and nothing
  // else holds its bytes, the runtime calls Run with outputs[0] pre-filled:
  // that input's tensor (its dtype, shape and storage). The kernel must then
  // either write its result into outputs[0] if the dtype and shape it
  // computes are exactly those (ref::ReuseOrAllocateOutput does this check),
  // reading the input through inputs[i] while writing the same bytes, or
  // replace outputs[0] with storage of its own. Kernels that did not opt in
  // always get empty outputs.
  virtual int InPlaceInput() const { return -1; }

  // Auto-tuning (engine/kernels/tuning.h; called at compile time only).
  // The alternatives this kernel has for these inputs (concrete shapes;
  // the data need not be meaningful), its default first (params ""), or
  // none when it has no choice to make. Building the same factory with a
  // candidate's params (KernelBuildContext::tuning_params) gives that
  // alternative.
  virtual std::vector<TuningCandidate> TuningCandidates(
      std::span<const Tensor* const> /*inputs*/) const {
    return {};
  }
  // The tuning parameters this kernel was built with, canonical
  // (TuningParams::ToString()): "" for its default and for kernels without
  // alternatives. Plan loading compares it with what the plan stored, so a
  // factory that ignores parameters can never silently drop them.
  virtual std::string AppliedTuning() const { return {}; }
};

struct KernelBuildContext {
  const Node& node;
  int64_t opset = 0;  // version of the node's domain imported by the model
  // Per node input/output: dtype when known before running, else kInvalid.
  std::vector<DataType> input_dtypes;
  std::vector<DataType> output_dtypes;
  // Constant data of inputs that are initializers (null otherwise).
  std::vector<const Tensor*> constant_inputs;
  // Threads one run of this kernel may use (the plan's budget).
  int intra_op_threads = 1;
  // Kernel-level tuning parameters chosen at compile time (tuning.h): ""
  // builds the default. A factory that has none ignores them (the plan
  // notices through Kernel::AppliedTuning); one that has some refuses
  // malformed or unknown ones with InvalidArgument.
  std::string_view tuning_params = {};
};

using KernelFactory = StatusOr<std::unique_ptr<Kernel>> (*)(const KernelBuildContext& context);

class KernelRegistry {
 public:
  // The process-wide registry (constructed on first use, never destroyed).
  static KernelRegistry& Global();

  // Priority of the reference kernels; optimized kernels register above it.
  static constexpr int kReferencePriority = 0;

  // Returns true (so it can initialize a static). A second registration of
  // the same (domain, op_type, priority) replaces the first.
  bool Register(std::string_view domain, std::string_view op_type, KernelFactory factory,
                int priority = kReferencePriority);
  // The highest-priority factory, or null when nothing is registered for
  // (domain, op_type). `domain` "" and "ai.onnx" are the same.
  KernelFactory Find(std::string_view domain, std::string_view op_type) const;
  // The reference (priority 0) factory, or null: what tests of the
  // reference kernels and optimized kernels' fallbacks use.
  KernelFactory FindReference(std::string_view domain, std::string_view op_type) const;
  // Every factory for (domain, op_type), highest priority first, with its
  // priority.
  std::vector<std::pair<int, KernelFactory>> FindAll(std::string_view domain,
                                                     std::string_view op_type) const;
  // "domain:op_type" of every registration, sorted (diagnostics and tests).
  std::vector<std::string> RegisteredOps() const;

 private:
  KernelRegistry() = default;

  mutable std::mutex mu_;
  // (domain, op_type) -> priority -> factory.
  std::map<std::pair<std::string, std::string>, std::map<int, KernelFactory>>
      factories_;  // GUARDED_BY(mu_)
};

}  // namespace nereid::engine

#define NEREID_KERNEL_CONCAT_INNER(a, b) a##b
#define NEREID_KERNEL_CONCAT(a, b) NEREID_KERNEL_CONCAT_INNER(a, b)
#define NEREID_REGISTER_KERNEL(domain, op_type, factory)                                 \
  [[maybe_unused]] static const bool NEREID_KERNEL_CONCAT(kNereidKernelReg_, __LINE__) = \
      ::nereid::engine::KernelRegistry::Global().Register(domain, op_type, factory)
#define NEREID_REGISTER_KERNEL_PRIORITY(domain, op_type, factory, priority)              \
  [[maybe_unused]] static const bool NEREID_KERNEL_CONCAT(kNereidKernelReg_, __LINE__) = \
      ::nereid::engine::KernelRegistry::Global().Register(domain, op_type, factory, priority)
