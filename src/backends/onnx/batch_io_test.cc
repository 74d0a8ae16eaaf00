#include "backends/onnx/batch_io.h"

#include <gtest/gtest.h>

#include <cstring>

namespace nereid::backends {
namespace {

TEST(BatchIoTest, GatherAndScatterRoundTrip) {
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6};
  TensorView va{DataType::kFp32, {2, 2}, reinterpret_cast<char*>(a.data()), 16};
  TensorView vb{DataType::kFp32, {1, 2}, reinterpret_cast<char*>(b.data()), 8};
  auto g = GatherBatch({va, vb});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->shape(), (Shape{3, 2}));
  EXPECT_EQ(g->data_as<float>()[4], 5.0f);
  auto parts = ScatterBatch(*g, {2, 1});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[1].shape(), (Shape{1, 2}));
  EXPECT_EQ((*parts)[1].data_as<float>()[1], 6.0f);
  EXPECT_EQ((*parts)[0].byte_size(), 16u);
  EXPECT_FALSE(ScatterBatch(*g, {1, 1}).ok());
}

TEST(BatchIoTest, MismatchedPartsAreRefused) {
  std::vector<float> a(4);
  TensorView va{DataType::kFp32, {1, 4}, reinterpret_cast<char*>(a.data()), 16};
  TensorView vb{DataType::kFp32, {2, 2}, reinterpret_cast<char*>(a.data()), 16};
  EXPECT_FALSE(GatherBatch({va, vb}).ok());
  TensorView vc{DataType::kInt32, {1, 4}, reinterpret_cast<char*>(a.data()), 16};
  EXPECT_FALSE(GatherBatch({va, vc}).ok());
}

TEST(BatchIoTest, BytesScatterWalksElements) {
  std::string data;
  for (std::string s : {"a", "bcd", "", "ef"}) {
    uint32_t n = s.size();
    data.append(reinterpret_cast<char*>(&n), 4);
    data += s;
  }
  Tensor t = Tensor::CopyOf({DataType::kBytes, {2, 2}, data.data(), data.size()});
  auto parts = ScatterBatch(t, {1, 1});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0].byte_size(), 4u + 1 + 4 + 3);
  EXPECT_EQ((*parts)[1].byte_size(), 4u + 0 + 4 + 2);
}

}  // namespace
}  // namespace nereid::backends
