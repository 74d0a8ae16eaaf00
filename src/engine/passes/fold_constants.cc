// Pass: evaluates, once at build time, every node whose inputs are all
// constants (initializers), and Shape/Size nodes whose input shape is fully
// known, replacing their outputs by initializers. The reference kernels
// compute the folded values, so folding is exact: the same code would have
// produced the same bytes at run time.
//
// Not folded: nondeterministic ops (Random*, Bernoulli, Multinomial), nodes
// in domains other than ONNX's, and results that would be large and much
// bigger than their inputs (Expand/Tile/ConstantOfShape blowing a small
// constant up): those stay cheaper to compute than to keep in memory.
#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "engine/kernels/kernel.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

constexpr size_t kMaxFoldedBytes = size_t{64} << 20;
constexpr size_t kMaxGrowthBytes = size_t{1} << 20;

bool IsNondeterministic(const std::string& op) {
  static const std::set<std::string, std::less<>> ops = {
      "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli",
      "Multinomial"};
  return ops.count(op) > 0;
}

bool FullyKnown(const std::optional<Shape>& shape) {
  if (!shape) return false;
  for (int64_t d : *shape) {
    if (d < 0) return false;
  }
  return true;
}

// Shape (opset 15 start/end) or Size of a value whose shape is fully known.
StatusOr<std::optional<Tensor>> FoldShapeOf(const Graph& graph, const Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1) return std::optional<Tensor>();
  const Value& in = graph.values[node.inputs[0]];
  if (!FullyKnown(in.shape)) return std::optional<Tensor>();
  const Shape& shape = *in.shape;
  if (node.op_type == "Size") {
    Tensor t = Tensor::AllocateDense(DataType::kInt64, {});
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    t.mutable_data_as<int64_t>()[0] = n;
    return std::optional<Tensor>(std::move(t));
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  ASSIGN_OR_RETURN(int64_t start, node.GetInt("start", 0));
  ASSIGN_OR_RETURN(int64_t end, node.GetInt("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const int64_t n = std::max<int64_t>(end - start, 0);
  Tensor t = Tensor::AllocateDense(DataType::kInt64, {n});
  for (int64_t i = 0; i < n; ++i) t.mutable_data_as<int64_t>()[i] = shape[start + i];
  return std::optional<Tensor>(std::move(t));
}

// Runs the reference kernel of `node` on its constant inputs. nullopt when
// the node cannot be folded (no reference kernel, or it fails: the node then
// stays and reports the error at run time, as it would have).
std::optional<std::vector<Tensor>> Evaluate(const Graph& graph, const Node& node) {
  KernelFactory factory = KernelRegistry::Global().FindReference(node.domain, node.op_type);
  if (factory == nullptr) return std::nullopt;
  KernelBuildContext context{node, graph.OpsetFor(node.domain), {}, {}, {}};
  std::vector<const Tensor*> args;
  for (int v : node.inputs) {
    const Tensor* t = passes::FindConstant(graph, v);
    context.input_dtypes.push_back(v == kNoValue ? DataType::kInvalid : t->dtype());
    context.constant_inputs.push_back(t);
    args.push_back(t);
  }
  for (int v : node.outputs) {
    context.output_dtypes.push_back(v == kNoValue ? DataType::kInvalid : graph.values[v].dtype);
  }
  auto kernel = factory(context);
  if (!kernel.ok()) return std::nullopt;
  std::vector<Tensor> results(std::max<size_t>(node.outputs.size(), 1));
  try {
    if (!(*kernel)->Run(args, results).ok()) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  return results;
}

}  // namespace

StatusOr<int> FoldConstants(Graph* graph, const PassContext&) {
  std::vector<bool> dead(graph->nodes.size(), false);
  int folded = 0;
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    const Node& node = graph->nodes[n];
    if (!node.domain.empty() || IsNondeterministic(node.op_type) || node.outputs.empty()) continue;
    bool has_output_value = false;
    for (int v : node.outputs) has_output_value = has_output_value || v != kNoValue;
    if (!has_output_value) continue;
    bool outputs_are_graph_inputs = false;
    for (int v : node.outputs) {
      outputs_are_graph_inputs = outputs_are_graph_inputs ||
                                 (v != kNoValue && passes::FindConstant(*graph, v) != nullptr);
    }
    if (outputs_are_graph_inputs) continue;

    std::optional<std::vector<Tensor>> results;
    if (node.op_type == "Shape" || node.op_type == "Size") {
      ASSIGN_OR_RETURN(std::optional<Tensor> t, FoldShapeOf(*graph, node));
      if (t) results = std::vector<Tensor>{std::move(*t)};
    }
    if (!results) {
      bool all_constant = true;
      size_t input_bytes = 0;
      for (int v : node.inputs) {
        if (v == kNoValue) continue;
        const Tensor* t = passes::FindConstant(*graph, v);
        all_constant = all_constant && t != nullptr;
        if (t) input_bytes += t->byte_size();
      }
      if (!all_constant) continue;
      results = Evaluate(*graph, node);
      if (!results) continue;
      size_t output_bytes = 0;
      for (const Tensor& t : *results) output_bytes += t.byte_size();
      if (output_bytes > kMaxFoldedBytes ||
          (output_bytes > kMaxGrowthBytes && output_bytes > 4 * input_bytes)) {
        continue;
      }
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const int v = node.outputs[o];
      if (v == kNoValue) continue;
      if (o >= results->size() || (*results)[o].dtype() == DataType::kInvalid) {
        results.reset();
        break;
      }
    }
    if (!results) continue;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const int v = node.outputs[o];
      if (v == kNoValue) continue;
      Tensor& t = (*results)[o];
      // Views of a constant input (Reshape, Identity...) must own their
      // bytes: initializers outlive the nodes that made them.
      if (t.owner() == nullptr) t = Tensor::CopyOf(t.view());
      graph->values[v].dtype = t.dtype();
      graph->values[v].shape = t.shape();
      graph->initializers[v] = std::move(t);
    }
    dead[n] = true;
    ++folded;
  }
  passes::RemoveNodes(graph, dead);
  return folded;
}

}  // namespace nereid::engine
