#include "engine/passes/graph_util.h"

#include <algorithm>
#include <utility>

#include "engine/ir/fused_ops.h"

namespace nereid::engine::passes {

std::vector<std::vector<Use>> ComputeUses(const Graph& graph) {
  std::vector<std::vector<Use>> uses(graph.values.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const auto& inputs = graph.nodes[n].inputs;
    for (size_t s = 0; s < inputs.size(); ++s) {
      if (inputs[s] != kNoValue) {
        uses[inputs[s]].push_back(Use{static_cast<int>(n), static_cast<int>(s)});
      }
    }
  }
  return uses;
}

std::vector<int> ComputeProducers(const Graph& graph) {
  std::vector<int> producer(graph.values.size(), -1);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (int v : graph.nodes[n].outputs) {
      if (v != kNoValue) producer[v] = static_cast<int>(n);
    }
  }
  return producer;
}

bool IsGraphOutput(const Graph& graph, int value) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), value) != graph.outputs.end();
}

const Tensor* FindConstant(const Graph& graph, int value) {
  if (value == kNoValue) return nullptr;
  auto it = graph.initializers.find(value);
  return it == graph.initializers.end() ? nullptr : &it->second;
}

void ReplaceUses(Graph* graph, int from, int to) {
  for (Node& node : graph->nodes) {
    for (int& v : node.inputs) {
      if (v == from) v = to;
    }
  }
}

void RemoveNodes(Graph* graph, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(graph->nodes.size());
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    if (!dead[n]) kept.push_back(std::move(graph->nodes[n]));
  }
  graph->nodes = std::move(kept);
}

int AddValue(Graph* graph, const std::string& base, DataType dtype, std::optional<Shape> shape) {
  std::string name = base;
  for (int i = 1; graph->FindValue(name) != kNoValue; ++i) name = base + "/" + std::to_string(i);
  const int id = graph->GetOrAddValue(name);
  graph->values[id].dtype = dtype;
  graph->values[id].shape = std::move(shape);
  return id;
}

bool HasSingleUse(const Graph& graph, const std::vector<std::vector<Use>>& uses, int value) {
  return uses[value].size() == 1 && !IsGraphOutput(graph, value);
}

std::optional<float> ScalarConstant(const Graph& graph, int value) {
  const Tensor* t = FindConstant(graph, value);
  if (t == nullptr || t->dtype() != DataType::kFp32 || t->byte_size() != sizeof(float)) {
    return std::nullopt;
  }
  return t->data_as<float>()[0];
}

bool IsConvOp(const Node& node) {
  return (node.domain.empty() && node.op_type == "Conv") ||
         (node.domain == kNereidDomain && node.op_type == kFusedConvOp);
}

Attribute IntAttr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

Attribute FloatAttr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

Attribute StringAttr(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

Attribute IntsAttr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

void RegisterNereidDomain(Graph* graph) { graph->opsets.emplace(kNereidDomain, 1); }

}  // namespace nereid::engine::passes
