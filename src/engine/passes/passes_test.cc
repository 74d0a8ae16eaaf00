// Before/after tests of the graph passes: each model runs unoptimized on the
// reference kernels (the oracle) and optimized (passes + optimized kernels);
// outputs must agree, and the pass must have rewritten what it claims to.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/ir/onnx_import.h"
#include "engine/ir/test_models.h"
#include "engine/passes/pass.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {
namespace {

using testing::ModelBuilder;
using testing::SetFloatAttr;
using testing::SetIntAttr;
using testing::SetIntsAttr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

std::vector<float> RandomFloats(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

int64_t Count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// The graph after all passes (for structural checks).
Graph Optimized(const ModelBuilder& b, std::vector<std::string> disabled = {}) {
  auto graph = ImportOnnxModel(b.Serialize());
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  PassContext context;
  context.disabled = std::move(disabled);
  Status s = RunPasses(&*graph, context);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(graph).value();
}

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes) {
    std::string full = node.domain.empty() ? node.op_type : node.domain + "." + node.op_type;
    n += full == op ? 1 : 0;
  }
  return n;
}

// Runs `b` as the oracle (no passes, reference kernels) and optimized, on
// the given fp32 inputs; expects outputs within `tol` (relative to the max
// magnitude of the oracle's output).
void ExpectSameOutputs(const ModelBuilder& b,
                       const std::vector<std::pair<std::vector<int64_t>, std::vector<float>>>& in,
                       float tol = 1e-5f, int threads = 2) {
  CompileOptions oracle_options;
  oracle_options.optimize = false;
  oracle_options.reference_kernels_only = true;
  CompileOptions fast_options;
  fast_options.intra_op_threads = threads;
  auto oracle = Plan::FromOnnxBytes(b.Serialize(), oracle_options);
  auto fast = Plan::FromOnnxBytes(b.Serialize(), fast_options);
  ASSERT_TRUE(oracle.ok()) << oracle.status().ToString();
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  std::vector<TensorView> views;
  for (const auto& [shape, data] : in) {
    views.push_back(TensorView{DataType::kFp32, shape, reinterpret_cast<const char*>(data.data()),
                               data.size() * sizeof(float)});
  }
  std::vector<Tensor> want, got;
  ASSERT_TRUE((*oracle)->Run(views, &want).ok());
  Status s = (*fast)->Run(views, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].shape(), got[i].shape()) << "output " << i;
    ASSERT_EQ(want[i].byte_size(), got[i].byte_size());
    const float* w = want[i].data_as<float>();
    const float* g = got[i].data_as<float>();
    const size_t n = want[i].byte_size() / 4;
    float scale = 1e-6f;
    for (size_t k = 0; k < n; ++k) scale = std::max(scale, std::fabs(w[k]));
    for (size_t k = 0; k < n; ++k) {
      ASSERT_NEAR(g[k], w[k], tol * scale) << "output " << i << " element " << k;
    }
  }
}

TEST(PassesTest, RegistryOrderIsFixed) {
  std::vector<std::string> names;
  for (const PassInfo& p : OptimizationPasses()) names.emplace_back(p.name);
  EXPECT_THAT(names, ::testing::ElementsAre(
                         "eliminate_identities", "fuse_qdq", "fold_constants", "eliminate_dead_nodes",
                         "eliminate_transposes", "fuse_layer_norm", "fold_conv_batchnorm", "fuse_conv_activation", "fuse_matmul",
                         "propagate_blocked_layout", "eliminate_dead_nodes_final"));
}

TEST(PassesTest, IdentitiesAndInferenceDropoutAreRemoved) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 8});
  b.Output("y", kFloat, {-1, 8});
  b.AddNode("Identity", {"x"}, {"a"});
  b.AddNode("Dropout", {"a"}, {"d"});
  b.AddNode("Relu", {"d"}, {"r"});
  b.AddNode("Identity", {"r"}, {"y"});  // graph output: Relu writes it directly
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Identity"), 0);
  EXPECT_EQ(CountOps(g, "Dropout"), 0);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.values[g.nodes[0].outputs[0]].name, "y");
  ExpectSameOutputs(b, {{{3, 8}, RandomFloats(24, 1)}});
}

TEST(PassesTest, GraphInputPassedStraightToOutputKeepsItsIdentity) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {4});
  b.Output("y", kFloat, {4});
  b.AddNode("Identity", {"x"}, {"y"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Identity"), 1);
  ExpectSameOutputs(b, {{{4}, RandomFloats(4, 2)}});
}

TEST(PassesTest, ConstantSubgraphsAndStaticShapesFold) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {2, 3, 4});
  b.Output("y", kFloat, {2, 12});
  b.FloatInitializer("a", {12}, RandomFloats(12, 3));
  b.FloatInitializer("c", {12}, RandomFloats(12, 4));
  b.Int64Initializer("zero", {1}, {0});
  b.Int64Initializer("minus1", {1}, {-1});
  b.AddNode("Mul", {"a", "c"}, {"ac"});
  b.AddNode("Shape", {"x"}, {"shape"});  // static: folds
  b.AddNode("Gather", {"shape", "zero"}, {"n"});
  b.AddNode("Concat", {"n", "minus1"}, {"target"})->set_name("concat");
  SetIntAttr(b.model().mutable_graph()->mutable_node(3), "axis", 0);
  b.AddNode("Reshape", {"x", "target"}, {"flat"});
  b.AddNode("Add", {"flat", "ac"}, {"y"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Shape"), 0);
  EXPECT_EQ(CountOps(g, "Gather"), 0);
  EXPECT_EQ(CountOps(g, "Concat"), 0);
  EXPECT_EQ(CountOps(g, "Mul"), 0);
  EXPECT_EQ(g.nodes.size(), 2u);  // Reshape + Add
  ExpectSameOutputs(b, {{{2, 3, 4}, RandomFloats(24, 5)}});
}

TEST(PassesTest, SymbolicShapesDoNotFold) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 4});
  b.Output("s", onnx::TensorProto::INT64, {2});
  b.AddNode("Shape", {"x"}, {"s"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Shape"), 1);
}

TEST(PassesTest, DeadBranchesAndUnusedInitializersGo) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 4});
  b.Output("y", kFloat, {-1, 4});
  b.FloatInitializer("unused", {4}, RandomFloats(4, 6));
  b.AddNode("Relu", {"x"}, {"y"});
  b.AddNode("Exp", {"x"}, {"dead1"});
  b.AddNode("Add", {"dead1", "unused"}, {"dead2"});
  Graph g = Optimized(b);
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_TRUE(g.initializers.empty());
  ExpectSameOutputs(b, {{{2, 4}, RandomFloats(8, 7)}});
}

TEST(PassesTest, UnsupportedDeadNodeStillFailsAtLoad) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {4});
  b.Output("y", kFloat, {4});
  b.AddNode("Relu", {"x"}, {"y"});
  b.AddNode("NoSuchOp", {"x"}, {"z"}, "mystery");
  auto plan = Plan::FromOnnxBytes(b.Serialize(), CompileOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(plan.status().message(), ::testing::HasSubstr("node 'mystery' (op NoSuchOp)"));
}

// x [N, cin, 9, 9] -> Conv(k, stride, group) -> ...
void AddConv(ModelBuilder* b, const std::string& in, const std::string& out, int64_t cin,
             int64_t cout, int64_t k, int64_t group, uint32_t seed, bool bias = true) {
  const std::string w = out + "_w", bname = out + "_b";
  b->FloatInitializer(w, {cout, cin / group, k, k},
                      RandomFloats(Count({cout, cin / group, k, k}), seed, -0.3f, 0.3f));
  std::vector<std::string> inputs = {in, w};
  if (bias) {
    b->FloatInitializer(bname, {cout}, RandomFloats(cout, seed + 1));
    inputs.push_back(bname);
  }
  onnx::NodeProto* node = b->AddNode("Conv", inputs, {out});
  SetIntsAttr(node, "pads", {k / 2, k / 2, k / 2, k / 2});
  if (group > 1) SetIntAttr(node, "group", group);
}

TEST(PassesTest, ConvBatchNormFolds) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 5, 9, 9});
  b.Output("y", kFloat, {-1, 6, 9, 9});
  AddConv(&b, "x", "c", 5, 6, 3, 1, 10);
  b.FloatInitializer("gamma", {6}, RandomFloats(6, 11, 0.5f, 2.0f));
  b.FloatInitializer("beta", {6}, RandomFloats(6, 12));
  b.FloatInitializer("mean", {6}, RandomFloats(6, 13));
  b.FloatInitializer("var", {6}, RandomFloats(6, 14, 0.1f, 3.0f));
  SetFloatAttr(b.AddNode("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"y"}),
               "epsilon", 1e-3f);
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "BatchNormalization"), 0);
  EXPECT_EQ(g.nodes.size(), 1u);
  ExpectSameOutputs(b, {{{2, 5, 9, 9}, RandomFloats(2 * 5 * 81, 15)}}, 1e-5f);
}

TEST(PassesTest, ConvResidualAndActivationFuse) {
  for (const char* act : {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "Elu", "HardSwish"}) {
    SCOPED_TRACE(act);
    ModelBuilder b(17);
    b.Input("x", kFloat, {-1, 8, 9, 9});
    b.Input("z", kFloat, {-1, 8, 9, 9});
    b.Output("y", kFloat, {-1, 8, 9, 9});
    b.FloatInitializer("lo", {}, {-0.5f});
    b.FloatInitializer("hi", {}, {0.7f});
    AddConv(&b, "x", "c", 8, 8, 3, 1, 20);
    b.AddNode("Add", {"z", "c"}, {"s"});
    if (std::string(act) == "Clip") {
      b.AddNode("Clip", {"s", "lo", "hi"}, {"y"});
    } else {
      onnx::NodeProto* node = b.AddNode(act, {"s"}, {"y"});
      if (std::string(act) == "LeakyRelu") SetFloatAttr(node, "alpha", 0.2f);
    }
    Graph g = Optimized(b);
    EXPECT_EQ(CountOps(g, "nereid.FusedConv"), 1);
    EXPECT_EQ(g.nodes.size(), 1u);
    ExpectSameOutputs(b, {{{2, 8, 9, 9}, RandomFloats(2 * 8 * 81, 21)},
                          {{2, 8, 9, 9}, RandomFloats(2 * 8 * 81, 22)}});
  }
}

TEST(PassesTest, BroadcastResidualStillExact) {
  // Z broadcasts over the batch and spatial dims: the fused kernel adds it
  // unfused at run time.
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 8, 9, 9});
  b.Input("z", kFloat, {1, 8, 1, 1});
  b.Output("y", kFloat, {-1, 8, 9, 9});
  AddConv(&b, "x", "c", 8, 8, 3, 1, 30);
  b.AddNode("Add", {"c", "z"}, {"s"});
  b.AddNode("Relu", {"s"}, {"y"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "nereid.FusedConv"), 1);
  ExpectSameOutputs(b, {{{3, 8, 9, 9}, RandomFloats(3 * 8 * 81, 31)},
                        {{1, 8, 1, 1}, RandomFloats(8, 32)}});
}

TEST(PassesTest, SharedIntermediatesAreNotFused) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {1, 4, 5, 5});
  b.Output("y", kFloat, {1, 4, 5, 5});
  b.Output("c", kFloat, {1, 4, 5, 5});  // the conv output is also a graph output
  AddConv(&b, "x", "c", 4, 4, 3, 1, 40);
  b.AddNode("Relu", {"c"}, {"y"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Relu"), 1);
  ExpectSameOutputs(b, {{{1, 4, 5, 5}, RandomFloats(100, 41)}});
}

// A small CNN: stem conv from 3 channels, a residual block, depthwise and
// grouped convs, channel counts that are not multiples of the block, pools.
ModelBuilder SmallCnn(int64_t mid) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 3, 16, 16});
  b.Output("y", kFloat, {-1, 10});
  b.Output("feat", kFloat, {-1, mid, 8, 8});
  AddConv(&b, "x", "c1", 3, mid, 3, 1, 50);
  b.AddNode("Relu", {"c1"}, {"r1"});
  onnx::NodeProto* pool = b.AddNode("MaxPool", {"r1"}, {"p1"});
  SetIntsAttr(pool, "kernel_shape", {3, 3});
  SetIntsAttr(pool, "strides", {2, 2});
  SetIntsAttr(pool, "pads", {1, 1, 1, 1});
  AddConv(&b, "p1", "c2", mid, mid, 3, mid, 51);  // depthwise
  b.AddNode("Relu", {"c2"}, {"r2"});
  AddConv(&b, "r2", "c3", mid, mid, 1, 1, 52, /*bias=*/false);
  b.AddNode("Add", {"c3", "p1"}, {"s3"});  // residual
  b.AddNode("Relu", {"s3"}, {"feat"});
  AddConv(&b, "feat", "c4", mid, 32, 3, 1, 53);
  onnx::NodeProto* avg = b.AddNode("AveragePool", {"c4"}, {"p4"});
  SetIntsAttr(avg, "kernel_shape", {2, 2});
  SetIntsAttr(avg, "strides", {2, 2});
  b.AddNode("GlobalAveragePool", {"p4"}, {"g"});
  b.AddNode("Flatten", {"g"}, {"f"});
  b.FloatInitializer("fc_w", {32, 10}, RandomFloats(320, 54));
  b.AddNode("MatMul", {"f", "fc_w"}, {"y"});
  return b;
}

TEST(PassesTest, BlockedLayoutAcrossACnn) {
  for (int64_t mid : {16, 24, 32}) {
    SCOPED_TRACE(mid);
    ModelBuilder b = SmallCnn(mid);
    Graph g = Optimized(b);
    if (__builtin_cpu_supports("avx512f") || mid % 8 == 0) {
      EXPECT_EQ(CountOps(g, "nereid.BlockedPool"), 3);
      // One conversion for the "feat" graph output, one before Flatten.
      EXPECT_EQ(CountOps(g, "nereid.FromBlocked"), 2);
      EXPECT_EQ(CountOps(g, "nereid.ToBlocked"), 0);
    }
    for (int64_t n : {1, 3}) {
      ExpectSameOutputs(b, {{{n, 3, 16, 16}, RandomFloats(n * 3 * 256, 55 + n)}}, 1e-4f);
    }
  }
}

TEST(PassesTest, BlockedLayoutCanBeDisabled) {
  ModelBuilder b = SmallCnn(16);
  Graph g = Optimized(b, {"propagate_blocked_layout"});
  EXPECT_EQ(CountOps(g, "nereid.BlockedPool"), 0);
  EXPECT_EQ(CountOps(g, "nereid.FromBlocked"), 0);
}

TEST(PassesTest, RandomConvChainsMatchTheOracle) {
  std::mt19937 rng(77);
  for (int iter = 0; iter < 24; ++iter) {
    const int64_t cin = std::uniform_int_distribution<int>(1, 40)(rng);
    const int64_t mid = std::uniform_int_distribution<int>(1, 40)(rng);
    const int64_t k = std::uniform_int_distribution<int>(0, 1)(rng) ? 3 : 1;
    const int64_t hw = std::uniform_int_distribution<int>(3, 12)(rng);
    const int64_t batch = std::uniform_int_distribution<int>(1, 3)(rng);
    const bool residual = std::uniform_int_distribution<int>(0, 1)(rng);
    SCOPED_TRACE("cin " + std::to_string(cin) + " mid " + std::to_string(mid) + " k " +
                 std::to_string(k) + " hw " + std::to_string(hw));
    ModelBuilder b(17);
    b.Input("x", kFloat, {-1, cin, hw, hw});
    b.Output("y", kFloat, {-1, mid, hw, hw});
    AddConv(&b, "x", "c1", cin, mid, k, 1, 100 + iter);
    b.AddNode("Relu", {"c1"}, {"r1"});
    AddConv(&b, "r1", "c2", mid, mid, 3, 1, 200 + iter);
    if (residual) {
      b.AddNode("Add", {"c2", "r1"}, {"s"});
      b.AddNode("Relu", {"s"}, {"y"});
    } else {
      b.AddNode("Clip", {"c2"}, {"y"});
    }
    ExpectSameOutputs(b, {{{batch, cin, hw, hw}, RandomFloats(batch * cin * hw * hw, iter)}},
                      1e-4f);
  }
}

// One BERT-like encoder layer as PyTorch exports it (opset 17, batch and
// sequence symbolic): projections with bias, heads split by
// Reshape+Transpose, scaled scores plus a broadcast mask, softmax, context
// transposed back, residual adds, LayerNormalization, FFN with erf GELU.
ModelBuilder EncoderLayer(int64_t hidden, int64_t heads, int64_t ffn,
                          bool dynamic_merge = false) {
  const int64_t d = hidden / heads;
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 7, hidden});
  b.Input("mask", kFloat, {-1, 1, 1, 7});
  b.Output("y", kFloat, {-1, 7, hidden});
  uint32_t seed = 300;
  auto linear = [&](const std::string& in, const std::string& out, int64_t k, int64_t n) {
    b.FloatInitializer(out + "_w", {k, n}, RandomFloats(k * n, seed++, -0.2f, 0.2f));
    b.FloatInitializer(out + "_b", {n}, RandomFloats(n, seed++));
    b.AddNode("MatMul", {in, out + "_w"}, {out + "_mm"});
    b.AddNode("Add", {out + "_b", out + "_mm"}, {out});
  };
  b.Int64Initializer("split_shape", {4}, {0, 0, heads, d});
  b.Int64Initializer("merge_shape", {3}, {0, 0, hidden});
  b.FloatInitializer("scale", {}, {std::sqrt(static_cast<float>(d))});
  b.FloatInitializer("sqrt2", {}, {std::sqrt(2.0f)});
  b.FloatInitializer("one", {}, {1.0f});
  b.FloatInitializer("half", {}, {0.5f});
  b.FloatInitializer("ln_g", {hidden}, RandomFloats(hidden, seed++, 0.5f, 1.5f));
  b.FloatInitializer("ln_b", {hidden}, RandomFloats(hidden, seed++));
  for (const char* p : {"q", "k", "v"}) {
    linear("x", p, hidden, hidden);
    b.AddNode("Reshape", {p, "split_shape"}, {std::string(p) + "_4d"});
  }
  SetIntsAttr(b.AddNode("Transpose", {"q_4d"}, {"q_t"}), "perm", {0, 2, 1, 3});
  SetIntsAttr(b.AddNode("Transpose", {"k_4d"}, {"k_t"}), "perm", {0, 2, 3, 1});
  SetIntsAttr(b.AddNode("Transpose", {"v_4d"}, {"v_t"}), "perm", {0, 2, 1, 3});
  b.AddNode("MatMul", {"q_t", "k_t"}, {"scores"});
  b.AddNode("Div", {"scores", "scale"}, {"scaled"});
  b.AddNode("Add", {"scaled", "mask"}, {"masked"});
  SetIntAttr(b.AddNode("Softmax", {"masked"}, {"probs"}), "axis", -1);
  b.AddNode("MatMul", {"probs", "v_t"}, {"ctx"});
  SetIntsAttr(b.AddNode("Transpose", {"ctx"}, {"ctx_t"}), "perm", {0, 2, 1, 3});
  if (dynamic_merge) {
    // As PyTorch exports ctx.transpose(1, 2).reshape(b, s, h * d): the
    // target shape comes from Shape(ctx) before the transpose.
    b.Int64Initializer("i0", {}, {0});
    b.Int64Initializer("i2", {}, {2});
    b.Int64Initializer("ax0", {1}, {0});
    b.Int64Initializer("hid", {1}, {hidden});
    b.AddNode("Shape", {"ctx"}, {"ctx_shape_a"});
    b.AddNode("Shape", {"ctx"}, {"ctx_shape_b"});
    SetIntAttr(b.AddNode("Gather", {"ctx_shape_a", "i0"}, {"bdim"}), "axis", 0);
    SetIntAttr(b.AddNode("Gather", {"ctx_shape_b", "i2"}, {"sdim"}), "axis", 0);
    b.AddNode("Unsqueeze", {"bdim", "ax0"}, {"bdim1"});
    b.AddNode("Unsqueeze", {"sdim", "ax0"}, {"sdim1"});
    SetIntAttr(b.AddNode("Concat", {"bdim1", "sdim1", "hid"}, {"dyn_shape"}), "axis", 0);
    b.AddNode("Reshape", {"ctx_t", "dyn_shape"}, {"ctx_2d"});
  } else {
    b.AddNode("Reshape", {"ctx_t", "merge_shape"}, {"ctx_2d"});
  }
  linear("ctx_2d", "attn", hidden, hidden);
  b.AddNode("Add", {"x", "attn"}, {"res1"});
  SetFloatAttr(b.AddNode("LayerNormalization", {"res1", "ln_g", "ln_b"}, {"h"}), "epsilon", 1e-5f);
  linear("h", "fc1", hidden, ffn);
  b.AddNode("Div", {"fc1", "sqrt2"}, {"g1"});
  b.AddNode("Erf", {"g1"}, {"g2"});
  b.AddNode("Add", {"g2", "one"}, {"g3"});
  b.AddNode("Mul", {"fc1", "g3"}, {"g4"});
  b.AddNode("Mul", {"g4", "half"}, {"gelu"});
  linear("gelu", "fc2", ffn, hidden);
  b.AddNode("Add", {"h", "fc2"}, {"y"});
  return b;
}

TEST(PassesTest, TransformerLayerFusesIntoMatMuls) {
  ModelBuilder b = EncoderLayer(32, 4, 64);
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "nereid.FusedMatMul"), 8);  // q k v, scores, context, attn, fc1, fc2
  EXPECT_EQ(CountOps(g, "MatMul"), 0);
  EXPECT_EQ(CountOps(g, "Transpose"), 0);
  EXPECT_EQ(CountOps(g, "Erf"), 0);
  EXPECT_EQ(CountOps(g, "Div"), 0);
  EXPECT_EQ(CountOps(g, "Add"), 0);
  for (int64_t batch : {1, 2}) {
    std::vector<float> mask(batch * 7, 0.0f);
    mask[3] = -10000.0f;  // one masked key in the first sequence
    ExpectSameOutputs(b, {{{batch, 7, 32}, RandomFloats(batch * 7 * 32, 400 + batch)},
                          {{batch, 1, 1, 7}, mask}},
                      1e-4f);
  }
}

TEST(PassesTest, ShapeReadersDoNotBlockTheContextTranspose) {
  ModelBuilder b = EncoderLayer(32, 4, 64, /*dynamic_merge=*/true);
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Transpose"), 0);
  EXPECT_EQ(CountOps(g, "nereid.FusedMatMul"), 8);
  for (int64_t batch : {1, 3}) {
    ExpectSameOutputs(b, {{{batch, 7, 32}, RandomFloats(batch * 7 * 32, 450 + batch)},
                          {{batch, 1, 1, 7}, std::vector<float>(batch * 7, 0.0f)}},
                      1e-4f);
  }
}

TEST(PassesTest, MatMulFusionCanBeDisabled) {
  ModelBuilder b = EncoderLayer(32, 4, 64);
  Graph g = Optimized(b, {"fuse_matmul"});
  EXPECT_EQ(CountOps(g, "nereid.FusedMatMul"), 0);
  EXPECT_EQ(CountOps(g, "MatMul"), 8);
}

TEST(PassesTest, MatMulScaleBiasActivationVariants) {
  for (const char* act : {"Relu", "Tanh", "Sigmoid", ""}) {
    SCOPED_TRACE(act);
    ModelBuilder b(17);
    b.Input("x", kFloat, {-1, 5});
    b.Input("r", kFloat, {1, 3});  // broadcast residual
    b.Output("y", kFloat, {-1, 3});
    b.FloatInitializer("w", {5, 3}, RandomFloats(15, 500));
    b.FloatInitializer("bias", {3}, RandomFloats(3, 501));
    b.FloatInitializer("two", {}, {2.0f});
    b.AddNode("MatMul", {"x", "w"}, {"m"});
    b.AddNode("Mul", {"two", "m"}, {"s"});
    b.AddNode("Add", {"s", "bias"}, {"sb"});
    if (*act) {
      b.AddNode("Add", {"sb", "r"}, {"sr"});
      b.AddNode(act, {"sr"}, {"y"});
    } else {
      b.AddNode("Add", {"sb", "r"}, {"y"});
    }
    Graph g = Optimized(b);
    EXPECT_EQ(g.nodes.size(), 1u);
    ExpectSameOutputs(b, {{{4, 5}, RandomFloats(20, 502)}, {{1, 3}, RandomFloats(3, 503)}});
  }
}

TEST(PassesTest, DecomposedLayerNormFuses) {
  for (int64_t opset : {13, 18}) {
    SCOPED_TRACE(opset);
    ModelBuilder b(opset);
    b.Input("x", kFloat, {-1, 6, 16});
    b.Output("y", kFloat, {-1, 6, 16});
    b.FloatInitializer("two", {}, {2.0f});
    b.FloatInitializer("eps", {}, {1e-5f});
    b.FloatInitializer("gamma", {16}, RandomFloats(16, 600, 0.5f, 1.5f));
    b.FloatInitializer("beta", {16}, RandomFloats(16, 601));
    b.Int64Initializer("axes", {1}, {-1});
    auto mean = [&](const std::string& in, const std::string& out) {
      if (opset >= 18) {
        b.AddNode("ReduceMean", {in, "axes"}, {out});
      } else {
        SetIntsAttr(b.AddNode("ReduceMean", {in}, {out}), "axes", {-1});
      }
    };
    mean("x", "mu");
    b.AddNode("Sub", {"x", "mu"}, {"d"});
    b.AddNode("Pow", {"d", "two"}, {"d2"});
    mean("d2", "var");
    b.AddNode("Add", {"var", "eps"}, {"ve"});
    b.AddNode("Sqrt", {"ve"}, {"sd"});
    b.AddNode("Div", {"d", "sd"}, {"n"});
    b.AddNode("Mul", {"n", "gamma"}, {"ng"});
    b.AddNode("Add", {"ng", "beta"}, {"y"});
    Graph g = Optimized(b);
    EXPECT_EQ(CountOps(g, "LayerNormalization"), 1);
    EXPECT_EQ(g.nodes.size(), 1u);
    ExpectSameOutputs(b, {{{3, 6, 16}, RandomFloats(3 * 96, 602, -3, 5)}}, 1e-4f);
  }
}

TEST(PassesTest, TransposesComposeAndCancel) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {2, 3, 4, 5});
  b.Output("y", kFloat, {2, 4, 3, 5});
  b.Output("z", kFloat, {2, 3, 4, 5});
  SetIntsAttr(b.AddNode("Transpose", {"x"}, {"t1"}), "perm", {0, 2, 3, 1});
  SetIntsAttr(b.AddNode("Transpose", {"t1"}, {"y"}), "perm", {0, 1, 3, 2});
  SetIntsAttr(b.AddNode("Transpose", {"x"}, {"u1"}), "perm", {0, 2, 3, 1});
  SetIntsAttr(b.AddNode("Transpose", {"u1"}, {"u2"}), "perm", {0, 3, 1, 2});  // cancels
  b.AddNode("Relu", {"u2"}, {"z"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Transpose"), 1);
  ExpectSameOutputs(b, {{{2, 3, 4, 5}, RandomFloats(120, 700)}});
}

TEST(PassesTest, ReshapeChainsCollapse) {
  ModelBuilder b(17);
  b.Input("x", kFloat, {-1, 12});
  b.Output("y", kFloat, {-1, 3, 4});
  b.Int64Initializer("s1", {3}, {-1, 6, 2});
  b.Int64Initializer("s2", {3}, {-1, 3, 4});
  b.AddNode("Reshape", {"x", "s1"}, {"r1"});
  b.AddNode("Reshape", {"r1", "s2"}, {"y"});
  Graph g = Optimized(b);
  EXPECT_EQ(CountOps(g, "Reshape"), 1);
  ExpectSameOutputs(b, {{{2, 12}, RandomFloats(24, 701)}});
}

}  // namespace
}  // namespace nereid::engine
