// Graph passes: rewrites of a Graph that keep what it computes (within
// floating-point reassociation) and make it cheaper to run.
//
// Each pass lives in its own file and is a function over the graph that
// returns how many rewrites it made. The ordered list of passes is in
// pass_registry.cc, the one place that decides what runs and in which
// order; RunPasses applies them after import and before kernel selection
// (runtime/plan.cc). Fused operators that passes introduce live in the
// "nereid" domain (see fused_ops.h) and have kernels like any other op.
//
// A pass must leave the graph valid: every value produced once, nodes
// topologically sorted, graph inputs/outputs unchanged in name, dtype and
// meaning. Passes that cannot prove a rewrite is exact for every input
// shape the graph accepts must not make it.
//
// Thread safety: passes mutate the graph they are given and share no state.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/ir/graph.h"

namespace nereid::engine {

struct PassContext {
  // Threads the plan's kernels will use (for passes whose choice depends on it).
  int intra_op_threads = 1;
  // The plan will use reference kernels only: layout passes that only pay
  // off with the optimized kernels stay off.
  bool reference_kernels_only = false;
  // Names of passes to skip (tests, debugging: `disabled_passes` in CompileOptions).
  std::vector<std::string> disabled;
};

// Returns the number of rewrites made (0: the graph is unchanged).
using PassFn = StatusOr<int> (*)(Graph* graph, const PassContext& context);

struct PassInfo {
  std::string_view name;
  PassFn run;
};

// Every pass, in the order RunPasses applies them.
const std::vector<PassInfo>& OptimizationPasses();

struct PassStats {
  std::string name;
  int rewrites = 0;
  double ms = 0;
};

// Called before each pass RunPasses applies: its index among those that
// run, their number, and its name (compile progress displays).
using PassObserver = std::function<void(size_t index, size_t count, std::string_view name)>;

// Applies OptimizationPasses() minus context.disabled to `graph`, in order.
// `stats`, when not null, receives one entry per pass run.
Status RunPasses(Graph* graph, const PassContext& context, std::vector<PassStats>* stats = nullptr,
                 const PassObserver& observer = nullptr);

// The passes, one per file (declared here so the registry and the tests
// can name them).
StatusOr<int> EliminateIdentities(Graph* graph, const PassContext& context);
StatusOr<int> FuseQdq(Graph* graph, const PassContext& context);
StatusOr<int> FoldConstants(Graph* graph, const PassContext& context);
StatusOr<int> EliminateDeadNodes(Graph* graph, const PassContext& context);
StatusOr<int> FoldConvBatchNorm(Graph* graph, const PassContext& context);
StatusOr<int> FuseConvActivation(Graph* graph, const PassContext& context);
StatusOr<int> EliminateTransposes(Graph* graph, const PassContext& context);
StatusOr<int> FuseLayerNorm(Graph* graph, const PassContext& context);
StatusOr<int> FuseMatMul(Graph* graph, const PassContext& context);
StatusOr<int> PropagateBlockedLayout(Graph* graph, const PassContext& context);

}  // namespace nereid::engine
