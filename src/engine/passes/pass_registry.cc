// The ordered list of graph passes: the one place that says what runs and
// in which order. Cheap clean-ups first (so later passes see fewer nodes),
// then folds that expose constants, then fusions, then layout, and a final
// dead-node sweep for what the fusions left unused.
#include <algorithm>
#include <chrono>

#include "engine/passes/pass.h"

namespace nereid::engine {

const std::vector<PassInfo>& OptimizationPasses() {
  static const std::vector<PassInfo> passes = {
      {"eliminate_identities", EliminateIdentities},
      {"fuse_qdq", FuseQdq},
      {"fold_constants", FoldConstants},
      {"eliminate_dead_nodes", EliminateDeadNodes},
      {"eliminate_transposes", EliminateTransposes},
      {"fuse_layer_norm", FuseLayerNorm},
      {"fold_conv_batchnorm", FoldConvBatchNorm},
      {"fuse_conv_activation", FuseConvActivation},
      {"fuse_matmul", FuseMatMul},
      {"propagate_blocked_layout", PropagateBlockedLayout},
      {"eliminate_dead_nodes_final", EliminateDeadNodes},
  };
  return passes;
}

Status RunPasses(Graph* graph, const PassContext& context, std::vector<PassStats>* stats,
                 const PassObserver& observer) {
  const auto& off = context.disabled;
  auto enabled = [&](const PassInfo& pass) {
    return std::find(off.begin(), off.end(), pass.name) == off.end();
  };
  const size_t count = static_cast<size_t>(
      std::count_if(OptimizationPasses().begin(), OptimizationPasses().end(), enabled));
  size_t index = 0;
  for (const PassInfo& pass : OptimizationPasses()) {
    if (!enabled(pass)) continue;
    if (observer) observer(index++, count, pass.name);
    const auto start = std::chrono::steady_clock::now();
    StatusOr<int> rewrites = pass.run(graph, context);
    if (!rewrites.ok()) return rewrites.status().WithPrefix("graph pass " + std::string(pass.name));
    Status sorted = SortTopologically(graph);
    if (!sorted.ok()) {
      return Internal("graph pass " + std::string(pass.name) + " broke the graph: " +
                      sorted.message());
    }
    if (stats != nullptr) {
      stats->push_back(PassStats{
          std::string(pass.name), *rewrites,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count()});
    }
  }
  return Status::Ok();
}

}  // namespace nereid::engine
