// Tests of the oneDNN convolution's auto-tuning candidates (ConvTuning in
// cpu/dnnl_conv.h): every candidate it lists for a shape builds from its
// parameters, says it applied them, and computes what the reference kernel
// computes, at the shape it was listed for and at another one; malformed
// parameters are refused by the factory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;

KernelFactory FactoryAt(int priority) {
  for (const auto& [p, f] : KernelRegistry::Global().FindAll("", "Conv")) {
    if (p == priority) return f;
  }
  return nullptr;
}

Tensor Random(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  float* p = t.mutable_data_as<float>();
  for (size_t i = 0; i < t.byte_size() / sizeof(float); ++i) p[i] = dist(rng);
  return t;
}

Node ConvNode(int64_t group, std::vector<int64_t> pads, std::vector<int64_t> strides) {
  Node node;
  node.op_type = "Conv";
  node.inputs = {0, 1, 2};
  node.outputs = {3};
  Attribute g;
  g.kind = Attribute::Kind::kInt;
  g.i = group;
  node.attributes["group"] = g;
  Attribute p;
  p.kind = Attribute::Kind::kInts;
  p.ints = std::move(pads);
  node.attributes["pads"] = p;
  Attribute s;
  s.kind = Attribute::Kind::kInts;
  s.ints = std::move(strides);
  node.attributes["strides"] = s;
  return node;
}

StatusOr<std::unique_ptr<Kernel>> Build(int priority, const Node& node, const Tensor& w,
                                        std::string_view params) {
  KernelBuildContext context{node, 11, {}, {}, {nullptr, &w, nullptr}, 1};
  context.tuning_params = params;
  return FactoryAt(priority)(context);
}

StatusOr<Tensor> RunConv(const Kernel& kernel, const Tensor& x, const Tensor& w, const Tensor& b) {
  std::vector<const Tensor*> inputs = {&x, &w, &b};
  std::vector<Tensor> outputs(1);
  RETURN_IF_ERROR(kernel.Run(inputs, outputs));
  return std::move(outputs[0]);
}

double MaxRelError(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.byte_size() / 4; ++i) {
    const double x = a.data_as<float>()[i], y = b.data_as<float>()[i];
    worst = std::max(worst, std::abs(x - y) / (1.0 + std::abs(y)));
  }
  return worst;
}

TEST(DnnlConvTuningTest, EveryCandidateBuildsAndComputesTheConvolution) {
  struct Case {
    Shape x, w;
    int64_t group;
    std::vector<int64_t> pads, strides;
    size_t min_candidates;
  };
  const Case cases[] = {
      {{1, 16, 20, 20}, {32, 16, 3, 3}, 1, {1, 1, 1, 1}, {1, 1}, 3},  // Winograd-able
      {{1, 32, 14, 14}, {64, 32, 1, 1}, 1, {0, 0, 0, 0}, {1, 1}, 2},  // 1x1: plain or blocked
      {{1, 16, 15, 15}, {16, 1, 3, 3}, 16, {1, 1, 1, 1}, {2, 2}, 0},  // depthwise, strided
      {{2, 8, 17, 17}, {16, 8, 5, 5}, 1, {2, 2, 2, 2}, {2, 2}, 2},
  };
  std::mt19937 rng(11);
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeToString(c.x) + " * " + ShapeToString(c.w));
    const Node node = ConvNode(c.group, c.pads, c.strides);
    Tensor x = Random(c.x, rng), w = Random(c.w, rng), b = Random({c.w[0]}, rng);
    Shape other = c.x;
    other[0] += 2;
    other[2] += 3;
    Tensor x2 = Random(other, rng);
    auto reference = Build(0, node, w, "");
    auto fast = Build(10, node, w, "");
    ASSERT_TRUE(reference.ok() && fast.ok());
    auto want = RunConv(**reference, x, w, b);
    auto want2 = RunConv(**reference, x2, w, b);
    ASSERT_TRUE(want.ok() && want2.ok());
    std::vector<const Tensor*> inputs = {&x, &w, &b};
    std::vector<TuningCandidate> candidates = (*fast)->TuningCandidates(inputs);
    EXPECT_GE(candidates.size(), c.min_candidates);
    if (!candidates.empty()) {
      EXPECT_EQ(candidates[0].params, "");
      EXPECT_THAT(candidates[0].label, HasSubstr("default ("));
    }
    for (const TuningCandidate& candidate : candidates) {
      SCOPED_TRACE(candidate.params + " (" + candidate.label + ")");
      auto kernel = Build(10, node, w, candidate.params);
      ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
      EXPECT_EQ((*kernel)->AppliedTuning(), candidate.params);
      auto got = RunConv(**kernel, x, w, b);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_LT(MaxRelError(*got, *want), 1e-4);
      auto got2 = RunConv(**kernel, x2, w, b);
      ASSERT_TRUE(got2.ok()) << got2.status().ToString();
      EXPECT_LT(MaxRelError(*got2, *want2), 1e-4);
    }
  }
}

TEST(DnnlConvTuningTest, ParametersAreCheckedAndAnUnavailableImplFallsBack) {
  std::mt19937 rng(12);
  const Node node = ConvNode(1, {1, 1, 1, 1}, {1, 1});
  Tensor x = Random({1, 8, 9, 9}, rng), w = Random({8, 8, 3, 3}, rng), b = Random({8}, rng);
  const std::pair<std::string, std::string> bad[] = {
      {"alg=fft", "alg must be direct or winograd, got 'fft'"},
      {"layout=nhwc", "layout must be plain or blocked, got 'nhwc'"},
      {"block=16", "unknown tuning parameter 'block' for the oneDNN convolution"},
      {"alg", "malformed tuning parameters 'alg'"},
  };
  for (const auto& [params, message] : bad) {
    auto kernel = Build(10, node, w, params);
    ASSERT_FALSE(kernel.ok()) << params;
    EXPECT_EQ(kernel.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(kernel.status().message(), HasSubstr(message));
  }
  // An implementation this CPU or shape does not offer: oneDNN's first choice.
  auto kernel = Build(10, node, w, "alg=direct;impl=no_such_impl;layout=blocked");
  ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
  EXPECT_EQ((*kernel)->AppliedTuning(), "alg=direct;impl=no_such_impl;layout=blocked");
  auto reference = Build(0, node, w, "");
  ASSERT_TRUE(reference.ok());
  auto got = RunConv(**kernel, x, w, b);
  auto want = RunConv(**reference, x, w, b);
  ASSERT_TRUE(got.ok() && want.ok());
  EXPECT_LT(MaxRelError(*got, *want), 1e-4);
}

}  // namespace
}  // namespace nereid::engine
