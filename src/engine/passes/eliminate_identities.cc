// Pass: removes Identity nodes and inference-mode Dropout nodes (whose mask
// output nobody reads) by letting their readers read the input directly.
// When the node's output is a graph output, the producer of its input is
// made to write the graph output instead, provided that input is produced by
// a node and read by nobody else; otherwise the node stays.
#include <algorithm>

#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {

using passes::ComputeProducers;
using passes::ComputeUses;
using passes::IsGraphOutput;

namespace {

// Is `node` a pass-through of input 0 to output 0?
bool IsPassThrough(const Graph& graph, const Node& node,
                   const std::vector<std::vector<passes::Use>>& uses) {
  if (!node.domain.empty() || node.inputs.empty() || node.inputs[0] == kNoValue ||
      node.outputs.empty() || node.outputs[0] == kNoValue) {
    return false;
  }
  if (node.op_type == "Identity") return node.inputs.size() == 1 && node.outputs.size() == 1;
  if (node.op_type != "Dropout") return false;
  // Inference Dropout: no training_mode input (or a constant false one), and
  // no mask output in use.
  if (node.outputs.size() > 1 && node.outputs[1] != kNoValue &&
      (!uses[node.outputs[1]].empty() || IsGraphOutput(graph, node.outputs[1]))) {
    return false;
  }
  if (node.inputs.size() > 2 && node.inputs[2] != kNoValue) {
    const Tensor* mode = passes::FindConstant(graph, node.inputs[2]);
    if (mode == nullptr || mode->dtype() != DataType::kBool || mode->byte_size() != 1 ||
        mode->data()[0] != 0) {
      return false;
    }
  }
  // Opsets before 7 had is_test; before 12 the ratio was an attribute. Any
  // Dropout in an inference graph passes x through unchanged.
  return true;
}

}  // namespace

StatusOr<int> EliminateIdentities(Graph* graph, const PassContext&) {
  auto uses = ComputeUses(*graph);
  std::vector<int> producer = ComputeProducers(*graph);
  std::vector<bool> dead(graph->nodes.size(), false);
  int rewrites = 0;
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    const Node& node = graph->nodes[n];
    if (!IsPassThrough(*graph, node, uses)) continue;
    const int in = node.inputs[0];
    const int out = node.outputs[0];
    if (graph->values[in].dtype != graph->values[out].dtype &&
        graph->values[out].dtype != DataType::kInvalid) {
      continue;
    }
    if (IsGraphOutput(*graph, out)) {
      // Rename: the input's producer writes `out` directly.
      const int p = producer[in];
      if (p < 0 || IsGraphOutput(*graph, in) || uses[in].size() != 1) continue;
      for (int& v : graph->nodes[p].outputs) {
        if (v == in) v = out;
      }
      producer[out] = p;
    } else {
      passes::ReplaceUses(graph, out, in);
      for (const passes::Use& use : uses[out]) uses[in].push_back(use);
    }
    uses[in].erase(std::remove_if(uses[in].begin(), uses[in].end(),
                                  [&](const passes::Use& u) { return u.node == int(n); }),
                   uses[in].end());
    dead[n] = true;
    ++rewrites;
  }
  passes::RemoveNodes(graph, dead);
  return rewrites;
}

}  // namespace nereid::engine
