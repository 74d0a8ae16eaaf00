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
// Memory (runtime/memory_plan.h): with CompileOptions::memory_planning,
// Run() looks up the memory plan of its input shapes (and of which inputs
// had to be copied for alignment) in a small LRU cache; without one the run
// records and builds it. A step whose kernel declares InPlaceInput() gets
// that input's storage as its pre-filled output 0 when the input dies there
// and nothing else holds its bytes.
//
// Thread safety: immutable after Create() except for the memory plan cache,
// which a mutex guards; Run() is const and re-entrant (per-run state lives on
// the calling thread's stack/heap).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/kernels/kernel.h"
#include "engine/runtime/memory_plan.h"
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
  std::optional<MemoryReport> LastMemoryReport() const override;

 private:
  struct Step {
    std::unique_ptr<Kernel> kernel;
    std::string label;        // DescribeNode(), for errors
    std::string op_type;      // "Conv", "nereid.FusedConv"; for profiles
    std::vector<int> inputs;  // value ids (kNoValue: omitted)
    std::vector<int> outputs;
    std::vector<int> release;  // values whose last use is this step
    // Input whose storage output 0 may take (Kernel::InPlaceInput()), or
    // kNoValue: it dies here, is read once here and is no graph input,
    // initializer or output.
    int in_place_value = kNoValue;
  };
  struct CachedMemoryPlan {
    std::vector<int64_t> key;
    std::shared_ptr<const MemoryPlan> plan;
    uint64_t last_use = 0;
  };

  GraphPlan() = default;
  Status BuildSteps(const CompileOptions& options);
  void PlanLiveness(bool in_place);
  Status ValidateInputs(const std::vector<TensorView>& inputs) const;
  Status Execute(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                 RunProfile* profile, RunMemory* memory, int64_t* in_place_steps) const;
  // The memory plan cache (under cache_mu_).
  std::shared_ptr<const MemoryPlan> FindMemoryPlan(const std::vector<int64_t>& key) const;
  void AddMemoryPlan(std::vector<int64_t> key, std::shared_ptr<const MemoryPlan> plan) const;

  Graph graph_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<Step> steps_;
  bool memory_planning_ = true;
  size_t max_planned_shapes_ = 8;

  mutable std::mutex cache_mu_;
  mutable std::vector<CachedMemoryPlan> cache_;                // GUARDED_BY(cache_mu_)
  mutable uint64_t cache_clock_ = 0;                           // GUARDED_BY(cache_mu_)
  mutable std::shared_ptr<const MemoryPlan> last_memory_plan_;  // GUARDED_BY(cache_mu_)
};

}  // namespace nereid::engine
