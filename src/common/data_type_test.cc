#include "common/data_type.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/tensor.h"

namespace nereid {
namespace {

TEST(DataTypeTest, NamesRoundTrip) {
  for (int i = 1; i <= 14; ++i) {
    auto dt = static_cast<DataType>(i);
    EXPECT_EQ(DataTypeFromName(DataTypeName(dt)), dt) << i;
  }
  EXPECT_EQ(DataTypeFromName("FLOAT"), DataType::kInvalid);
  EXPECT_EQ(DataTypeFromName("INVALID"), DataType::kInvalid);
  EXPECT_EQ(ConfigDataTypeName(DataType::kBytes), "TYPE_STRING");
  EXPECT_EQ(ConfigDataTypeName(DataType::kFp32), "TYPE_FP32");
}

TEST(DataTypeTest, Sizes) {
  EXPECT_EQ(DataTypeByteSize(DataType::kBool), 1u);
  EXPECT_EQ(DataTypeByteSize(DataType::kFp16), 2u);
  EXPECT_EQ(DataTypeByteSize(DataType::kBf16), 2u);
  EXPECT_EQ(DataTypeByteSize(DataType::kUint64), 8u);
  EXPECT_EQ(DataTypeByteSize(DataType::kBytes), 0u);
}

TEST(DataTypeTest, ElementCount) {
  EXPECT_EQ(*ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount({}), 1);
  EXPECT_EQ(*ElementCount({0, 5}), 0);
  EXPECT_FALSE(ElementCount({2, -1}).ok());
  EXPECT_FALSE(ElementCount({1ll << 40, 1ll << 40}).ok());
}

TEST(DataTypeTest, SerializedBytes) {
  std::string buf;
  auto put = [&](const std::string& s) {
    uint32_t n = s.size();
    buf.append(reinterpret_cast<char*>(&n), 4);
    buf += s;
  };
  put("hello");
  put("");
  put("x");
  EXPECT_EQ(*CountSerializedBytesElements(buf.data(), buf.size()), 3);
  EXPECT_FALSE(CountSerializedBytesElements(buf.data(), buf.size() - 1).ok());
  EXPECT_FALSE(CountSerializedBytesElements(buf.data(), 2).ok());
}

TEST(TensorTest, AllocateIsAligned) {
  Tensor t = Tensor::AllocateDense(DataType::kFp32, {3, 5});
  EXPECT_EQ(t.byte_size(), 60u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  float v[2] = {1.5f, 2.5f};
  TensorView view{DataType::kFp32, {2}, reinterpret_cast<const char*>(v), 8};
  Tensor c = Tensor::CopyOf(view);
  EXPECT_EQ(c.data_as<float>()[1], 2.5f);
  EXPECT_NE(c.data(), view.data);
}

}  // namespace
}  // namespace nereid
