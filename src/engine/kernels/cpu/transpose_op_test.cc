// Tests of the optimized Transpose kernel (transpose_op.cc) against the
// reference kernel: every permutation of ranks 1..4 and random ones of
// ranks 5..6 over shapes with size-1 dims, odd sizes and tile tails (memcpy
// runs, tiled 2-D and batched transposes), BERT's shapes, size-0 tensors,
// the default (reversing) perm, invalid perms and dtype fallbacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/cpu_kernel_test_util.h"

namespace nereid::engine {
namespace {

using namespace cputest;  // NOLINT: test helpers

void CheckAllPerms(const Shape& shape, std::mt19937& rng, int threads) {
  std::vector<int64_t> perm(shape.size());
  std::iota(perm.begin(), perm.end(), 0);
  Tensor x = RandomTensor(shape, rng, -1.0f, 1.0f, 0.01);
  do {
    OpSpec spec("Transpose", 1);
    spec.Ints("perm", perm).Threads(threads);
    ExpectMatchesReference(spec, {&x}, ShapeToString(shape) + " perm " + ShapeToString(perm), 0,
                           0);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(CpuTransposeTest, AllPermutationsMatchReference) {
  std::mt19937 rng(21);
  ForBothPaths([&] {
    for (const Shape& shape :
         {Shape{}, Shape{37}, Shape{17, 33}, Shape{16, 32}, Shape{1, 40}, Shape{128, 768},
          Shape{3, 5, 7}, Shape{1, 19, 1}, Shape{16, 48, 20}, Shape{1, 128, 12, 64},
          Shape{2, 3, 5, 7}, Shape{2, 1, 17, 35}, Shape{1, 12, 128, 64}}) {
      CheckAllPerms(shape, rng, 3);
    }
  });
}

TEST(CpuTransposeTest, RandomHighRankPermutations) {
  std::mt19937 rng(22);
  ForBothPaths([&] {
    for (int iter = 0; iter < 60; ++iter) {
      const size_t rank = 5 + iter % 2;
      Shape shape(rank);
      for (int64_t& d : shape) d = 1 + static_cast<int64_t>(rng() % 7);
      std::vector<int64_t> perm(rank);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      Tensor x = RandomTensor(shape, rng);
      OpSpec spec("Transpose", 1);
      spec.Ints("perm", perm).Threads(1 + iter % 3);
      ExpectMatchesReference(spec, {&x}, ShapeToString(shape) + " perm " + ShapeToString(perm),
                             0, 0);
    }
  });
}

TEST(CpuTransposeTest, DefaultPermEmptyAndErrors) {
  std::mt19937 rng(23);
  Tensor x = RandomTensor({3, 18, 19}, rng);
  ExpectMatchesReference(OpSpec("Transpose", 1), {&x}, "default perm", 0, 0);
  for (const Shape& shape : {Shape{0, 3}, Shape{2, 0, 4}}) {
    Tensor e = RandomTensor(shape, rng);
    OpSpec spec("Transpose", 1);
    spec.Ints("perm", {1, 0, 2});
    if (shape.size() == 2) spec.Ints("perm", {1, 0});
    ExpectMatchesReference(spec, {&e}, "empty " + ShapeToString(shape), 0, 0);
  }
  for (const std::vector<int64_t>& bad :
       {std::vector<int64_t>{0, 1}, std::vector<int64_t>{0, 0, 1}, std::vector<int64_t>{0, 1, 3},
        std::vector<int64_t>{-1, 0, 1}}) {
    OpSpec spec("Transpose", 1);
    spec.Ints("perm", bad);
    auto fast = spec.BuildOptimized();
    ASSERT_TRUE(fast.ok());
    EXPECT_EQ(RunKernel(**fast, {&x}).status().code(), StatusCode::kInvalidArgument)
        << ShapeToString(bad);
  }
  OpSpec known("Transpose", 1);
  known.Dtypes(DataType::kInt64);
  EXPECT_EQ(known.BuildOptimized().status().code(), StatusCode::kUnimplemented);
  // Unknown dtype at build, int64 at run time: the reference runs it.
  OpSpec unknown("Transpose", 1);
  unknown.Dtypes(DataType::kInvalid);
  auto fast = unknown.BuildOptimized();
  ASSERT_TRUE(fast.ok());
  Tensor ints = Tensor::AllocateDense(DataType::kInt64, {2, 3});
  for (int i = 0; i < 6; ++i) ints.mutable_data_as<int64_t>()[i] = i;
  auto y = RunKernel(**fast, {&ints});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{3, 2}));
  EXPECT_EQ(y->data_as<int64_t>()[1], 3);
}

}  // namespace
}  // namespace nereid::engine
