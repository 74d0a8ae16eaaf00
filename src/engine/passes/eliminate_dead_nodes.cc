// Pass: removes nodes none of whose outputs is read (directly or through
// other live nodes) or is a graph output, and initializers nothing reads.
// Nodes with side effects do not exist in the ONNX ops the engine runs, so
// every node is removable.
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {

StatusOr<int> EliminateDeadNodes(Graph* graph, const PassContext&) {
  std::vector<bool> live_value(graph->values.size(), false);
  for (int v : graph->outputs) live_value[v] = true;
  std::vector<bool> dead(graph->nodes.size(), true);
  // Nodes are topologically sorted: one backward sweep settles liveness.
  for (size_t i = graph->nodes.size(); i-- > 0;) {
    const Node& node = graph->nodes[i];
    bool live = false;
    for (int v : node.outputs) live = live || (v != kNoValue && live_value[v]);
    if (!live) continue;
    dead[i] = false;
    for (int v : node.inputs) {
      if (v != kNoValue) live_value[v] = true;
    }
  }
  int removed = 0;
  for (bool d : dead) removed += d ? 1 : 0;
  passes::RemoveNodes(graph, dead);
  for (auto it = graph->initializers.begin(); it != graph->initializers.end();) {
    if (!live_value[it->first]) {
      it = graph->initializers.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

}  // namespace nereid::engine
