// Pass: removes layout shuffles that cancel or compose:
//   Transpose with the identity permutation      -> its input
//   Transpose(Transpose(x, p), q)                -> Transpose(x, p∘q), or x
//   Reshape(Reshape(x, s1), s2), s2 constant
//     without zeros                               -> Reshape(x, s2)
// The inner node must have no other reader and not be a graph output (its
// value disappears). Readers of a removed node's output read its input.
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

bool IsOnnx(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

std::optional<std::vector<int64_t>> Perm(const Node& n) {
  auto p = n.GetInts("perm", std::vector<int64_t>{});
  if (!p.ok() || p->empty()) return std::nullopt;  // no perm: reverse, rank-dependent
  std::vector<bool> seen(p->size(), false);
  for (int64_t v : *p) {
    if (v < 0 || v >= static_cast<int64_t>(p->size()) || seen[v]) return std::nullopt;
    seen[v] = true;
  }
  return *p;
}

bool IsIdentity(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

}  // namespace

StatusOr<int> EliminateTransposes(Graph* graph, const PassContext&) {
  int rewrites = 0;
  bool changed = true;
  while (changed) {  // compositions may cascade
    changed = false;
    auto uses = passes::ComputeUses(*graph);
    std::vector<int> producer = passes::ComputeProducers(*graph);
    std::vector<bool> dead(graph->nodes.size(), false);
    for (size_t n = 0; n < graph->nodes.size() && !changed; ++n) {
      Node& node = graph->nodes[n];
      if (node.inputs.empty() || node.outputs.size() != 1) continue;
      const int in = node.inputs[0];
      if (IsOnnx(node, "Transpose")) {
        auto q = Perm(node);
        if (!q) continue;
        if (IsIdentity(*q) && !passes::IsGraphOutput(*graph, node.outputs[0])) {
          passes::ReplaceUses(graph, node.outputs[0], in);
          dead[n] = true;
          changed = true;
          continue;
        }
        const int p_i = producer[in];
        if (p_i < 0 || !IsOnnx(graph->nodes[p_i], "Transpose") ||
            !passes::HasSingleUse(*graph, uses, in)) {
          continue;
        }
        auto p = Perm(graph->nodes[p_i]);
        if (!p || p->size() != q->size()) continue;
        // y[i] = t[q[i]] = x[p[q[i]]].
        std::vector<int64_t> composed(q->size());
        for (size_t i = 0; i < q->size(); ++i) composed[i] = (*p)[(*q)[i]];
        node.inputs[0] = graph->nodes[p_i].inputs[0];
        node.attributes["perm"].ints = composed;
        dead[p_i] = true;
        changed = true;
      } else if (IsOnnx(node, "Reshape") && node.inputs.size() == 2) {
        const int p_i = producer[in];
        if (p_i < 0 || !IsOnnx(graph->nodes[p_i], "Reshape") ||
            !passes::HasSingleUse(*graph, uses, in)) {
          continue;
        }
        const Tensor* shape = passes::FindConstant(*graph, node.inputs[1]);
        if (shape == nullptr || shape->dtype() != DataType::kInt64) continue;
        bool has_zero = false;
        for (size_t i = 0; i < shape->byte_size() / 8; ++i) {
          has_zero = has_zero || shape->data_as<int64_t>()[i] == 0;
        }
        if (has_zero) continue;
        node.inputs[0] = graph->nodes[p_i].inputs[0];
        dead[p_i] = true;
        changed = true;
      }
    }
    if (changed) {
      passes::RemoveNodes(graph, dead);
      ++rewrites;
    }
  }
  return rewrites;
}

}  // namespace nereid::engine
