// Pass: folds an inference BatchNormalization that follows a Conv into the
// Conv's weights and bias:
//   s = scale / sqrt(var + epsilon)
//   W'[m, ...] = W[m, ...] * s[m]      B'[m] = (B[m] - mean[m]) * s[m] + bias[m]
// Requires fp32 constant W (and B when present) and constant BN parameters,
// the Conv output read only by the BN, and a BN with a single output
// (inference mode). The Conv then writes the BN's output.
#include <cmath>

#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

const Tensor* Fp32Constant(const Graph& graph, int v, int64_t elements) {
  const Tensor* t = passes::FindConstant(graph, v);
  if (t == nullptr || t->dtype() != DataType::kFp32 ||
      t->byte_size() != static_cast<size_t>(elements) * sizeof(float)) {
    return nullptr;
  }
  return t;
}

}  // namespace

StatusOr<int> FoldConvBatchNorm(Graph* graph, const PassContext&) {
  auto uses = passes::ComputeUses(*graph);
  std::vector<int> producer = passes::ComputeProducers(*graph);
  std::vector<bool> dead(graph->nodes.size(), false);
  int folded = 0;
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    const Node& bn = graph->nodes[n];
    if (!bn.domain.empty() || bn.op_type != "BatchNormalization" || bn.inputs.size() != 5) continue;
    int real_outputs = 0;
    for (int v : bn.outputs) real_outputs += v != kNoValue ? 1 : 0;
    if (real_outputs != 1 || bn.outputs[0] == kNoValue) continue;
    if (bn.GetInt("training_mode", 0).value_or(1) != 0) continue;
    const int conv_out = bn.inputs[0];
    const int p = producer[conv_out];
    if (p < 0 || !passes::HasSingleUse(*graph, uses, conv_out)) continue;
    Node& conv = graph->nodes[p];
    if (!conv.domain.empty() || conv.op_type != "Conv" || conv.outputs.size() != 1) continue;
    const Tensor* w = passes::FindConstant(*graph, conv.inputs.size() > 1 ? conv.inputs[1] : -1);
    if (w == nullptr || w->dtype() != DataType::kFp32 || w->shape().size() < 3) continue;
    const int64_t m = w->shape()[0];
    const int64_t per_channel = m > 0 ? static_cast<int64_t>(w->byte_size() / 4) / m : 0;
    if (m <= 0 || per_channel <= 0) continue;
    const bool has_bias = conv.inputs.size() > 2 && conv.inputs[2] != kNoValue;
    const Tensor* b = has_bias ? Fp32Constant(*graph, conv.inputs[2], m) : nullptr;
    if (has_bias && b == nullptr) continue;
    const Tensor* gamma = Fp32Constant(*graph, bn.inputs[1], m);
    const Tensor* beta = Fp32Constant(*graph, bn.inputs[2], m);
    const Tensor* mean = Fp32Constant(*graph, bn.inputs[3], m);
    const Tensor* var = Fp32Constant(*graph, bn.inputs[4], m);
    if (!gamma || !beta || !mean || !var) continue;
    ASSIGN_OR_RETURN(float epsilon, bn.GetFloat("epsilon", 1e-5f));

    Tensor new_w = Tensor::AllocateDense(DataType::kFp32, w->shape());
    Tensor new_b = Tensor::AllocateDense(DataType::kFp32, {m});
    for (int64_t c = 0; c < m; ++c) {
      const float s = gamma->data_as<float>()[c] / std::sqrt(var->data_as<float>()[c] + epsilon);
      const float* src = w->data_as<float>() + c * per_channel;
      float* dst = new_w.mutable_data_as<float>() + c * per_channel;
      for (int64_t i = 0; i < per_channel; ++i) dst[i] = src[i] * s;
      const float bias = b ? b->data_as<float>()[c] : 0.0f;
      new_b.mutable_data_as<float>()[c] =
          (bias - mean->data_as<float>()[c]) * s + beta->data_as<float>()[c];
    }
    const int w_id = passes::AddValue(graph, graph->values[conv.inputs[1]].name + "/bn_folded",
                                      DataType::kFp32, new_w.shape());
    const int b_id = passes::AddValue(graph, graph->values[bn.outputs[0]].name + "/bn_bias",
                                      DataType::kFp32, Shape{m});
    graph->initializers[w_id] = std::move(new_w);
    graph->initializers[b_id] = std::move(new_b);
    conv.inputs.resize(3);
    conv.inputs[1] = w_id;
    conv.inputs[2] = b_id;
    conv.outputs[0] = bn.outputs[0];
    dead[n] = true;
    ++folded;
  }
  passes::RemoveNodes(graph, dead);
  return folded;
}

}  // namespace nereid::engine
