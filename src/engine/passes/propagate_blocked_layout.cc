// Pass: keeps 4-D fp32 activations in oneDNN's blocked nChw<b>c layout
// across chains of convolutions (engine/ir/fused_ops.h), so the reorders
// that a plain-layout convolution pays on every call happen once at the
// edges of the chain instead (TensorRT's and ONNX Runtime's NCHWc idea).
//
// Forward over the sorted graph, a value becomes blocked when its producer
// can write the blocked layout:
//   Conv / nereid.FusedConv (2-D, constant 4-D weights, channel groups the
//     blocked kernels support) -> nereid.FusedConv with dst_block, reading
//     its input blocked (src_block) when that input is blocked;
//   MaxPool / AveragePool / Global{Average,Max}Pool of a blocked input (no
//     Indices output) -> nereid.BlockedPool;
//   elementwise ops with f(0) = 0 whose inputs are all blocked (unary:
//     Relu, LeakyRelu, Tanh, HardSwish, Elu, Neg, Abs, Clip with min <= 0 <=
//     max; binary Add, Sub, Mul, Max, Min of same-shaped inputs) -> unchanged,
//     they compute the same on the 5-D layout and keep the padding zero.
// Readers that cannot take the blocked layout (and graph outputs) get one
// nereid.FromBlocked per value; a residual input of a blocked FusedConv that
// is plain gets a nereid.ToBlocked. A convolution whose output no reader
// wants blocked writes it plain, so an isolated convolution is unchanged.
// The block is 16 on CPUs with AVX-512, else 8.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "engine/ir/fused_ops.h"
#include "engine/kernels/blocked_layout.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

using passes::IntAttr;
using passes::kNereidDomain;
using passes::StringAttr;

int64_t PreferredBlock() { return __builtin_cpu_supports("avx512f") ? 16 : 8; }

// A nereid.FromBlocked (with `channels`) or nereid.ToBlocked (without)
// converting `in` to `out`, named after `value` ("<value>/from_blocked",
// "<value>/to_blocked").
Node LayoutNode(const std::string& value, int in, int out, int64_t block,
                std::optional<int64_t> channels) {
  const bool from = channels.has_value();
  Node node;
  node.name = value + (from ? "/from_blocked" : "/to_blocked");
  node.op_type = from ? kFromBlockedOp : kToBlockedOp;
  node.domain = kNereidDomain;
  node.inputs = {in};
  node.outputs = {out};
  node.attributes["block"] = IntAttr(block);
  if (from) node.attributes["channels"] = IntAttr(*channels);
  return node;
}

// Static 4-D fp32 shape with known channels (dim 0 may be symbolic).
bool IsBlockableActivation(const Value& v) {
  if (v.dtype != DataType::kFp32 || !v.shape || v.shape->size() != 4) return false;
  for (size_t d = 1; d < 4; ++d) {
    if ((*v.shape)[d] <= 0) return false;
  }
  return true;
}

// Can this convolution write (and read) the blocked layout?
bool ConvCanBlock(const Graph& graph, const Node& node, int64_t block) {
  if (node.inputs.size() < 2 || node.outputs.size() != 1) return false;
  if (!IsBlockableActivation(graph.values[node.inputs[0]]) ||
      !IsBlockableActivation(graph.values[node.outputs[0]])) {
    return false;
  }
  const Tensor* w = passes::FindConstant(graph, node.inputs[1]);
  if (w == nullptr || w->dtype() != DataType::kFp32 || w->shape().size() != 4) return false;
  if (node.domain == kNereidDomain &&
      (node.GetInt("src_block", 0).value_or(1) != 0 || node.GetInt("dst_block", 0).value_or(1) != 0)) {
    return false;
  }
  const int64_t group = node.GetInt("group", 1).value_or(0);
  if (group < 1) return false;
  const int64_t out_c = w->shape()[0], in_c = w->shape()[1] * group;
  if (in_c != (*graph.values[node.inputs[0]].shape)[1]) return false;
  if (group == 1) return true;
  if (group == in_c && group == out_c) return true;  // depthwise
  return (in_c / group) % block == 0 && (out_c / group) % block == 0;
}

bool ZeroPreservingUnary(const Graph& graph, const Node& node) {
  static const char* kOps[] = {"Relu", "LeakyRelu", "Tanh", "HardSwish", "Elu", "Neg", "Abs"};
  if (!node.domain.empty() || node.outputs.size() != 1 || node.inputs.empty()) return false;
  for (const char* op : kOps) {
    if (node.op_type == op) return node.inputs.size() == 1;
  }
  if (node.op_type != "Clip") return false;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (graph.OpsetFor("") < 11) {
    lo = node.GetFloat("min", lo).value_or(1.0f);
    hi = node.GetFloat("max", hi).value_or(-1.0f);
  } else {
    if (node.inputs.size() > 1 && node.inputs[1] != kNoValue) {
      auto v = passes::ScalarConstant(graph, node.inputs[1]);
      if (!v) return false;
      lo = *v;
    }
    if (node.inputs.size() > 2 && node.inputs[2] != kNoValue) {
      auto v = passes::ScalarConstant(graph, node.inputs[2]);
      if (!v) return false;
      hi = *v;
    }
  }
  return lo <= 0.0f && 0.0f <= hi;
}

bool SameShapeBinary(const Graph& graph, const Node& node) {
  static const char* kOps[] = {"Add", "Sub", "Mul", "Max", "Min"};
  if (!node.domain.empty() || node.outputs.size() != 1 || node.inputs.size() != 2) return false;
  bool known = false;
  for (const char* op : kOps) known = known || node.op_type == op;
  if (!known) return false;
  const Value& a = graph.values[node.inputs[0]];
  const Value& b = graph.values[node.inputs[1]];
  if (!IsBlockableActivation(a) || !IsBlockableActivation(b)) return false;
  // Dims 1..3 equal; dim 0 may differ (1 vs N broadcasts the same way in
  // both layouts).
  for (size_t d = 1; d < 4; ++d) {
    if ((*a.shape)[d] != (*b.shape)[d]) return false;
  }
  return true;
}

bool IsPool(const Node& node) {
  return node.domain.empty() && node.outputs.size() == 1 && node.inputs.size() == 1 &&
         (node.op_type == "MaxPool" || node.op_type == "AveragePool" ||
          node.op_type == "GlobalAveragePool" || node.op_type == "GlobalMaxPool");
}

}  // namespace

StatusOr<int> PropagateBlockedLayout(Graph* graph, const PassContext& context) {
  if (context.reference_kernels_only) return 0;
  const int64_t block = PreferredBlock();
  const size_t num_values = graph->values.size();
  std::vector<bool> blocked(num_values, false);
  std::vector<int64_t> channels(num_values, 0);
  // Which node inputs read their value in the blocked layout.
  std::vector<std::vector<bool>> reads_blocked(graph->nodes.size());
  enum class Kind { kNone, kConv, kPool, kElementwise };
  std::vector<Kind> kind(graph->nodes.size(), Kind::kNone);

  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    const Node& node = graph->nodes[n];
    reads_blocked[n].assign(node.inputs.size(), false);
    auto is_blocked = [&](int v) { return v != kNoValue && blocked[v]; };
    if (passes::IsConvOp(node) && ConvCanBlock(*graph, node, block)) {
      kind[n] = Kind::kConv;
      reads_blocked[n][0] = is_blocked(node.inputs[0]);
      if (node.inputs.size() > 3 && node.inputs[3] != kNoValue) reads_blocked[n][3] = true;
    } else if (IsPool(node) && is_blocked(node.inputs[0]) &&
               IsBlockableActivation(graph->values[node.outputs[0]])) {
      kind[n] = Kind::kPool;
      reads_blocked[n][0] = true;
    } else if ((ZeroPreservingUnary(*graph, node) && is_blocked(node.inputs[0]) &&
                IsBlockableActivation(graph->values[node.outputs[0]])) ||
               (SameShapeBinary(*graph, node) && is_blocked(node.inputs[0]) &&
                is_blocked(node.inputs[1]))) {
      kind[n] = Kind::kElementwise;
      reads_blocked[n][0] = true;
      if (node.inputs.size() == 2) reads_blocked[n][1] = true;
    } else {
      continue;
    }
    const int out = node.outputs[0];
    blocked[out] = true;
    channels[out] = (*graph->values[out].shape)[1];
  }

  // A convolution whose output nobody reads blocked writes it plain.
  auto uses = passes::ComputeUses(*graph);
  for (size_t n = graph->nodes.size(); n-- > 0;) {
    if (kind[n] != Kind::kConv) continue;
    const int out = graph->nodes[n].outputs[0];
    bool wanted = false;
    for (const passes::Use& u : uses[out]) wanted = wanted || reads_blocked[u.node][u.slot];
    if (!wanted) blocked[out] = false;
  }
  // Residuals of blocked convolutions must be blocked too; of plain ones, plain.
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    if (kind[n] == Kind::kConv && reads_blocked[n].size() > 3) {
      reads_blocked[n][3] = blocked[graph->nodes[n].outputs[0]];
    }
  }

  int rewrites = 0;
  std::vector<int> plain_copy(num_values, kNoValue);    // blocked value -> its FromBlocked
  std::vector<int> blocked_copy(num_values, kNoValue);  // plain value -> its ToBlocked
  std::vector<Node> added;
  auto from_blocked = [&](int v) {
    if (plain_copy[v] == kNoValue) {
      const Value& value = graph->values[v];
      // The plain copy keeps the value's logical shape.
      plain_copy[v] = passes::AddValue(graph, value.name + "/plain", DataType::kFp32,
                                       graph->values[v].shape);
      added.push_back(LayoutNode(graph->values[v].name, v, plain_copy[v], block, channels[v]));
    }
    return plain_copy[v];
  };
  auto to_blocked = [&](int v) {
    if (blocked_copy[v] == kNoValue) {
      blocked_copy[v] = passes::AddValue(graph, graph->values[v].name + "/blocked",
                                         DataType::kFp32, std::nullopt);
      added.push_back(
          LayoutNode(graph->values[v].name, v, blocked_copy[v], block, std::nullopt));
    }
    return blocked_copy[v];
  };

  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    Node& node = graph->nodes[n];
    // Rewrite the node itself.
    if (kind[n] == Kind::kConv) {
      const int out = node.outputs[0];
      const bool src = blocked[node.inputs[0]];
      const bool dst = blocked[out];
      if (src || dst) {
        if (node.domain.empty()) {
          node.domain = kNereidDomain;
          node.op_type = kFusedConvOp;
          node.attributes["activation"] = StringAttr("");
        }
        node.attributes["src_block"] = IntAttr(src ? block : 0);
        node.attributes["dst_block"] = IntAttr(dst ? block : 0);
        ++rewrites;
      }
    } else if (kind[n] == Kind::kPool) {
      std::string pool = node.op_type;
      node.domain = kNereidDomain;
      node.op_type = kBlockedPoolOp;
      node.attributes["pool"] = StringAttr(pool);
      node.attributes["block"] = IntAttr(block);
      node.attributes["channels"] = IntAttr(channels[node.outputs[0]]);
      ++rewrites;
    }
    // Fix its inputs: each must arrive in the layout the node reads. A
    // convolution reads its input in whichever layout it comes (src_block).
    for (size_t s = 0; s < node.inputs.size(); ++s) {
      const int v = node.inputs[s];
      if (v == kNoValue || (kind[n] == Kind::kConv && s == 0)) continue;
      const bool reads = kind[n] != Kind::kNone && reads_blocked[n][s];
      if (blocked[v] && !reads) {
        node.inputs[s] = from_blocked(v);
      } else if (!blocked[v] && reads) {
        node.inputs[s] = to_blocked(v);
      }
    }
  }
  // Graph outputs stay plain: the blocked producer writes a new value and a
  // FromBlocked writes the output.
  for (int& out : graph->outputs) {
    if (!blocked[out]) continue;
    const int physical = passes::AddValue(graph, graph->values[out].name + "/blocked",
                                          DataType::kFp32, std::nullopt);
    for (Node& node : graph->nodes) {
      for (int& v : node.outputs) {
        if (v == out) v = physical;
      }
      for (int& v : node.inputs) {
        if (v == out) v = physical;
      }
    }
    for (Node& node : added) {
      for (int& v : node.inputs) {
        if (v == out) v = physical;
      }
    }
    added.push_back(LayoutNode(graph->values[out].name, physical, out, block, channels[out]));
  }
  // Blocked values carry their 5-D physical shape from here on.
  for (size_t v = 0; v < num_values; ++v) {
    if (blocked[v] && graph->values[v].shape && !passes::IsGraphOutput(*graph, static_cast<int>(v))) {
      graph->values[v].shape = BlockedShape(*graph->values[v].shape, block);
    }
  }
  rewrites += static_cast<int>(added.size());
  for (Node& node : added) graph->nodes.push_back(std::move(node));
  if (rewrites > 0) passes::RegisterNereidDomain(graph);
  return rewrites;
}

}  // namespace nereid::engine
