// Pass: runs the products of a QDQ model (the format ONNX Runtime's
// quantizer writes: QuantizeLinear -> DequantizeLinear around each
// quantized tensor) as INT8 products instead of fake-quantized FP32.
//
// Pattern, per Conv / MatMul / Gemm (ONNX domain):
//   x -> QuantizeLinear(s, zp) -> DequantizeLinear(s, zp) -> Conv input 0
//   constant int8/uint8 -> DequantizeLinear -> Conv input 1 (weights)
// with s a constant one-element scale (the same in Q and DQ) and zp a
// constant zero point equal to 0 (uint8 or int8; absent means uint8 0).
// Rewrite: the product reads x directly and carries the precision
// attributes the INT8 kernels read (ir/precision_attrs.h): "int8", input
// scale s, unsigned = (zp is uint8). The kernel then quantizes x exactly as
// QuantizeLinear does (x / s rounded half to even, saturated to u8 / s8).
// The weight DequantizeLinear is left to fold_constants (it becomes an FP32
// constant); the INT8 kernel requantizes that per output channel,
// symmetrically, with scale max|w| / 127. When the model's weights are
// per-channel symmetric with a full range (some |q| = 127 in each channel,
// which is what symmetric quantizers produce) this gives back the model's
// own integers; otherwise the kernel's grid differs from the model's (it is
// finer: the error is at most half of the kernel's step, below the model's
// own step). The Q/DQ pair stays for any other reader of its output and is
// removed by the dead-node sweep when none is left.
//
// Left as fake-quant FP32 (the Q/DQ nodes run, exact QDQ semantics):
//   - a non-zero activation zero point (the INT8 convolution kernel has no
//     source zero point; ONNX Runtime's default asymmetric uint8
//     activations hit this), per-axis activation scales, Q and DQ with
//     different parameters;
//   - convolutions the precision assignment would also keep in FP32: fewer
//     than 4 input channels per group (first layers), or not 1-D to 3-D;
//   - products whose weights are not a DequantizeLinear of a constant;
//   - Gemm with transA, or any product when the plan uses reference
//     kernels only (the reference kernels ignore the precision attributes
//     and would drop the activation quantization).
// MatMul and Gemm are marked like convolutions; they run INT8 only with an
// INT8 matrix-product kernel that reads the same attributes.
//
// Thread safety: mutates the graph it is given only.
#include <cmath>
#include <cstring>
#include <string>

#include "engine/ir/precision_attrs.h"
#include "engine/passes/graph_util.h"
#include "engine/passes/pass.h"

namespace nereid::engine {
namespace {

bool IsOnnx(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

// Constant data of `v`: an initializer, or the value of a Constant node
// (fold_constants has not run yet when this pass does).
const Tensor* ConstantOf(const Graph& g, const std::vector<int>& producer, int v) {
  if (const Tensor* t = passes::FindConstant(g, v)) return t;
  if (v == kNoValue || producer[v] < 0) return nullptr;
  const Node& n = g.nodes[producer[v]];
  if (!IsOnnx(n, "Constant") || !n.inputs.empty()) return nullptr;
  const Attribute* a = n.FindAttribute("value");
  return a != nullptr && a->kind == Attribute::Kind::kTensor ? &a->t : nullptr;
}

int64_t Elements(const Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape()) n *= d;
  return n;
}

// Per-tensor activation quantization read off a Q -> DQ pair.
struct ActQuant {
  float scale = 0;
  bool is_unsigned = true;
};

// The node producing `v` when it is ONNX op `op`, else -1.
int ProducerOp(const Graph& g, const std::vector<int>& producer, int v, const char* op) {
  if (v == kNoValue || producer[v] < 0) return -1;
  return IsOnnx(g.nodes[producer[v]], op) ? producer[v] : -1;
}

// Why the Q -> DQ pair feeding `x` cannot become an INT8 input, or "".
std::string MatchActivation(const Graph& g, const std::vector<int>& producer, int x, ActQuant* q,
                            int* source) {
  const int dq_i = ProducerOp(g, producer, x, "DequantizeLinear");
  if (dq_i < 0) return "input is not dequantized";
  const Node& dq = g.nodes[dq_i];
  const int q_i = ProducerOp(g, producer, dq.inputs[0], "QuantizeLinear");
  if (q_i < 0) return "input is not a QuantizeLinear -> DequantizeLinear pair";
  const Node& qn = g.nodes[q_i];
  if (qn.inputs.size() < 2 || dq.inputs.size() < 2) return "missing scale";
  const Tensor* qs = ConstantOf(g, producer, qn.inputs[1]);
  const Tensor* ds = ConstantOf(g, producer, dq.inputs[1]);
  if (qs == nullptr || ds == nullptr || qs->dtype() != DataType::kFp32 ||
      ds->dtype() != DataType::kFp32 || Elements(*qs) != 1 || Elements(*ds) != 1) {
    return "activation scale is not a constant FP32 scalar";
  }
  const float scale = qs->data_as<float>()[0];
  if (scale != ds->data_as<float>()[0]) return "QuantizeLinear and DequantizeLinear scales differ";
  if (!(scale > 0) || !std::isfinite(scale)) return "activation scale is not positive";
  auto zero_point = [&](const Node& n, DataType* dt, int64_t* value) -> bool {
    *dt = DataType::kUint8;
    *value = 0;
    if (n.inputs.size() < 3 || n.inputs[2] == kNoValue) return true;
    const Tensor* z = ConstantOf(g, producer, n.inputs[2]);
    if (z == nullptr || Elements(*z) != 1) return false;
    *dt = z->dtype();
    if (*dt == DataType::kUint8) {
      *value = z->data_as<uint8_t>()[0];
    } else if (*dt == DataType::kInt8) {
      *value = z->data_as<int8_t>()[0];
    } else {
      return false;
    }
    return true;
  };
  DataType qdt, ddt;
  int64_t qz, dz;
  if (!zero_point(qn, &qdt, &qz) || !zero_point(dq, &ddt, &dz)) {
    return "activation zero point is not a constant 8-bit scalar";
  }
  if (qdt != ddt || qz != dz) return "QuantizeLinear and DequantizeLinear zero points differ";
  if (qz != 0) {
    return "activation zero point " + std::to_string(qz) +
           " (the INT8 kernels quantize with zero point 0)";
  }
  const int src = qn.inputs[0];
  if (g.values[src].dtype != DataType::kFp32) return "quantized input is not FP32";
  q->scale = scale;
  q->is_unsigned = qdt == DataType::kUint8;
  *source = src;
  return "";
}

// Why the weights `w` are not a DequantizeLinear of constant 8-bit data,
// or ""; `shape` receives the weights' shape.
std::string MatchWeights(const Graph& g, const std::vector<int>& producer, int w, Shape* shape) {
  const int dq_i = ProducerOp(g, producer, w, "DequantizeLinear");
  if (dq_i < 0) return "weights are not dequantized";
  const Node& dq = g.nodes[dq_i];
  for (size_t i = 0; i < dq.inputs.size(); ++i) {
    if (dq.inputs[i] != kNoValue && ConstantOf(g, producer, dq.inputs[i]) == nullptr) {
      return "weights are not a dequantized constant";
    }
  }
  const Tensor* q = ConstantOf(g, producer, dq.inputs[0]);
  if (q->dtype() != DataType::kInt8 && q->dtype() != DataType::kUint8) {
    return "weights are not 8-bit";
  }
  *shape = q->shape();
  return "";
}

}  // namespace

StatusOr<int> FuseQdq(Graph* graph, const PassContext& context) {
  if (context.reference_kernels_only) return 0;
  const std::vector<int> producer = passes::ComputeProducers(*graph);
  int rewrites = 0;
  for (Node& n : graph->nodes) {
    const bool conv = IsOnnx(n, "Conv");
    if (!conv && !IsOnnx(n, "MatMul") && !IsOnnx(n, "Gemm")) continue;
    if (n.inputs.size() < 2 || n.FindAttribute(kPrecisionAttr) != nullptr) continue;
    if (IsOnnx(n, "Gemm")) {
      auto trans_a = n.GetInt("transA", 0);
      if (!trans_a.ok() || *trans_a != 0) continue;
    }
    ActQuant q;
    int source = kNoValue;
    if (!MatchActivation(*graph, producer, n.inputs[0], &q, &source).empty()) continue;
    Shape ws;
    if (!MatchWeights(*graph, producer, n.inputs[1], &ws).empty()) continue;
    if (conv && (ws.size() < 3 || ws.size() > 5 || ws[1] < 4)) continue;
    n.inputs[0] = source;
    n.attributes[kPrecisionAttr] = passes::StringAttr("int8");
    n.attributes[kInputScaleAttr] = passes::FloatAttr(q.scale);
    n.attributes[kInputUnsignedAttr] = passes::IntAttr(q.is_unsigned ? 1 : 0);
    ++rewrites;
  }
  return rewrites;
}

}  // namespace nereid::engine
