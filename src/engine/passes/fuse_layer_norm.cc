// Pass: recognizes LayerNorm written out in primitive ops (what exporters
// emit below opset 17, and hand-written graphs):
//   mean = ReduceMean(x, axes=[-1]);  d = Sub(x, mean)
//   var  = ReduceMean(Pow(d, 2), axes=[-1])
//   y    = Div(d, Sqrt(Add(var, eps)))  [* gamma]  [+ beta]
// and replaces it by one LayerNormalization(x, gamma, beta; axis=-1,
// epsilon=eps). The reductions must be over the last axis only (given as the
// attribute, or as a constant input from opset 18), keepdims=1; gamma and
// beta must be constants (absent ones become ones / zeros); every
// intermediate has only the readers of the pattern.
#include <cmath>

#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

using passes::Use;

bool IsOnnx(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

// ReduceMean over the last axis only, keepdims=1.
bool IsLastAxisMean(const Graph& g, const Node& n) {
  if (!IsOnnx(n, "ReduceMean") || n.outputs.size() != 1) return false;
  if (n.GetInt("keepdims", 1).value_or(0) != 1) return false;
  std::vector<int64_t> axes;
  if (n.inputs.size() > 1 && n.inputs[1] != kNoValue) {
    const Tensor* t = passes::FindConstant(g, n.inputs[1]);
    if (t == nullptr || t->dtype() != DataType::kInt64 || t->byte_size() != 8) return false;
    axes = {t->data_as<int64_t>()[0]};
  } else {
    axes = n.GetInts("axes", std::vector<int64_t>{}).value_or({});
  }
  if (axes.size() != 1) return false;
  const Value& x = g.values[n.inputs[0]];
  return axes[0] == -1 || (x.shape && axes[0] == static_cast<int64_t>(x.shape->size()) - 1);
}

}  // namespace

StatusOr<int> FuseLayerNorm(Graph* graph, const PassContext&) {
  auto uses = passes::ComputeUses(*graph);
  std::vector<bool> dead(graph->nodes.size(), false);
  std::vector<Node> added;
  int fused = 0;
  auto reader = [&](int v, int i) -> int {  // the i-th reader of v
    return i < static_cast<int>(uses[v].size()) ? uses[v][i].node : -1;
  };
  auto single = [&](int v) -> int {
    return passes::HasSingleUse(*graph, uses, v) && !dead[uses[v][0].node] ? uses[v][0].node : -1;
  };
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    const Node& mean = graph->nodes[n];
    if (dead[n] || !IsLastAxisMean(*graph, mean)) continue;
    const int x = mean.inputs[0];
    if (graph->values[x].dtype != DataType::kFp32) continue;
    // Sub(x, mean) is the only reader of mean.
    const int sub_i = single(mean.outputs[0]);
    if (sub_i < 0) continue;
    const Node& sub = graph->nodes[sub_i];
    if (!IsOnnx(sub, "Sub") || sub.inputs.size() != 2 || sub.inputs[0] != x) continue;
    const int d = sub.outputs[0];
    // d is read by Pow and Div, nothing else.
    if (passes::IsGraphOutput(*graph, d) || uses[d].size() != 2) continue;
    int pow_i = -1, div_i = -1;
    for (int k = 0; k < 2; ++k) {
      const int r = reader(d, k);
      if (IsOnnx(graph->nodes[r], "Pow") && uses[d][k].slot == 0) pow_i = r;
      if (IsOnnx(graph->nodes[r], "Div") && uses[d][k].slot == 0) div_i = r;
    }
    if (pow_i < 0 || div_i < 0) continue;
    auto two = passes::ScalarConstant(*graph, graph->nodes[pow_i].inputs[1]);
    if (!two || *two != 2.0f) continue;
    const int var_i = single(graph->nodes[pow_i].outputs[0]);
    if (var_i < 0 || !IsLastAxisMean(*graph, graph->nodes[var_i])) continue;
    const int add_i = single(graph->nodes[var_i].outputs[0]);
    if (add_i < 0 || !IsOnnx(graph->nodes[add_i], "Add")) continue;
    const Node& add = graph->nodes[add_i];
    const int var_v = graph->nodes[var_i].outputs[0];
    auto eps = passes::ScalarConstant(*graph, add.inputs[0] == var_v ? add.inputs[1] : add.inputs[0]);
    if (!eps || *eps < 0) continue;
    const int sqrt_i = single(add.outputs[0]);
    if (sqrt_i < 0 || !IsOnnx(graph->nodes[sqrt_i], "Sqrt")) continue;
    const Node& div = graph->nodes[div_i];
    if (div.inputs[1] != graph->nodes[sqrt_i].outputs[0] ||
        !passes::HasSingleUse(*graph, uses, graph->nodes[sqrt_i].outputs[0])) {
      continue;
    }
    std::vector<int> covered = {static_cast<int>(n), sub_i, pow_i, var_i, add_i, sqrt_i, div_i};
    int out = div.outputs[0];
    int gamma = kNoValue, beta = kNoValue;
    const Value& xv = graph->values[x];
    const int64_t width = xv.shape && !xv.shape->empty() ? xv.shape->back() : -1;
    auto vector_constant = [&](int v) {
      const Tensor* t = passes::FindConstant(*graph, v);
      return t && t->dtype() == DataType::kFp32 && t->shape().size() == 1 && width > 0 &&
             t->shape()[0] == width;
    };
    // When the only reader of `out` is `op` with a vector constant as its
    // other input: covers it, moves `out` past it and returns the constant.
    auto absorb = [&](const char* op) {
      const int r = single(out);
      if (r < 0 || !IsOnnx(graph->nodes[r], op)) return kNoValue;
      const Node& reader_node = graph->nodes[r];
      const int other =
          reader_node.inputs[0] == out ? reader_node.inputs[1] : reader_node.inputs[0];
      if (!vector_constant(other)) return kNoValue;
      covered.push_back(r);
      out = reader_node.outputs[0];
      return other;
    };
    gamma = absorb("Mul");
    if (gamma != kNoValue) beta = absorb("Add");
    if (gamma == kNoValue) {
      if (width <= 0) continue;  // LayerNormalization needs a scale of known width
      Tensor ones = Tensor::AllocateDense(DataType::kFp32, {width});
      for (int64_t i = 0; i < width; ++i) ones.mutable_data_as<float>()[i] = 1.0f;
      gamma = passes::AddValue(graph, graph->values[x].name + "/ln_scale", DataType::kFp32,
                               Shape{width});
      graph->initializers[gamma] = std::move(ones);
    }
    Node ln;
    ln.name = mean.name.empty() ? graph->values[out].name + "/layer_norm" : mean.name;
    ln.op_type = "LayerNormalization";
    ln.inputs = {x, gamma};
    if (beta != kNoValue) ln.inputs.push_back(beta);
    ln.outputs = {out};
    ln.attributes["axis"] = passes::IntAttr(-1);
    ln.attributes["epsilon"] = passes::FloatAttr(*eps);
    for (int c : covered) dead[c] = true;
    added.push_back(std::move(ln));
    ++fused;
  }
  passes::RemoveNodes(graph, dead);
  for (Node& node : added) graph->nodes.push_back(std::move(node));
  return fused;
}

}  // namespace nereid::engine
