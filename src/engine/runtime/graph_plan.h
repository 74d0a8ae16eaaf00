// GraphPlan: the Plan implementation that interprets a Graph node by node
// with kernels from the KernelRegistry.
//
// Build (Create): every node gets a kernel or the build fails with
// Unimplemented naming the node; nodes run in topological order; each
// intermediate value is released after its last consumer ran.
// Run: validates inputs against the model (count, dtype, rank, fixed dims,
// byte size), wraps them without copying, executes, and returns outputs that
// own (or co-own) their bytes. Outputs never alias the caller's input bytes.
//
// Thread safety: immutable after Create(); Run() is const and re-entrant
// (per-run state lives on the calling thread's stack/heap).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/kernels/kernel.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

class GraphPlan final : public Plan {
 public:
  static StatusOr<std::unique_ptr<Plan>> Create(Graph graph, const CompileOptions& options);

  const std::vector<ValueInfo>& inputs() const override { return inputs_; }
  const std::vector<ValueInfo>& outputs() const override { return outputs_; }
  using Plan::Run;
  Status Run(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
             RunProfile* profile) const override;

 private:
  struct Step {
    std::unique_ptr<Kernel> kernel;
    std::string label;        // DescribeNode(), for errors
    std::string op_type;      // "Conv", "nereid.FusedConv"; for profiles
    std::vector<int> inputs;  // value ids (kNoValue: omitted)
    std::vector<int> outputs;
    std::vector<int> release;  // values whose last use is this step
  };

  GraphPlan() = default;
  Status BuildSteps(const CompileOptions& options);
  void PlanLiveness();
  Status ValidateInputs(const std::vector<TensorView>& inputs) const;
  Status Execute(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                 RunProfile* profile) const;

  Graph graph_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<Step> steps_;
};

}  // namespace nereid::engine
