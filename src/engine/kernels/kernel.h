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
//   NEREID_REGISTER_KERNEL("", "Relu", MakeRelu);
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

namespace nereid::engine {

class Kernel {
 public:
  virtual ~Kernel() = default;

  // `inputs` has one entry per node input; an entry is null for an omitted
  // optional input. `outputs` has one empty Tensor per node output; the
  // kernel fills every one (it may leave those of omitted optional outputs
  // empty). An output may share the bytes of an input (views: Reshape,
  // Identity); it must never write into an input's bytes.
  // Errors (shape/dtype mismatch found at run time) are InvalidArgument;
  // the runtime prefixes them with the node's description.
  virtual Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const = 0;
};

struct KernelBuildContext {
  const Node& node;
  int64_t opset = 0;  // version of the node's domain imported by the model
  // Per node input/output: dtype when known before running, else kInvalid.
  std::vector<DataType> input_dtypes;
  std::vector<DataType> output_dtypes;
  // Constant data of inputs that are initializers (null otherwise).
  std::vector<const Tensor*> constant_inputs;
};

using KernelFactory = StatusOr<std::unique_ptr<Kernel>> (*)(const KernelBuildContext& context);

class KernelRegistry {
 public:
  // The process-wide registry (constructed on first use, never destroyed).
  static KernelRegistry& Global();

  // Returns true (so it can initialize a static). A second registration of
  // the same (domain, op_type) replaces the first.
  bool Register(std::string_view domain, std::string_view op_type, KernelFactory factory);
  // Null when nothing is registered for (domain, op_type). `domain` "" and
  // "ai.onnx" are the same.
  KernelFactory Find(std::string_view domain, std::string_view op_type) const;
  // "domain:op_type" of every registration, sorted (diagnostics and tests).
  std::vector<std::string> RegisteredOps() const;

 private:
  KernelRegistry() = default;

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, KernelFactory> factories_;  // GUARDED_BY(mu_)
};

}  // namespace nereid::engine

#define NEREID_KERNEL_CONCAT_INNER(a, b) a##b
#define NEREID_KERNEL_CONCAT(a, b) NEREID_KERNEL_CONCAT_INNER(a, b)
#define NEREID_REGISTER_KERNEL(domain, op_type, factory)                                 \
  [[maybe_unused]] static const bool NEREID_KERNEL_CONCAT(kNereidKernelReg_, __LINE__) = \
      ::nereid::engine::KernelRegistry::Global().Register(domain, op_type, factory)
