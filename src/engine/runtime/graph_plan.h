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
// Kernels: a compiled plan records each step's kernel (the priority of the
// factory that built it and its tuning parameters, PlanInfo::kernels); a
// plan loaded from a file builds exactly those factories with those
// parameters again, and fails naming the node when one is missing or
// refuses (another build, another CPU, malformed or unknown parameters).
//
// Auto-tuning (runtime/tuner.h): with a tuning budget, Create runs the new
// plan once on random inputs of the opt shapes, timing each node's
// candidate kernels on its actual inputs before the node runs, and keeps
// the winners (PlanInfo::kernels, PlanInfo::tuning).
//
// Thread safety: immutable after Create() except for the memory plan cache,
// which a mutex guards; Run() is const and re-entrant (per-run state lives on
// the calling thread's stack/heap).
#pragma once

#include <cstdint>
#include <functional>
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

// How a plan runs (as opposed to what it computes): CompileOptions' or
// PlanLoadOptions' runtime fields.
struct RuntimeSettings {
  int intra_op_threads = 1;
  bool reference_kernels_only = false;
  bool memory_planning = true;
  int max_planned_shapes = 8;
  bool in_place = true;
};

class GraphPlan final : public Plan {
 public:
  // Builds the plan of an (optimized) graph. With info.loaded_from_file the
  // kernels are those info.kernels names; otherwise the best factory per
  // node is chosen and recorded there. `progress` (may be null) hears of
  // every node built.
  static StatusOr<std::unique_ptr<Plan>> Create(Graph graph, const RuntimeSettings& settings,
                                                PlanInfo info,
                                                const CompileProgressFn& progress = nullptr);

  const std::vector<ValueInfo>& inputs() const override { return inputs_; }
  const std::vector<ValueInfo>& outputs() const override { return outputs_; }
  using Plan::Run;
  Status Run(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
             RunProfile* profile) const override;
  std::optional<MemoryReport> LastMemoryReport() const override;
  StatusOr<std::string> Serialize() const override;
  const PlanInfo& info() const override { return info_; }

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

  // Called before step `s` runs, with its inputs (tuning); false ends the
  // run there (Execute then answers Cancelled).
  using StepObserver =
      std::function<bool(size_t s, std::span<const Tensor* const> inputs, size_t outputs)>;

  GraphPlan() = default;
  Status BuildSteps(const RuntimeSettings& settings, const CompileProgressFn& progress);
  // Node i's kernel from `factory` with stored-form tuning `params`
  // (runtime/tuner.h), `max_threads` being the plan's thread budget.
  StatusOr<std::unique_ptr<Kernel>> BuildKernel(size_t i, KernelFactory factory,
                                                std::string_view params, int max_threads) const;
  // Auto-tuning (runtime/tuner.h); never fails the compile for a reason
  // other than running out of memory: problems end tuning with a note in
  // info_.tuning.skipped.
  void Tune(const RuntimeSettings& settings, const CompileProgressFn& progress);
  void PlanLiveness(bool in_place);
  Status ValidateInputs(const std::vector<TensorView>& inputs) const;
  Status Execute(const std::vector<TensorView>& inputs, std::vector<Tensor>* outputs,
                 RunProfile* profile, RunMemory* memory, int64_t* in_place_steps,
                 const StepObserver* observer = nullptr) const;
  // The memory plan cache (under cache_mu_).
  std::shared_ptr<const MemoryPlan> FindMemoryPlan(const std::vector<int64_t>& key) const;
  void AddMemoryPlan(std::vector<int64_t> key, std::shared_ptr<const MemoryPlan> plan) const;

  Graph graph_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<Step> steps_;
  PlanInfo info_;
  // Per graph input: its range in info_.shape_profile, or null (unchecked).
  std::vector<const InputShapeRange*> ranges_;
  bool memory_planning_ = true;
  size_t max_planned_shapes_ = 8;

  mutable std::mutex cache_mu_;
  mutable std::vector<CachedMemoryPlan> cache_;                // GUARDED_BY(cache_mu_)
  mutable uint64_t cache_clock_ = 0;                           // GUARDED_BY(cache_mu_)
  mutable std::shared_ptr<const MemoryPlan> last_memory_plan_;  // GUARDED_BY(cache_mu_)
};

}  // namespace nereid::engine
