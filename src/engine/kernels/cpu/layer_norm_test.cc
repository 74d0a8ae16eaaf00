// Tests of the optimized LayerNormalization kernel (layer_norm.cc) against
// the reference kernel: every axis of ranks 1..5, odd row lengths, Scale/B
// of a row's size and broadcast ones, no B, epsilon, rows with a large
// offset, the Mean/InvStdDev outputs left to the reference, shape errors,
// empty tensors and dtype fallbacks, on both code paths.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

TEST(CpuLayerNormTest, EveryAxisMatchesReference) {
  std::mt19937 rng(11);
  const std::vector<Shape> shapes = {{7},        {1, 128, 768}, {3, 17},      {2, 5, 33},
                                     {2, 3, 4, 5}, {1, 3, 1, 7, 2}, {5, 1000},  {2, 1, 16}};
  ForBothPaths([&] {
    for (const Shape& shape : shapes) {
      const auto rank = static_cast<int64_t>(shape.size());
      for (int64_t axis = -rank; axis < rank; ++axis) {
        const int64_t a = axis < 0 ? axis + rank : axis;
        const Shape row(shape.begin() + a, shape.end());
        for (int with_bias = 0; with_bias < 2; ++with_bias) {
          Tensor x = RandomTensor(shape, rng, -3.0f, 5.0f);
          Tensor scale = RandomTensor(row, rng, 0.5f, 1.5f);
          Tensor bias = RandomTensor(row, rng);
          OpSpec spec("LayerNormalization", with_bias ? 3 : 2);
          spec.Int("axis", axis).Threads(3);
          std::vector<const Tensor*> in = {&x, &scale};
          if (with_bias) in.push_back(&bias);
          ExpectMatchesReference(spec, in,
                                 ShapeToString(shape) + " axis " + std::to_string(axis) +
                                     (with_bias ? " with B" : ""),
                                 1e-5, 1e-5);
        }
      }
    }
  });
}

TEST(CpuLayerNormTest, BroadcastScaleAndBiasEpsilonAndOffsets) {
  std::mt19937 rng(12);
  ForBothPaths([&] {
    // Row shape [4, 6]: Scale [6], [1, 6], [4, 1], [1], scalar; B likewise.
    Tensor x = RandomTensor({3, 4, 6}, rng, -2.0f, 2.0f);
    for (const Shape& ps : {Shape{6}, Shape{1, 6}, Shape{4, 1}, Shape{1}, Shape{}, Shape{4, 6}}) {
      Tensor scale = RandomTensor(ps, rng, 0.5f, 2.0f);
      Tensor bias = RandomTensor(ps, rng);
      OpSpec spec("LayerNormalization", 3);
      spec.Int("axis", 1);
      ExpectMatchesReference(spec, {&x, &scale, &bias}, "param shape " + ShapeToString(ps), 1e-5,
                             1e-5);
    }
    // Omitted B (present as a null input), a large epsilon, constant rows
    // and rows far from zero.
    Tensor scale = RandomTensor({257}, rng, 0.5f, 2.0f);
    Tensor offset = RandomTensor({6, 257}, rng, 999.0f, 1001.0f);
    Tensor constant = RandomTensor({2, 257}, rng, 3.0f, 3.0f);
    OpSpec no_bias("LayerNormalization", 3);
    no_bias.Omit(2).Float("epsilon", 0.5f);
    ExpectMatchesReference(no_bias, {&offset, &scale, nullptr}, "omitted B, epsilon 0.5", 1e-5,
                           1e-5);
    ExpectMatchesReference(OpSpec("LayerNormalization", 2), {&offset, &scale}, "offset rows",
                           1e-5, 1e-5);
    ExpectMatchesReference(OpSpec("LayerNormalization", 2), {&constant, &scale}, "constant rows",
                           1e-5, 1e-5);
  });
}

TEST(CpuLayerNormTest, MeanAndInvStdDevOutputsUseTheReference) {
  OpSpec spec("LayerNormalization", 2, 3);
  EXPECT_EQ(spec.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  // Outputs listed but omitted: the optimized kernel takes the node.
  OpSpec omitted("LayerNormalization", 2, 3);
  omitted.node.outputs[1] = kNoValue;
  omitted.node.outputs[2] = kNoValue;
  auto fast = omitted.BuildOptimized();
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  std::mt19937 rng(13);
  Tensor x = RandomTensor({4, 9}, rng);
  Tensor scale = RandomTensor({9}, rng);
  const int64_t before = cpu::CpuKernelFallbackCountForTesting();
  auto out = cputest::RunKernelN(**fast, {&x, &scale}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(cpu::CpuKernelFallbackCountForTesting(), before);
  EXPECT_EQ((*out)[0].shape(), x.shape());
}

TEST(CpuLayerNormTest, ErrorsAndFallbacks) {
  std::mt19937 rng(14);
  auto fast = OpSpec("LayerNormalization", 3).BuildOptimized();
  ASSERT_TRUE(fast.ok());
  Tensor x = RandomTensor({2, 3, 4}, rng);
  Tensor good = RandomTensor({4}, rng);
  Tensor bad = RandomTensor({3}, rng);
  EXPECT_EQ(RunKernel(**fast, {&x, &bad, &good}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunKernel(**fast, {&x, &good, &bad}).status().code(), StatusCode::kInvalidArgument);
  OpSpec bad_axis("LayerNormalization", 2);
  bad_axis.Int("axis", 3);
  auto k = bad_axis.BuildOptimized();
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(RunKernel(**k, {&x, &good}).status().code(), StatusCode::kInvalidArgument);
  // Bad attributes: the reference factory's error.
  OpSpec bad_stash("LayerNormalization", 2);
  bad_stash.Int("stash_type", 7);
  EXPECT_EQ(bad_stash.BuildOptimized().status().code(), StatusCode::kInvalidArgument);
  // Empty input: same (empty) result as the reference.
  Tensor empty = RandomTensor({0, 4}, rng);
  ExpectMatchesReference(OpSpec("LayerNormalization", 2), {&empty, &good}, "empty", 1e-5, 1e-5,
                         /*allow_fallback=*/true);
  OpSpec known("LayerNormalization", 2);
  known.Dtypes(DataType::kFp64);
  EXPECT_EQ(known.BuildOptimized().status().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace nereid::engine
