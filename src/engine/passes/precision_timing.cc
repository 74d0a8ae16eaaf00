#include "engine/passes/precision_timing.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "engine/ir/precision_attrs.h"
#include "engine/kernels/kernel.h"
#include "engine/passes/graph_util.h"

namespace nereid::engine {
namespace {

constexpr int kRuns = 5;

Tensor RandomTensor(DataType dtype, const Shape& shape, std::mt19937* rng) {
  Tensor t = Tensor::AllocateDense(dtype, shape);
  uint8_t* p = reinterpret_cast<uint8_t*>(t.mutable_data());
  if (dtype == DataType::kFp32) {
    std::normal_distribution<float> normal(0, 1);
    float* f = t.mutable_data_as<float>();
    for (size_t i = 0; i < t.byte_size() / 4; ++i) f[i] = normal(*rng);
  } else {
    std::uniform_int_distribution<int> byte(0, 255);
    for (size_t i = 0; i < t.byte_size(); ++i) p[i] = static_cast<uint8_t>(byte(*rng));
  }
  return t;
}

// The kernel the plan would build for `node`: the highest-priority factory
// that accepts it.
StatusOr<std::unique_ptr<Kernel>> BuildKernel(const Graph& graph, const Node& node,
                                              const std::vector<DataType>& dtypes, int threads) {
  std::vector<const Tensor*> constants;
  for (int v : node.inputs) {
    auto it = graph.initializers.find(v);
    constants.push_back(it == graph.initializers.end() ? nullptr : &it->second);
  }
  std::vector<DataType> out_dtypes(node.outputs.size(), DataType::kInvalid);
  KernelBuildContext context{node, graph.OpsetFor(node.domain), dtypes, out_dtypes, constants,
                             threads};
  Status last = Unimplemented("no kernel for " + node.op_type);
  for (const auto& [priority, factory] :
       KernelRegistry::Global().FindAll(node.domain, node.op_type)) {
    auto kernel = factory(context);
    if (kernel.ok()) return kernel;
    last = kernel.status();
    if (last.code() != StatusCode::kUnimplemented) return last;
  }
  return last;
}

// Median ms of `kRuns` runs after one warm-up, or -1 when it fails.
double TimeKernel(const Kernel& kernel, const std::vector<const Tensor*>& inputs,
                  size_t num_outputs) {
  std::vector<double> ms;
  for (int i = 0; i <= kRuns; ++i) {
    std::vector<Tensor> outputs(num_outputs);
    const auto start = std::chrono::steady_clock::now();
    if (!kernel.Run(inputs, outputs).ok()) return -1;
    if (i > 0) {
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count());
    }
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

bool HasAttr(const Node& n, const char* name) { return n.FindAttribute(name) != nullptr; }

}  // namespace

StatusOr<std::vector<PrecisionTiming>> TimePrecisions(
    const Graph& graph, const std::vector<std::pair<std::string, Node>>& candidates,
    const std::map<int, Shape>& shapes, int threads) {
  std::mt19937 rng(2024);
  std::vector<PrecisionTiming> timings;
  if (candidates.empty()) return timings;
  const Node& base = candidates.front().second;
  // FP32 inputs at batch 1: initializers as they are, computed inputs random.
  std::vector<Tensor> owned(base.inputs.size());
  std::vector<const Tensor*> fp32_inputs(base.inputs.size(), nullptr);
  for (size_t i = 0; i < base.inputs.size(); ++i) {
    const int v = base.inputs[i];
    if (v == kNoValue) continue;
    auto init = graph.initializers.find(v);
    if (init != graph.initializers.end()) {
      fp32_inputs[i] = &init->second;
      continue;
    }
    auto shape = shapes.find(v);
    if (shape == shapes.end()) {
      return InvalidArgument("no observed shape for input " + std::to_string(i) + " of " +
                             base.op_type);
    }
    Shape s = shape->second;
    if (!s.empty()) s[0] = 1;
    owned[i] = RandomTensor(DataType::kFp32, s, &rng);
    fp32_inputs[i] = &owned[i];
  }
  const std::vector<DataType> unknown(base.inputs.size(), DataType::kInvalid);
  for (const auto& [label, node] : candidates) {
    PrecisionTiming t{label, -1};
    std::vector<const Tensor*> inputs = fp32_inputs;
    std::vector<Tensor> quantized;
    quantized.reserve(2);
    Node timed = node;
    const Tensor* w = inputs.size() > 1 ? inputs[1] : nullptr;
    // "int8-unchained": FP32 in and out, as INT8 runs without a chain.
    if (label == "int8" && passes::IsConvOp(node) && w != nullptr && w->shape().size() == 4 &&
        inputs[0] != nullptr) {
      // The chained form: u8/s8 NHWC X (and Z), quantized output.
      const Shape& xs = inputs[0]->shape();
      const int64_t group = node.GetInt("group", 1).value_or(1);
      const int64_t c = w->shape()[1] * group;
      const Shape x_nhwc = {xs[0], xs[2], xs[3], c};
      const bool x_unsigned = node.GetInt(kInputUnsignedAttr, 0).value_or(0) != 0;
      quantized.push_back(
          RandomTensor(x_unsigned ? DataType::kUint8 : DataType::kInt8, x_nhwc, &rng));
      inputs[0] = &quantized.back();
      // The output's shape: from an FP32 run of the first candidate.
      auto probe = BuildKernel(graph, base, unknown, threads);
      if (probe.ok()) {
        std::vector<Tensor> out(base.outputs.size());
        if ((*probe)->Run(fp32_inputs, out).ok() && !out.empty()) {
          const Shape& ys = out[0].shape();
          const Shape y_nhwc = {ys[0], ys[2], ys[3], w->shape()[0]};
          if (inputs.size() > 3 && inputs[3] != nullptr && HasAttr(node, kSumScaleAttr)) {
            const bool z_unsigned = node.GetInt(kSumUnsignedAttr, 0).value_or(0) != 0;
            quantized.push_back(
                RandomTensor(z_unsigned ? DataType::kUint8 : DataType::kInt8, y_nhwc, &rng));
            inputs[3] = &quantized.back();
          }
          timed.attributes[kOutputScaleAttr] = passes::FloatAttr(0.05f);
          // u8 after activations that never go negative, as calibration
          // would find; s8 otherwise (the oneDNN kernels differ).
          const std::string act = node.GetString("activation", "").value_or("");
          const float act_min = node.GetFloat("activation_alpha", 0.0f).value_or(0.0f);
          timed.attributes[kOutputUnsignedAttr] = passes::IntAttr(
              act == "Relu" || act == "Sigmoid" || (act == "Clip" && act_min >= 0) ? 1 : 0);
        }
      }
    }
    std::vector<DataType> dtypes;
    for (const Tensor* in : inputs) dtypes.push_back(in ? in->dtype() : DataType::kInvalid);
    auto kernel = BuildKernel(graph, timed, dtypes, threads);
    if (kernel.ok()) t.ms = TimeKernel(**kernel, inputs, node.outputs.size());
    // A chained form the kernel refuses: time the plain INT8 form instead.
    if (t.ms < 0 && !quantized.empty()) {
      auto plain = BuildKernel(graph, node, unknown, threads);
      if (plain.ok()) t.ms = TimeKernel(**plain, fp32_inputs, node.outputs.size());
    }
    timings.push_back(t);
  }
  return timings;
}

}  // namespace nereid::engine
