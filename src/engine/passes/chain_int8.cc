#include "engine/passes/chain_int8.h"

#include <cmath>
#include <optional>
#include <string>

#include "engine/ir/precision_attrs.h"
#include "engine/passes/graph_util.h"

namespace nereid::engine {
namespace {

bool IsInt8Conv(const Graph& g, const Node& n) {
  if (!passes::IsConvOp(n) || n.inputs.size() < 2) return false;
  const Attribute* p = n.FindAttribute(kPrecisionAttr);
  if (p == nullptr || p->kind != Attribute::Kind::kString || p->s != "int8") return false;
  const Tensor* w = passes::FindConstant(g, n.inputs[1]);
  return w != nullptr && w->shape().size() == 4;
}

bool IsQuantized(DataType dt) { return dt == DataType::kUint8 || dt == DataType::kInt8; }

}  // namespace

StatusOr<int> ChainInt8(Graph* graph) {
  const auto uses = passes::ComputeUses(*graph);
  int chained = 0;
  // Topological order: a producer's own residual Z was decided before it.
  for (Node& producer : graph->nodes) {
    if (!IsInt8Conv(*graph, producer) || producer.outputs.empty()) continue;
    const int v = producer.outputs[0];
    if (v == kNoValue || passes::IsGraphOutput(*graph, v) || uses[v].empty()) continue;
    // An FP32 Z cannot be placed in a quantized Y without losing its sign
    // (u8) or range: the producer's output stays FP32 then.
    if (producer.inputs.size() > 3 && producer.inputs[3] != kNoValue &&
        !IsQuantized(graph->values[producer.inputs[3]].dtype)) {
      continue;
    }
    std::optional<float> scale;
    std::optional<int64_t> is_unsigned;
    bool ok = true;
    for (const passes::Use& u : uses[v]) {
      const Node& reader = graph->nodes[u.node];
      if (!IsInt8Conv(*graph, reader) || (u.slot != 0 && u.slot != 3)) {
        ok = false;
        break;
      }
      const char* scale_attr = u.slot == 0 ? kInputScaleAttr : kSumScaleAttr;
      const char* sign_attr = u.slot == 0 ? kInputUnsignedAttr : kSumUnsignedAttr;
      if (reader.FindAttribute(scale_attr) == nullptr) {
        ok = false;
        break;
      }
      ASSIGN_OR_RETURN(float s, reader.GetFloat(scale_attr));
      ASSIGN_OR_RETURN(int64_t sign, reader.GetInt(sign_attr, 0));
      // Every reader's quantization comes from the same statistic of v.
      if ((scale && std::fabs(*scale - s) > 1e-6f * s) || (is_unsigned && *is_unsigned != sign)) {
        ok = false;
        break;
      }
      scale = s;
      is_unsigned = sign;
    }
    if (!ok || !scale) continue;
    producer.attributes[kOutputScaleAttr] = passes::FloatAttr(*scale);
    producer.attributes[kOutputUnsignedAttr] = passes::IntAttr(*is_unsigned);
    graph->values[v].dtype = *is_unsigned ? DataType::kUint8 : DataType::kInt8;
    graph->values[v].shape = std::nullopt;  // NHWC now; kernels work it out
    ++chained;
  }
  return chained;
}

}  // namespace nereid::engine
