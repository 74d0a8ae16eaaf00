#include "engine/kernels/ref/broadcast.h"

#include <gtest/gtest.h>

#include <vector>

namespace nereid::engine::ref {
namespace {

TEST(BroadcastTest, Shapes) {
  EXPECT_EQ(*BroadcastShapes({2, 3, 4}, {4}), (Shape{2, 3, 4}));
  EXPECT_EQ(*BroadcastShapes({2, 1, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_EQ(*BroadcastShapes({}, {5}), (Shape{5}));
  EXPECT_EQ(*BroadcastShapes({1}, {0}), (Shape{0}));
  EXPECT_EQ(*BroadcastShapes({0, 3}, {1, 3}), (Shape{0, 3}));
  auto bad = BroadcastShapes({2, 3}, {4, 3});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(BroadcastTest, Unidirectional) {
  EXPECT_TRUE(BroadcastsTo({3}, {2, 3}));
  EXPECT_TRUE(BroadcastsTo({}, {2, 3}));
  EXPECT_TRUE(BroadcastsTo({2, 1}, {2, 3}));
  EXPECT_FALSE(BroadcastsTo({2}, {2, 3}));
  EXPECT_FALSE(BroadcastsTo({1, 2, 3}, {2, 3}));
}

TEST(BroadcastTest, StridesAndIteration) {
  const Shape out = {2, 3};
  auto sa = BroadcastStrides({2, 1}, out);
  auto sb = BroadcastStrides({3}, out);
  EXPECT_EQ(sa, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(sb, (std::vector<int64_t>{0, 1}));
  std::vector<std::vector<int64_t>> seen;
  ForEachBroadcast(out, sa, sb, [&](int64_t o, int64_t a, int64_t b) {
    seen.push_back({o, a, b});
  });
  std::vector<std::vector<int64_t>> want = {{0, 0, 0}, {1, 0, 1}, {2, 0, 2},
                                            {3, 1, 0}, {4, 1, 1}, {5, 1, 2}};
  EXPECT_EQ(seen, want);
}

TEST(BroadcastTest, ScalarAndEmpty) {
  int calls = 0;
  ForEachBroadcast({}, {}, {}, [&](int64_t, int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 1);
  calls = 0;
  std::vector<int64_t> z = {0, 0};
  ForEachBroadcast({0, 4}, z, z, [&](int64_t, int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace nereid::engine::ref
