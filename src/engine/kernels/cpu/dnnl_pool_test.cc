// Tests of the oneDNN pooling kernels (dnnl_pool.cc) against the reference
// kernels: MaxPool and AveragePool over kernel/stride/pad/auto_pad/
// ceil_mode/count_include_pad combinations in 1-D, 2-D and 3-D, the global
// pools, and the cases that must run on the reference kernel (Indices,
// dilations, windows inside the padding, count_include_pad with ceil_mode
// overhang, empty and non-FP32 tensors) or fail like it.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

struct PoolCase {
  std::vector<int64_t> kernel, strides, pads;
  std::string auto_pad = "";
  int64_t ceil_mode = 0;
};

std::string Describe(const PoolCase& c) {
  return "k" + ShapeToString(c.kernel) + " s" + ShapeToString(c.strides) + " p" +
         ShapeToString(c.pads) + " " + c.auto_pad + " ceil " + std::to_string(c.ceil_mode);
}

OpSpec MakeSpec(const char* op, const PoolCase& c) {
  OpSpec spec(op, 1);
  spec.Ints("kernel_shape", c.kernel);
  if (!c.strides.empty()) spec.Ints("strides", c.strides);
  if (!c.pads.empty()) spec.Ints("pads", c.pads);
  if (!c.auto_pad.empty()) spec.String("auto_pad", c.auto_pad);
  if (c.ceil_mode) spec.Int("ceil_mode", 1);
  return spec;
}

TEST(DnnlPoolTest, TwoDimensionalWindowsMatchReference) {
  std::mt19937 rng(31);
  const std::vector<PoolCase> cases = {
      {{3, 3}, {2, 2}, {1, 1, 1, 1}},  // ResNet's stem MaxPool
      {{2, 2}, {2, 2}, {}},
      {{3, 3}, {1, 1}, {}},
      {{3, 2}, {2, 1}, {0, 1, 1, 0}},
      {{3, 3}, {2, 2}, {}, "", 1},
      {{3, 3}, {2, 2}, {1, 1, 1, 1}, "", 1},
      {{2, 2}, {3, 3}, {}, "", 1},
      {{3, 3}, {2, 2}, {}, "SAME_UPPER"},
      {{4, 4}, {3, 3}, {}, "SAME_LOWER"},
      {{3, 3}, {2, 2}, {}, "VALID"},
      {{1, 1}, {2, 2}, {}},
      {{5, 5}, {1, 1}, {2, 2, 2, 2}},
  };
  for (const Shape& shape : {Shape{1, 3, 9, 9}, Shape{2, 5, 11, 8}, Shape{1, 64, 28, 28}}) {
    for (const PoolCase& c : cases) {
      // Opsets with ceil_mode (10+); MaxPool 12 adds int8 (not used here).
      const int64_t opset = shape[1] == 5 ? 10 : shape[1] == 3 ? 11 : 12;
      Tensor x = RandomTensor(shape, rng, -5.0f, 5.0f);
      ExpectMatchesReference(MakeSpec("MaxPool", c).Opset(opset), {&x},
                             "MaxPool " + ShapeToString(shape) + " " + Describe(c), 0, 0);
      for (int cip : {0, 1}) {
        OpSpec avg = MakeSpec("AveragePool", c);
        avg.Opset(opset).Int("count_include_pad", cip);
        // Include-pad averages with a ceil_mode overhang run on the reference.
        ExpectMatchesReference(avg, {&x},
                               "AveragePool cip " + std::to_string(cip) + " " +
                                   ShapeToString(shape) + " " + Describe(c),
                               1e-5, 1e-6, /*allow_fallback=*/cip == 1 && c.ceil_mode == 1);
      }
    }
  }
}

TEST(DnnlPoolTest, OneAndThreeDimensionalWindowsMatchReference) {
  std::mt19937 rng(32);
  Tensor x1 = RandomTensor({2, 3, 17}, rng);
  ExpectMatchesReference(MakeSpec("MaxPool", {{3}, {2}, {1, 1}}), {&x1}, "1-D max", 0, 0);
  ExpectMatchesReference(MakeSpec("AveragePool", {{4}, {3}, {0, 2}}), {&x1}, "1-D avg", 1e-5,
                         1e-6);
  Tensor x3 = RandomTensor({1, 4, 6, 7, 5}, rng);
  ExpectMatchesReference(MakeSpec("MaxPool", {{2, 3, 2}, {2, 1, 2}, {0, 1, 1, 1, 1, 0}}), {&x3},
                         "3-D max", 0, 0);
  ExpectMatchesReference(MakeSpec("AveragePool", {{3, 3, 3}, {1, 2, 1}, {}}), {&x3}, "3-D avg",
                         1e-5, 1e-6);
}

TEST(DnnlPoolTest, GlobalPoolsMatchReference) {
  std::mt19937 rng(33);
  for (const Shape& shape : {Shape{1, 2048, 7, 7}, Shape{2, 3, 5}, Shape{2, 3, 4, 5, 6},
                             Shape{1, 8, 1, 1}, Shape{3, 7, 13, 1}}) {
    Tensor x = RandomTensor(shape, rng, -3.0f, 3.0f);
    ExpectMatchesReference(OpSpec("GlobalMaxPool", 1), {&x}, "GlobalMaxPool " + ShapeToString(shape),
                           0, 0);
    ExpectMatchesReference(OpSpec("GlobalAveragePool", 1), {&x},
                           "GlobalAveragePool " + ShapeToString(shape), 1e-5, 1e-6);
  }
}

TEST(DnnlPoolTest, AwkwardCasesRunOnTheReference) {
  std::mt19937 rng(34);
  Tensor x = RandomTensor({1, 2, 9, 9}, rng);
  // Indices output: the optimized factory declines.
  OpSpec indices("MaxPool", 1, 2);
  indices.Ints("kernel_shape", {2, 2});
  EXPECT_EQ(indices.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  OpSpec dilated = MakeSpec("MaxPool", {{2, 2}, {1, 1}, {}});
  dilated.Ints("dilations", {2, 2});
  EXPECT_EQ(dilated.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  // storage_order only affects Indices: accepted without them.
  OpSpec order = MakeSpec("MaxPool", {{3, 3}, {2, 2}, {}});
  order.Int("storage_order", 1);
  ExpectMatchesReference(order, {&x}, "storage_order without Indices", 0, 0);
  // Pads as large as the kernel (windows entirely in padding).
  ExpectMatchesReference(MakeSpec("MaxPool", {{2, 2}, {1, 1}, {2, 2, 2, 2}}), {&x},
                         "pads >= kernel", 0, 0, /*allow_fallback=*/true);
  ExpectMatchesReference(MakeSpec("AveragePool", {{2, 2}, {1, 1}, {0, 0, 3, 3}}), {&x},
                         "end pads >= kernel", 1e-5, 1e-6, /*allow_fallback=*/true);
  // Empty batch, 8-bit integers (MaxPool opset 12) and bad geometry.
  Tensor empty = RandomTensor({0, 2, 9, 9}, rng);
  ExpectMatchesReference(MakeSpec("MaxPool", {{2, 2}, {2, 2}, {}}), {&empty}, "empty", 0, 0,
                         true);
  OpSpec int8 = MakeSpec("MaxPool", {{2, 2}, {2, 2}, {}});
  int8.Dtypes(DataType::kInvalid);
  auto k = int8.BuildOptimized();
  ASSERT_TRUE(k.ok());
  Tensor bytes = Tensor::AllocateDense(DataType::kInt8, {1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) bytes.mutable_data_as<int8_t>()[i] = static_cast<int8_t>(i - 2);
  auto y = RunKernel(**k, {&bytes});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->data_as<int8_t>()[0], 1);
  Tensor small = RandomTensor({1, 1, 2, 2}, rng);
  auto too_big = MakeSpec("MaxPool", {{3, 3}, {1, 1}, {}}).BuildOptimized();
  ASSERT_TRUE(too_big.ok());
  EXPECT_EQ(RunKernel(**too_big, {&small}).status().code(), StatusCode::kInvalidArgument);
  Tensor rank2 = RandomTensor({3, 4}, rng);
  EXPECT_EQ(RunKernel(**too_big, {&rank2}).status().code(), StatusCode::kInvalidArgument);
  OpSpec no_kernel("MaxPool", 1);
  EXPECT_EQ(no_kernel.BuildOptimized().status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nereid::engine
