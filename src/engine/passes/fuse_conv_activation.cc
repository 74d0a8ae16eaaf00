// Pass: fuses a Conv with what follows it into one nereid.FusedConv node
// (see fused_ops.h), which oneDNN runs as a convolution with post-ops:
//   Conv -> Add(residual)           Y = conv(X) + Z
//   Conv -> Activation              Y = act(conv(X))
//   Conv -> Add(residual) -> Act    Y = act(conv(X) + Z)        (ResNet blocks)
// Activations: Relu, LeakyRelu, Clip (constant bounds), Sigmoid, Tanh, Elu,
// HardSwish. Each fused intermediate must be read only by the next node of
// the pattern and not be a graph output. The residual Z may be any fp32
// value; when its shape differs from the convolution's output at run time
// (broadcasting), the kernel adds it unfused, so the rewrite is exact for
// every input the graph accepts.
#include <limits>

#include "engine/ir/fused_ops.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

struct Activation {
  std::string name;
  float alpha = 0;
  float beta = 0;
};

// The activation `node` computes, if it is one FusedConv can absorb.
std::optional<Activation> AsActivation(const Graph& graph, const Node& node, int64_t opset) {
  if (!node.domain.empty() || node.inputs.empty() || node.outputs.size() != 1) return std::nullopt;
  const std::string& op = node.op_type;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") {
    return Activation{op, 0, 0};
  }
  if (op == "LeakyRelu") return Activation{op, node.GetFloat("alpha", 0.01f).value_or(0.01f), 0};
  if (op == "Elu") return Activation{op, node.GetFloat("alpha", 1.0f).value_or(1.0f), 0};
  if (op == "Clip") {
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
    if (opset < 11) {
      auto min = node.GetFloat("min", lo);
      auto max = node.GetFloat("max", hi);
      if (!min.ok() || !max.ok()) return std::nullopt;
      lo = *min;
      hi = *max;
    } else {
      if (node.inputs.size() > 1 && node.inputs[1] != kNoValue) {
        auto v = passes::ScalarConstant(graph, node.inputs[1]);
        if (!v) return std::nullopt;
        lo = *v;
      }
      if (node.inputs.size() > 2 && node.inputs[2] != kNoValue) {
        auto v = passes::ScalarConstant(graph, node.inputs[2]);
        if (!v) return std::nullopt;
        hi = *v;
      }
    }
    return Activation{op, lo, hi};
  }
  return std::nullopt;
}

}  // namespace

StatusOr<int> FuseConvActivation(Graph* graph, const PassContext&) {
  auto uses = passes::ComputeUses(*graph);
  std::vector<bool> dead(graph->nodes.size(), false);
  const int64_t opset = graph->OpsetFor("");
  int fused = 0;
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    Node& conv = graph->nodes[n];
    if (dead[n] || !conv.domain.empty() || conv.op_type != "Conv" || conv.outputs.size() != 1 ||
        conv.inputs.size() < 2) {
      continue;
    }
    if (graph->values[conv.outputs[0]].dtype != DataType::kFp32) continue;
    int out = conv.outputs[0];
    int residual = kNoValue;
    std::optional<Activation> act;
    std::vector<int> absorbed;
    // Optional residual Add.
    if (passes::HasSingleUse(*graph, uses, out)) {
      const passes::Use use = uses[out][0];
      const Node& add = graph->nodes[use.node];
      if (!dead[use.node] && add.domain.empty() && add.op_type == "Add" && add.inputs.size() == 2 &&
          add.inputs[0] != add.inputs[1] && graph->values[add.outputs[0]].dtype == DataType::kFp32) {
        residual = add.inputs[1 - use.slot];
        absorbed.push_back(use.node);
        out = add.outputs[0];
      }
    }
    // Optional activation.
    if (passes::HasSingleUse(*graph, uses, out)) {
      const passes::Use use = uses[out][0];
      const Node& next = graph->nodes[use.node];
      if (use.slot == 0 && !dead[use.node]) {
        act = AsActivation(*graph, next, opset);
        if (act) {
          absorbed.push_back(use.node);
          out = next.outputs[0];
        }
      }
    }
    if (absorbed.empty()) continue;
    Node fused_node;
    fused_node.name = conv.name;
    fused_node.op_type = kFusedConvOp;
    fused_node.domain = passes::kNereidDomain;
    fused_node.attributes = conv.attributes;
    fused_node.inputs = {conv.inputs[0], conv.inputs[1],
                         conv.inputs.size() > 2 ? conv.inputs[2] : kNoValue};
    if (residual != kNoValue) fused_node.inputs.push_back(residual);
    fused_node.outputs = {out};
    fused_node.attributes["activation"] = passes::StringAttr(act ? act->name : "");
    fused_node.attributes["activation_alpha"] = passes::FloatAttr(act ? act->alpha : 0.0f);
    fused_node.attributes["activation_beta"] = passes::FloatAttr(act ? act->beta : 0.0f);
    for (int idx : absorbed) dead[idx] = true;
    conv = std::move(fused_node);
    ++fused;
  }
  if (fused > 0) passes::RegisterNereidDomain(graph);
  passes::RemoveNodes(graph, dead);
  return fused;
}

}  // namespace nereid::engine
