// Pass: fuses a MatMul with the Transposes around it and the scaling, bias,
// residual and activation that follow into one nereid.FusedMatMul
// (engine/ir/fused_ops.h), which oneDNN runs as one matmul primitive with
// strided operands, an output scale, a bias and post-ops. The patterns are
// the ones transformer encoders export to:
//   Transpose(Q) @ Transpose(K) / sqrt(d) + mask          (attention scores)
//   softmax @ Transpose(V) -> Transpose                    (attention context)
//   X @ W + b [-> GELU]  /  X @ W + b + residual           (projections, FFN)
// GELU is matched in its erf form as exported by PyTorch:
//   Mul(Mul(x, Add(Erf(Div(x, sqrt(2))), 1)), 0.5)   (operands in any order)
// Also MatMul + bias on 2-D inputs is what ONNX calls Gemm; the fused node
// covers it for any rank. Every absorbed intermediate must have a single
// reader and not be a graph output. Precision attributes (a QDQ model's
// INT8 MatMul, passes/fuse_qdq.cc) move to the fused node.
#include <cmath>
#include <set>

#include "engine/ir/fused_ops.h"
#include "engine/ir/precision_attrs.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

using passes::Use;

struct Matcher {
  Graph* graph;
  std::vector<std::vector<Use>> uses;
  std::vector<int> producer;
  std::vector<bool>* dead;

  // The single live reader of v (and v is not a graph output), else null.
  const Node* OnlyReader(int v, int* index = nullptr, int* slot = nullptr) const {
    if (v == kNoValue || !passes::HasSingleUse(*graph, uses, v)) return nullptr;
    const Use& u = uses[v][0];
    if ((*dead)[u.node]) return nullptr;
    if (index) *index = u.node;
    if (slot) *slot = u.slot;
    return &graph->nodes[u.node];
  }
  // The node producing v if it is an ONNX `op` read only by the node being
  // fused.
  const Node* SoleProducer(int v, const char* op, int* index) const {
    if (v == kNoValue || producer[v] < 0 || !passes::HasSingleUse(*graph, uses, v)) return nullptr;
    const Node& n = graph->nodes[producer[v]];
    if ((*dead)[producer[v]] || !n.domain.empty() || n.op_type != op) return nullptr;
    *index = producer[v];
    return &n;
  }
};

bool IsOnnx(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

bool Near(std::optional<float> v, float want) {
  return v && std::fabs(*v - want) <= 1e-4f * std::fabs(want);
}

// The other input of a binary node given one input's value.
int Other(const Node& n, int v) { return n.inputs[0] == v ? n.inputs[1] : n.inputs[0]; }

// Matches the erf GELU starting at value x; on success returns the output
// value and the nodes it covers.
std::optional<int> MatchGelu(const Graph& g, const std::vector<std::vector<Use>>& uses,
                             const std::vector<bool>& dead, int x, std::vector<int>* nodes) {
  if (passes::IsGraphOutput(g, x) || uses[x].size() != 2) return std::nullopt;
  int div_i = -1, mul_i = -1;
  for (const Use& u : uses[x]) {
    const Node& n = g.nodes[u.node];
    if (dead[u.node]) return std::nullopt;
    if (IsOnnx(n, "Div") && u.slot == 0 && n.inputs.size() == 2) div_i = u.node;
    if (IsOnnx(n, "Mul") && n.inputs.size() == 2) mul_i = u.node;
  }
  if (div_i < 0 || mul_i < 0) return std::nullopt;
  const Node& div = g.nodes[div_i];
  if (!Near(passes::ScalarConstant(g, div.inputs[1]), std::sqrt(2.0f))) return std::nullopt;
  auto single = [&](int v) -> int {
    if (!passes::HasSingleUse(g, uses, v) || dead[uses[v][0].node]) return -1;
    return uses[v][0].node;
  };
  const int erf_i = single(div.outputs[0]);
  if (erf_i < 0 || !IsOnnx(g.nodes[erf_i], "Erf")) return std::nullopt;
  const int add_i = single(g.nodes[erf_i].outputs[0]);
  if (add_i < 0 || !IsOnnx(g.nodes[add_i], "Add") || g.nodes[add_i].inputs.size() != 2) {
    return std::nullopt;
  }
  const Node& add = g.nodes[add_i];
  if (!Near(passes::ScalarConstant(g, Other(add, g.nodes[erf_i].outputs[0])), 1.0f)) {
    return std::nullopt;
  }
  const Node& mul = g.nodes[mul_i];
  if (Other(mul, x) != add.outputs[0]) return std::nullopt;
  const int half_i = single(mul.outputs[0]);
  if (half_i < 0 || !IsOnnx(g.nodes[half_i], "Mul") || g.nodes[half_i].inputs.size() != 2) {
    return std::nullopt;
  }
  const Node& half = g.nodes[half_i];
  if (!Near(passes::ScalarConstant(g, Other(half, mul.outputs[0])), 0.5f)) return std::nullopt;
  *nodes = {div_i, erf_i, add_i, mul_i, half_i};
  return half.outputs[0];
}

// A valid permutation from a Transpose node (perm given explicitly).
std::optional<std::vector<int64_t>> PermOf(const Node& t) {
  auto perm = t.GetInts("perm", std::vector<int64_t>{});
  if (!perm.ok() || perm->size() < 2) return std::nullopt;
  std::set<int64_t> seen(perm->begin(), perm->end());
  if (seen.size() != perm->size() || *seen.begin() != 0 ||
      *seen.rbegin() != static_cast<int64_t>(perm->size()) - 1) {
    return std::nullopt;
  }
  return *perm;
}

}  // namespace

StatusOr<int> FuseMatMul(Graph* graph, const PassContext&) {
  std::vector<bool> dead(graph->nodes.size(), false);
  Matcher m{graph, passes::ComputeUses(*graph), passes::ComputeProducers(*graph), &dead};
  int fused = 0;
  std::vector<Node> added;
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    if (dead[n] || !IsOnnx(graph->nodes[n], "MatMul")) continue;
    const Node& mm = graph->nodes[n];
    if (mm.inputs.size() != 2 || mm.outputs.size() != 1 ||
        graph->values[mm.outputs[0]].dtype != DataType::kFp32) {
      continue;
    }
    std::vector<int> absorbed;
    int a = mm.inputs[0], b = mm.inputs[1];
    std::vector<int64_t> a_perm, b_perm, out_perm;
    int t = -1;
    if (const Node* tr = m.SoleProducer(a, "Transpose", &t); tr && PermOf(*tr)) {
      a_perm = *PermOf(*tr);
      a = tr->inputs[0];
      absorbed.push_back(t);
    }
    if (const Node* tr = m.SoleProducer(b, "Transpose", &t); tr && PermOf(*tr) && b != a) {
      b_perm = *PermOf(*tr);
      b = tr->inputs[0];
      absorbed.push_back(t);
    }
    int out = mm.outputs[0];
    float alpha = 1.0f;
    int bias = kNoValue, addend = kNoValue;
    std::string act;
    int next = -1, slot = -1;
    // A Transpose right after the product. Other readers that only take
    // the product's Shape (exporters compute the merged head size that way)
    // read the transposed output's shape, permuted back, instead.
    int transpose_i = -1;
    std::vector<int> shape_readers;
    if (!passes::IsGraphOutput(*graph, out)) {
      for (const Use& u : m.uses[out]) {
        const Node& r = graph->nodes[u.node];
        if (dead[u.node]) {
          transpose_i = -2;
        } else if (IsOnnx(r, "Transpose") && PermOf(r) && transpose_i == -1) {
          transpose_i = u.node;
        } else if (IsOnnx(r, "Shape") && r.attributes.empty() && r.outputs.size() == 1) {
          shape_readers.push_back(u.node);
        } else {
          transpose_i = -2;
        }
      }
    }
    if (transpose_i >= 0) {
      const Node& tr = graph->nodes[transpose_i];
      out_perm = *PermOf(tr);
      absorbed.push_back(transpose_i);
      out = tr.outputs[0];
      if (!shape_readers.empty()) {
        // shape(M)[i] = shape(Y)[inverse[i]] where Y = transpose(M, out_perm).
        Tensor inverse = Tensor::AllocateDense(DataType::kInt64, {int64_t(out_perm.size())});
        for (size_t i = 0; i < out_perm.size(); ++i) {
          inverse.mutable_data_as<int64_t>()[out_perm[i]] = static_cast<int64_t>(i);
        }
        const int inv_id = passes::AddValue(graph, graph->values[out].name + "/inverse_perm",
                                            DataType::kInt64, inverse.shape());
        graph->initializers[inv_id] = std::move(inverse);
        const int y_shape = passes::AddValue(graph, graph->values[out].name + "/shape",
                                             DataType::kInt64, Shape{int64_t(out_perm.size())});
        Node shape_y;
        shape_y.name = graph->values[out].name + "/shape";
        shape_y.op_type = "Shape";
        shape_y.inputs = {out};
        shape_y.outputs = {y_shape};
        added.push_back(std::move(shape_y));
        for (int r : shape_readers) {
          Node& reader = graph->nodes[r];
          reader.op_type = "Gather";
          reader.inputs = {y_shape, inv_id};
          reader.attributes["axis"] = passes::IntAttr(0);
        }
      }
    } else {
      // Scale by a scalar constant.
      while (const Node* s = m.OnlyReader(out, &next, &slot)) {
        if (s->inputs.size() != 2) break;
        auto c = passes::ScalarConstant(*graph, s->inputs[1 - slot]);
        if (IsOnnx(*s, "Mul") && c) {
          alpha *= *c;
        } else if (IsOnnx(*s, "Div") && slot == 0 && c && *c != 0.0f) {
          alpha /= *c;
        } else {
          break;
        }
        absorbed.push_back(next);
        out = s->outputs[0];
      }
      // Bias: a constant [N] added. N is the product's last dim: from the
      // output's inferred shape, or from a constant 2-D B.
      const Value& out_value = graph->values[out];
      int64_t last_dim = out_value.shape && !out_value.shape->empty() ? out_value.shape->back() : -1;
      if (const Tensor* wb = passes::FindConstant(*graph, b);
          last_dim < 0 && wb && wb->shape().size() == 2 && b_perm.empty()) {
        last_dim = wb->shape()[1];
      }
      if (const Node* s = m.OnlyReader(out, &next, &slot); s && IsOnnx(*s, "Add") &&
                                                            s->inputs.size() == 2) {
        const Tensor* c = passes::FindConstant(*graph, s->inputs[1 - slot]);
        if (c && c->dtype() == DataType::kFp32 && c->shape().size() == 1 && last_dim > 0 &&
            last_dim == c->shape()[0]) {
          bias = s->inputs[1 - slot];
          absorbed.push_back(next);
          out = s->outputs[0];
        }
      }
      // Addend: any other fp32 tensor added (mask, residual).
      if (const Node* s = m.OnlyReader(out, &next, &slot); s && IsOnnx(*s, "Add") &&
                                                            s->inputs.size() == 2 &&
                                                            s->inputs[0] != s->inputs[1]) {
        const int other = s->inputs[1 - slot];
        if (graph->values[other].dtype == DataType::kFp32) {
          addend = other;
          absorbed.push_back(next);
          out = s->outputs[0];
        }
      }
      // Activation.
      std::vector<int> gelu_nodes;
      if (auto g = MatchGelu(*graph, m.uses, dead, out, &gelu_nodes)) {
        act = "Gelu";
        absorbed.insert(absorbed.end(), gelu_nodes.begin(), gelu_nodes.end());
        out = *g;
      } else if (const Node* s = m.OnlyReader(out, &next, &slot);
                 s && (IsOnnx(*s, "Relu") || IsOnnx(*s, "Tanh") || IsOnnx(*s, "Sigmoid")) &&
                 s->inputs.size() == 1) {
        act = s->op_type;
        absorbed.push_back(next);
        out = s->outputs[0];
      }
    }
    // Plain MatMul with nothing to fold: leave it to the MatMul kernels.
    if (absorbed.empty()) continue;
    Node fused_node;
    fused_node.name = mm.name;
    fused_node.op_type = kFusedMatMulOp;
    fused_node.domain = passes::kNereidDomain;
    fused_node.inputs = {a, b};
    if (bias != kNoValue || addend != kNoValue) fused_node.inputs.push_back(bias);
    if (addend != kNoValue) fused_node.inputs.push_back(addend);
    fused_node.outputs = {out};
    fused_node.attributes["alpha"] = passes::FloatAttr(alpha);
    fused_node.attributes["activation"] = passes::StringAttr(act);
    if (!a_perm.empty()) fused_node.attributes["a_perm"] = passes::IntsAttr(a_perm);
    if (!b_perm.empty()) fused_node.attributes["b_perm"] = passes::IntsAttr(b_perm);
    if (!out_perm.empty()) fused_node.attributes["out_perm"] = passes::IntsAttr(out_perm);
    // A precision fuse_qdq gave the MatMul (a QDQ model's INT8 product)
    // stays with it: A's per-tensor scale is the same however A is viewed.
    for (const char* name : {kPrecisionAttr, kInputScaleAttr, kInputUnsignedAttr}) {
      if (const Attribute* a = mm.FindAttribute(name)) fused_node.attributes[name] = *a;
    }
    for (int i : absorbed) dead[i] = true;
    graph->nodes[n] = std::move(fused_node);
    ++fused;
  }
  if (fused > 0) passes::RegisterNereidDomain(graph);
  passes::RemoveNodes(graph, dead);
  for (Node& node : added) graph->nodes.push_back(std::move(node));
  return fused;
}

}  // namespace nereid::engine
