// Tests of the optimized Softmax / LogSoftmax kernels (softmax_ops.cc)
// against the reference kernels: opset < 13 (coerce to 2-D at axis, axis ==
// rank allowed) and opset >= 13 (single axis, strided when not last), every
// axis of ranks 1..5, odd lengths, rows with NaN / inf / large values, empty
// tensors, axis errors and dtype fallbacks, on both code paths.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

// Absolute tolerance: LogSoftmax's x - max - log(sum) cancels to values near
// zero whose error is an ulp of log(sum) (the reference's too), so it gets
// 1e-6; Softmax probabilities are compared down to 1e-7.
double AbsTol(const char* op) { return std::string(op) == "LogSoftmax" ? 1e-6 : 1e-7; }

TEST(CpuSoftmaxTest, EveryAxisAndOpsetMatchesReference) {
  std::mt19937 rng(5);
  const std::vector<Shape> shapes = {{7},          {1, 12, 128, 128}, {3, 17},    {2, 5, 33},
                                     {2, 3, 4, 5}, {1, 3, 1, 7, 2},   {4, 300},   {2, 600, 3},
                                     {3, 1},       {1, 1}};
  ForBothPaths([&] {
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      for (int64_t opset : {1, 11, 13}) {
        for (const Shape& shape : shapes) {
          const auto rank = static_cast<int64_t>(shape.size());
          const int64_t hi = opset < 13 ? rank : rank - 1;  // opset < 13 allows axis == rank
          for (int64_t axis = -rank; axis <= hi; ++axis) {
            Tensor x = RandomTensor(shape, rng, -20.0f, 20.0f);
            OpSpec spec(op, 1);
            spec.Opset(opset).Int("axis", axis).Threads(3);
            ExpectMatchesReference(spec, {&x},
                                   std::string(op) + " opset " + std::to_string(opset) + " " +
                                       ShapeToString(shape) + " axis " + std::to_string(axis),
                                   1e-5, AbsTol(op));
          }
        }
      }
      // Default axis of each opset.
      for (int64_t opset : {11, 13}) {
        Tensor x = RandomTensor({3, 4, 37}, rng, -5.0f, 5.0f);
        ExpectMatchesReference(OpSpec(op, 1).Opset(opset), {&x},
                               std::string(op) + " default axis opset " + std::to_string(opset),
                               1e-5, AbsTol(op));
      }
    }
  });
}

TEST(CpuSoftmaxTest, SpecialValuesMatchReference) {
  std::mt19937 rng(6);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  // Rows (length 5): NaN first, NaN later, +inf, -inf, all -inf, huge values.
  Tensor rows = Scalars({6, 5}, {kNaN, 1, 2, 3, 4,          1, 2, kNaN, 3, 4,
                                 1, kInf, 2, 3, 4,          -kInf, 0, 1, 2, 3,
                                 -kInf, -kInf, -kInf, -kInf, -kInf,
                                 1e30f, -1e30f, 3e38f, 0, 1});
  ForBothPaths([&] {
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      for (int64_t opset : {11, 13}) {
        ExpectMatchesReference(OpSpec(op, 1).Opset(opset), {&rows},
                               std::string(op) + " rows opset " + std::to_string(opset), 1e-5,
                               AbsTol(op));
        // Same rows along a non-last axis (strided path).
        OpSpec spec(op, 1);
        spec.Opset(13).Int("axis", 0);
        ExpectMatchesReference(spec, {&rows}, std::string(op) + " columns", 1e-5, AbsTol(op));
      }
      Tensor x = RandomTensor({4, 67}, rng, -3.0f, 3.0f, 0.02);
      ExpectMatchesReference(OpSpec(op, 1).Opset(13), {&x}, std::string(op) + " sprinkled", 1e-5,
                             AbsTol(op));
    }
  });
}

TEST(CpuSoftmaxTest, EmptyTensorsAndAxisErrors) {
  std::mt19937 rng(7);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (const Shape& shape : {Shape{0, 5}, Shape{3, 0}, Shape{2, 0, 4}}) {
      Tensor x = RandomTensor(shape, rng);
      ExpectMatchesReference(OpSpec(op, 1).Opset(13), {&x}, "empty " + ShapeToString(shape),
                             1e-5, AbsTol(op), /*allow_fallback=*/true);
    }
    Tensor x = RandomTensor({2, 3}, rng);
    for (int64_t opset : {11, 13}) {
      OpSpec bad(op, 1);
      bad.Opset(opset).Int("axis", 3);
      auto fast = bad.BuildOptimized();
      ASSERT_TRUE(fast.ok());
      EXPECT_EQ(RunKernel(**fast, {&x}).status().code(), StatusCode::kInvalidArgument);
    }
    OpSpec known(op, 1);
    known.Dtypes(DataType::kFp16);
    EXPECT_EQ(known.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  }
}

TEST(CpuSoftmaxTest, DoubleInputsDelegateToReference) {
  OpSpec spec("Softmax", 1);
  spec.Dtypes(DataType::kInvalid);
  auto fast = spec.BuildOptimized();
  ASSERT_TRUE(fast.ok());
  Tensor x = Tensor::AllocateDense(DataType::kFp64, {2, 2});
  for (int i = 0; i < 4; ++i) x.mutable_data_as<double>()[i] = i;
  auto y = RunKernel(**fast, {&x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kFp64);
  EXPECT_NEAR(y->data_as<double>()[0] + y->data_as<double>()[1], 1.0, 1e-12);
}

}  // namespace
}  // namespace nereid::engine
