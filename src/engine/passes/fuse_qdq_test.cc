// Tests of the fuse_qdq pass (passes/fuse_qdq.cc): QDQ convolutions become
// INT8 convolutions that compute what the QDQ model means, and the patterns
// the INT8 kernel cannot honour stay fake-quantized.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/ir/onnx_import.h"
#include "engine/ir/precision_attrs.h"
#include "engine/ir/test_models.h"
#include "engine/passes/pass.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

using testing::ModelBuilder;
using testing::SetIntAttr;
using testing::SetIntsAttr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

void Int8Initializer(ModelBuilder* b, const std::string& name, int32_t type,
                     std::vector<int64_t> dims, const std::vector<int>& values) {
  auto* t = b->model().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  std::string raw;
  for (int v : values) raw.push_back(static_cast<char>(v));
  t->set_raw_data(raw);
}

struct QdqConvSpec {
  int64_t in_channels = 8;
  int64_t out_channels = 16;
  float x_scale = 2.0f / 255;
  int x_zero = 0;
  bool x_unsigned = true;
  int w_max = 127;  // largest |q| of each output channel's weights
};

// x [1, C, 6, 6] -> Q -> DQ -> Conv(DQ(W int8, per-channel), B) -> y, as
// ONNX Runtime's QDQ quantizer writes it. Returns the weights' scales.
ModelBuilder QdqConv(const QdqConvSpec& s, std::vector<float>* w_scales = nullptr) {
  ModelBuilder b(13);
  const int64_t c = s.in_channels, m = s.out_channels;
  b.Input("x", kFloat, {1, c, 6, 6});
  b.Output("y", kFloat, {1, m, 6, 6});
  b.FloatInitializer("x_scale", {}, {s.x_scale});
  Int8Initializer(&b, "x_zero", s.x_unsigned ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8,
                  {}, {s.x_zero});
  b.AddNode("QuantizeLinear", {"x", "x_scale", "x_zero"}, {"xq"});
  b.AddNode("DequantizeLinear", {"xq", "x_scale", "x_zero"}, {"xd"});
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> q(-s.w_max, s.w_max);
  std::vector<int> w(static_cast<size_t>(m * c * 9));
  for (int64_t o = 0; o < m; ++o) {
    for (int64_t k = 0; k < c * 9; ++k) w[o * c * 9 + k] = q(rng);
    w[o * c * 9 + (o % (c * 9))] = (o % 2 ? -1 : 1) * s.w_max;  // the channel's max |q|
  }
  std::vector<float> scales, bias;
  std::vector<int> zeros(m, 0);
  for (int64_t o = 0; o < m; ++o) {
    scales.push_back(0.01f + 0.002f * static_cast<float>(o));
    bias.push_back(0.05f * static_cast<float>(o % 5) - 0.1f);
  }
  if (w_scales != nullptr) *w_scales = scales;
  Int8Initializer(&b, "w_q", onnx::TensorProto::INT8, {m, c, 3, 3}, w);
  b.FloatInitializer("w_scale", {m}, scales);
  Int8Initializer(&b, "w_zero", onnx::TensorProto::INT8, {m}, zeros);
  auto* wdq = b.AddNode("DequantizeLinear", {"w_q", "w_scale", "w_zero"}, {"w"});
  SetIntAttr(wdq, "axis", 0);
  b.FloatInitializer("b", {m}, bias);
  auto* conv = b.AddNode("Conv", {"xd", "w", "b"}, {"y"});
  SetIntsAttr(conv, "pads", {1, 1, 1, 1});
  return b;
}

Graph Optimized(const ModelBuilder& b) {
  auto graph = ImportOnnxModel(b.Serialize());
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  Status s = RunPasses(&*graph, PassContext{});
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(graph).value();
}

const Node* FindConv(const Graph& g) {
  for (const Node& n : g.nodes) {
    if (n.op_type == "Conv" || n.op_type == "FusedConv") return &n;
  }
  return nullptr;
}

int CountOp(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op_type == op ? 1 : 0;
  return n;
}

std::vector<float> RunModel(const ModelBuilder& b, bool reference, const std::vector<float>& x,
                       int64_t channels) {
  CompileOptions options;
  if (reference) {
    options.optimize = false;
    options.reference_kernels_only = true;
  }
  auto plan = Plan::FromOnnxBytes(b.Serialize(), options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return {};
  TensorView view{DataType::kFp32, {1, channels, 6, 6}, reinterpret_cast<const char*>(x.data()),
                  x.size() * sizeof(float)};
  std::vector<Tensor> out;
  Status s = (*plan)->Run({view}, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok() || out.empty()) return {};
  const float* p = out[0].data_as<float>();
  return std::vector<float>(p, p + out[0].byte_size() / sizeof(float));
}

std::vector<float> Inputs(int64_t channels, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> x(static_cast<size_t>(channels * 36));
  for (float& v : x) v = d(rng);
  return x;
}

float MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(FuseQdqTest, UnsignedActivationRunsAsInt8Convolution) {
  QdqConvSpec spec;
  ModelBuilder b = QdqConv(spec);
  Graph g = Optimized(b);
  const Node* conv = FindConv(g);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(*conv->GetString(kPrecisionAttr), "int8");
  EXPECT_FLOAT_EQ(*conv->GetFloat(kInputScaleAttr), spec.x_scale);
  EXPECT_EQ(*conv->GetInt(kInputUnsignedAttr), 1);
  EXPECT_EQ(g.values[conv->inputs[0]].name, "x");  // reads x, not the fake-quantized copy
  EXPECT_EQ(CountOp(g, "QuantizeLinear") + CountOp(g, "DequantizeLinear"), 0);

  // Off-grid inputs (and some beyond the u8 range, which must saturate):
  // the QDQ meaning (reference kernels, no passes) and the INT8 run agree to
  // float rounding, while FP32 on the unquantized input is measurably off,
  // so agreement shows the activations were quantized like QuantizeLinear.
  const std::vector<float> x = Inputs(spec.in_channels, -0.2f, 2.3f, 3);
  const std::vector<float> want = RunModel(b, true, x, spec.in_channels);
  const std::vector<float> got = RunModel(b, false, x, spec.in_channels);
  float max_abs = 0;
  for (float v : want) max_abs = std::max(max_abs, std::fabs(v));
  EXPECT_LE(MaxDiff(want, got), 2e-5f * max_abs);

  ModelBuilder plain(13);  // the same convolution without the activation Q/DQ
  plain.model() = b.model();
  auto* nodes = plain.model().mutable_graph()->mutable_node();
  for (auto& n : *nodes) {
    if (n.op_type() == "Conv") n.set_input(0, "x");
  }
  const std::vector<float> unquantized = RunModel(plain, true, x, spec.in_channels);
  EXPECT_GT(MaxDiff(want, unquantized), 100 * MaxDiff(want, got) + 1e-3f);
}

TEST(FuseQdqTest, SignedActivationUsesS8) {
  QdqConvSpec spec;
  spec.x_unsigned = false;
  spec.x_scale = 1.0f / 127;
  ModelBuilder b = QdqConv(spec);
  const Node* conv = nullptr;
  Graph g = Optimized(b);
  conv = FindConv(g);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(*conv->GetInt(kInputUnsignedAttr), 0);
  const std::vector<float> x = Inputs(spec.in_channels, -1.2f, 1.2f, 4);
  const std::vector<float> want = RunModel(b, true, x, spec.in_channels);
  const std::vector<float> got = RunModel(b, false, x, spec.in_channels);
  float max_abs = 0;
  for (float v : want) max_abs = std::max(max_abs, std::fabs(v));
  EXPECT_LE(MaxDiff(want, got), 2e-5f * max_abs);
}

// Weights that do not use the full int8 range are requantized by the
// kernel onto its own (finer) per-channel grid: each weight moves by at most
// half of the kernel's step, so each output by at most half a step times the
// sum of |x| over its window.
TEST(FuseQdqTest, PartialRangeWeightsStayWithinHalfAKernelStep) {
  QdqConvSpec spec;
  spec.w_max = 90;
  std::vector<float> w_scales;
  ModelBuilder b = QdqConv(spec, &w_scales);
  const std::vector<float> x = Inputs(spec.in_channels, 0.0f, 2.0f, 5);
  const std::vector<float> want = RunModel(b, true, x, spec.in_channels);
  const std::vector<float> got = RunModel(b, false, x, spec.in_channels);
  ASSERT_EQ(want.size(), got.size());
  // Quantized |x| summed over a full 3x3 window of all channels bounds any window's sum.
  float xmax = 0;
  for (float v : x) xmax = std::max(xmax, v);
  const float window_sum = xmax * static_cast<float>(spec.in_channels * 9);
  float worst = 0;
  for (int64_t o = 0; o < spec.out_channels; ++o) {
    const float half_step = 0.5f * w_scales[o] * static_cast<float>(spec.w_max) / 127.0f;
    for (int64_t p = 0; p < 36; ++p) {
      const float d = std::fabs(want[o * 36 + p] - got[o * 36 + p]);
      EXPECT_LE(d, half_step * window_sum + 1e-4f) << "channel " << o;
      worst = std::max(worst, d);
    }
  }
  EXPECT_GT(worst, 0.0f);  // the grids do differ: the bound is not vacuous
}

TEST(FuseQdqTest, NonZeroActivationZeroPointStaysFakeQuantized) {
  QdqConvSpec spec;
  spec.x_zero = 128;
  ModelBuilder b = QdqConv(spec);
  Graph g = Optimized(b);
  const Node* conv = FindConv(g);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->FindAttribute(kPrecisionAttr), nullptr);
  EXPECT_EQ(CountOp(g, "QuantizeLinear"), 1);
  EXPECT_EQ(CountOp(g, "DequantizeLinear"), 1);  // the weights' one is folded
  const std::vector<float> x = Inputs(spec.in_channels, -1.0f, 1.0f, 6);
  EXPECT_LE(MaxDiff(RunModel(b, true, x, spec.in_channels), RunModel(b, false, x, spec.in_channels)),
            1e-4f);
}

TEST(FuseQdqTest, FirstLayerAndFloatWeightsStayFakeQuantized) {
  QdqConvSpec spec;
  spec.in_channels = 3;  // first layer: the precision assignment keeps it FP32 too
  Graph g = Optimized(QdqConv(spec));
  ASSERT_NE(FindConv(g), nullptr);
  EXPECT_EQ(FindConv(g)->FindAttribute(kPrecisionAttr), nullptr);

  ModelBuilder b = QdqConv(QdqConvSpec{});  // weights given in FP32, not dequantized
  auto* graph = b.model().mutable_graph();
  for (auto& n : *graph->mutable_node()) {
    if (n.op_type() == "Conv") n.set_input(1, "w_fp32");
  }
  b.FloatInitializer("w_fp32", {16, 8, 3, 3}, std::vector<float>(16 * 8 * 9, 0.01f));
  Graph g2 = Optimized(b);
  ASSERT_NE(FindConv(g2), nullptr);
  EXPECT_EQ(FindConv(g2)->FindAttribute(kPrecisionAttr), nullptr);
}

TEST(FuseQdqTest, ReferenceKernelPlansKeepTheQdqNodes) {
  auto graph = ImportOnnxModel(QdqConv(QdqConvSpec{}).Serialize());
  ASSERT_TRUE(graph.ok());
  PassContext context;
  context.reference_kernels_only = true;
  ASSERT_TRUE(RunPasses(&*graph, context).ok());
  EXPECT_EQ(CountOp(*graph, "QuantizeLinear"), 1);
  EXPECT_EQ(FindConv(*graph)->FindAttribute(kPrecisionAttr), nullptr);
}

// x [2, 5, 16] -> Q -> DQ -> MatMul(DQ(W int8 [16, 8])) + b -> y: the MatMul
// is marked INT8 by fuse_qdq, then fused with its bias by fuse_matmul, which
// keeps the marking; the INT8 matrix-product kernel then runs it and agrees
// with the fake-quantized model (run by the reference kernels).
TEST(FuseQdq, QdqMatMulKeepsItsPrecisionThroughFusion) {
  ModelBuilder b(13);
  b.Input("x", kFloat, {2, 5, 16});
  b.Output("y", kFloat, {2, 5, 8});
  b.FloatInitializer("x_scale", {}, {0.02f});
  Int8Initializer(&b, "x_zero", onnx::TensorProto::INT8, {}, {0});
  b.AddNode("QuantizeLinear", {"x", "x_scale", "x_zero"}, {"xq"});
  b.AddNode("DequantizeLinear", {"xq", "x_scale", "x_zero"}, {"xd"});
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> q(-127, 127);
  std::vector<int> w(16 * 8);
  for (int& v : w) v = q(rng);
  for (int n = 0; n < 8; ++n) w[n] = 127;  // every column's max |q| is 127
  Int8Initializer(&b, "w_q", onnx::TensorProto::INT8, {16, 8}, w);
  b.FloatInitializer("w_scale", {}, {0.01f});
  Int8Initializer(&b, "w_zero", onnx::TensorProto::INT8, {}, {0});
  b.AddNode("DequantizeLinear", {"w_q", "w_scale", "w_zero"}, {"w"});
  b.FloatInitializer("bias", {8}, {0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.5f, 1.0f, 2.0f});
  b.AddNode("MatMul", {"xd", "w"}, {"p"});
  b.AddNode("Add", {"p", "bias"}, {"y"});
  Graph g = Optimized(b);
  int fused = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type != "FusedMatMul") continue;
    ++fused;
    EXPECT_EQ(*n.GetString(kPrecisionAttr, "fp32"), "int8");
    EXPECT_FLOAT_EQ(*n.GetFloat(kInputScaleAttr), 0.02f);
    EXPECT_EQ(*n.GetInt(kInputUnsignedAttr, 1), 0);
  }
  EXPECT_EQ(fused, 1);

  Tensor x = Tensor::AllocateDense(DataType::kFp32, {2, 5, 16});
  std::normal_distribution<float> normal(0, 1);
  for (size_t i = 0; i < x.byte_size() / 4; ++i) x.mutable_data_as<float>()[i] = normal(rng);
  CompileOptions fast, ref;
  ref.reference_kernels_only = true;  // fake-quant FP32: the model's meaning
  auto p_fast = Plan::FromOnnxBytes(b.Serialize(), fast);
  auto p_ref = Plan::FromOnnxBytes(b.Serialize(), ref);
  ASSERT_TRUE(p_fast.ok()) << p_fast.status().ToString();
  ASSERT_TRUE(p_ref.ok()) << p_ref.status().ToString();
  std::vector<Tensor> got, want;
  ASSERT_TRUE((*p_fast)->Run({x.view()}, &got).ok());
  ASSERT_TRUE((*p_ref)->Run({x.view()}, &want).ok());
  // Same integers on both sides (the kernel's s8 grid is the model's): only
  // float rounding differs.
  for (size_t i = 0; i < want[0].byte_size() / 4; ++i) {
    EXPECT_NEAR(got[0].data_as<float>()[i], want[0].data_as<float>()[i], 1e-4) << i;
  }
}

}  // namespace
}  // namespace nereid::engine
