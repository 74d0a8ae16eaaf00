// Tests of the optimized Add/Sub/Mul/Div kernels (binary_ops.cc) against
// the reference kernels: every kind of broadcast (same shape, scalars,
// leading-dim broadcasts, middle and trailing broadcasts, both sides
// broadcast, rank 0..5, size-0 dims), bit-identical results on both the
// AVX-512 and the portable paths, shape errors and dtype fallbacks.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

constexpr const char* kOps[] = {"Add", "Sub", "Mul", "Div"};

// Random pair of broadcast-compatible shapes: each output dim is kept,
// set to 1 or dropped (leading) independently on each side.
std::pair<Shape, Shape> RandomBroadcastPair(std::mt19937& rng) {
  const int rank = static_cast<int>(rng() % 6);
  Shape out(rank);
  for (int d = 0; d < rank; ++d) {
    const int r = static_cast<int>(rng() % 10);
    out[d] = r == 0 ? 1 : r == 1 ? 0 : static_cast<int64_t>(1 + rng() % 37);
  }
  auto side = [&]() {
    Shape s = out;
    for (int64_t& d : s) {
      if (rng() % 3 == 0) d = 1;
    }
    const size_t drop = rank == 0 ? 0 : rng() % (rank + 1);
    if (rng() % 2 == 0) s.erase(s.begin(), s.begin() + static_cast<int64_t>(drop));
    return s;
  };
  return {side(), side()};
}

TEST(CpuBinaryTest, NamedBroadcastsMatchReferenceBitForBit) {
  std::mt19937 rng(1);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 128, 768}, {768}},                 // bias add
      {{1, 12, 128, 128}, {1, 1, 1, 128}},    // attention mask
      {{1, 12, 128, 128}, {}},                // scalar
      {{}, {3, 17}},                          // scalar on the left
      {{1}, {5, 1, 33}},                      // [1] on the left
      {{5, 33}, {5, 33}},                     // same shape
      {{2, 64, 9, 11}, {1, 64, 1, 1}},        // per channel
      {{2, 64, 9, 11}, {64, 1, 1}},           // per channel, lower rank
      {{128, 768}, {128, 1}},                 // per row
      {{4, 1}, {1, 5}},                       // both broadcast
      {{3, 1, 7}, {1, 4, 1}},                 // both broadcast, 3-D
      {{2, 3, 4, 5, 6}, {3, 1, 5, 1}},        // alternating
      {{1, 1, 1}, {1}},                       // all ones
      {{}, {}},                               // rank 0
      {{0, 3}, {3}},                          // empty
      {{4, 0, 2}, {1, 1, 2}},                 // empty middle
      {{70000}, {70000}},                     // long, several chunks
      {{9, 7919}, {7919}},                    // odd rows over chunks
      {{3, 16411}, {3, 1}},                   // rows longer than a chunk
  };
  ForBothPaths([&] {
    for (const char* op : kOps) {
      for (const auto& [sa, sb] : cases) {
        for (int threads : {1, 2, 3}) {
          Tensor a = RandomTensor(sa, rng, -4.0f, 4.0f, 0.02);
          Tensor b = RandomTensor(sb, rng, -4.0f, 4.0f, 0.02);
          ExpectMatchesReference(OpSpec(op, 2).Threads(threads), {&a, &b},
                                 std::string(op) + " " + ShapeToString(sa) + " " +
                                     ShapeToString(sb) + " threads " + std::to_string(threads),
                                 0, 0);
        }
      }
    }
  });
}

TEST(CpuBinaryTest, RandomBroadcastsMatchReferenceBitForBit) {
  std::mt19937 rng(2);
  ForBothPaths([&] {
    for (int iter = 0; iter < 300; ++iter) {
      const char* op = kOps[iter % 4];
      auto [sa, sb] = RandomBroadcastPair(rng);
      Tensor a = RandomTensor(sa, rng, -4.0f, 4.0f, 0.02);
      Tensor b = RandomTensor(sb, rng, -4.0f, 4.0f, 0.02);
      const int threads = 1 + static_cast<int>(rng() % 3);
      constexpr int64_t kOpsets[] = {7, 13, 14};  // the numpy-broadcast opsets
      const int64_t opset = kOpsets[iter % 3];
      ExpectMatchesReference(OpSpec(op, 2).Threads(threads).Opset(opset), {&a, &b},
                             std::string(op) + " opset " + std::to_string(opset) + " " +
                                 ShapeToString(sa) + " " + ShapeToString(sb),
                             0, 0);
    }
  });
}

TEST(CpuBinaryTest, IncompatibleShapesGiveInvalidArgument) {
  std::mt19937 rng(3);
  for (const char* op : kOps) {
    auto fast = OpSpec(op, 2).BuildOptimized();
    ASSERT_TRUE(fast.ok());
    Tensor a = RandomTensor({2, 3}, rng);
    Tensor b = RandomTensor({4}, rng);
    EXPECT_EQ(RunKernel(**fast, {&a, &b}).status().code(), StatusCode::kInvalidArgument) << op;
    Tensor c = RandomTensor({2, 3, 4}, rng);
    Tensor d = RandomTensor({3, 3, 1}, rng);
    EXPECT_EQ(RunKernel(**fast, {&c, &d}).status().code(), StatusCode::kInvalidArgument) << op;
  }
}

TEST(CpuBinaryTest, OtherDtypesFallBack) {
  OpSpec known("Add", 2);
  known.Dtypes(DataType::kInt64);
  EXPECT_EQ(known.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  // Legacy 'axis' broadcasting: the reference factory's answer.
  OpSpec legacy("Mul", 2);
  legacy.Opset(6).Int("axis", 1);
  EXPECT_EQ(legacy.BuildOptimized().status().code(), StatusCode::kUnimplemented);

  OpSpec unknown("Div", 2);
  unknown.Dtypes(DataType::kInvalid);
  auto fast = unknown.BuildOptimized();
  ASSERT_TRUE(fast.ok());
  Tensor a = Tensor::AllocateDense(DataType::kInt32, {3});
  Tensor b = Tensor::AllocateDense(DataType::kInt32, {1});
  for (int i = 0; i < 3; ++i) a.mutable_data_as<int32_t>()[i] = 7 * (i + 1);
  b.mutable_data_as<int32_t>()[0] = 2;
  auto y = RunKernel(**fast, {&a, &b});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(y->dtype(), DataType::kInt32);
  EXPECT_EQ(y->data_as<int32_t>()[2], 10);
  // Integer division by zero: the reference's error.
  b.mutable_data_as<int32_t>()[0] = 0;
  EXPECT_EQ(RunKernel(**fast, {&a, &b}).status().code(), StatusCode::kInvalidArgument);
  // Mixed dtypes: the reference's error.
  std::mt19937 rng(4);
  Tensor f = RandomTensor({3}, rng);
  EXPECT_EQ(RunKernel(**fast, {&f, &b}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nereid::engine
