#include "core/request/classification.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

namespace nereid::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename T>
Tensor Make(DataType dtype, Shape shape, std::vector<T> values) {
  Tensor t = Tensor::Allocate(dtype, std::move(shape), values.size() * sizeof(T));
  std::memcpy(t.mutable_data(), values.data(), values.size() * sizeof(T));
  return t;
}

std::vector<std::string> Strings(const Tensor& t) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos + 4 <= t.byte_size()) {
    uint32_t n;
    std::memcpy(&n, t.data() + pos, 4);
    out.emplace_back(t.data() + pos + 4, n);
    pos += 4 + n;
  }
  return out;
}

TEST(ClassificationTest, TopKPerBatchItemWithLabels) {
  std::vector<std::string> labels = {"cat", "dog", "bird"};
  auto t = Make<float>(DataType::kFp32, {2, 3}, {0.1f, 0.7f, 0.2f, 0.5f, 0.25f, 0.25f});
  auto c = Classify(t, 2, true, &labels);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dtype(), DataType::kBytes);
  EXPECT_EQ(c->shape(), (Shape{2, 2}));
  // Ties keep index order: dog(1) before bird(2) in the second row.
  EXPECT_THAT(Strings(*c), ElementsAre("0.700000:1:dog", "0.200000:2:bird", "0.500000:0:cat",
                                       "0.250000:1:dog"));
}

TEST(ClassificationTest, ClampsAndMissingLabels) {
  std::vector<std::string> short_labels = {"zero"};
  auto t = Make<int32_t>(DataType::kInt32, {3}, {5, 9, -1});
  auto c = Classify(t, 10, false, &short_labels);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->shape(), (Shape{3}));
  EXPECT_THAT(Strings(*c), ElementsAre("9:1", "5:0:zero", "-1:2"));
  auto none = Classify(t, 1, false, nullptr);
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(Strings(*none), ElementsAre("9:1"));
}

TEST(ClassificationTest, NaNRanksLastAndHalfFloats) {
  float nan = std::nanf("");
  auto t = Make<float>(DataType::kFp32, {1, 3}, {nan, 1.0f, 2.0f});
  auto c = Classify(t, 3, true, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Strings(*c)[2].substr(Strings(*c)[2].find(':')), ":0");
  // FP16 0x3C00 = 1.0, 0xC000 = -2.0; BF16 0x4040 = 3.0.
  auto h = Make<uint16_t>(DataType::kFp16, {2}, {0xC000, 0x3C00});
  EXPECT_THAT(Strings(*Classify(h, 1, false, nullptr)), ElementsAre("1.000000:1"));
  auto b = Make<uint16_t>(DataType::kBf16, {2}, {0x4040, 0x3F80});
  EXPECT_THAT(Strings(*Classify(b, 1, false, nullptr)), ElementsAre("3.000000:0"));
}

TEST(ClassificationTest, Errors) {
  auto bytes = Make<char>(DataType::kBytes, {1}, {1, 0, 0, 0, 'x'});
  EXPECT_THAT(Classify(bytes, 1, false, nullptr).status().message(), HasSubstr("numeric"));
  auto t = Make<float>(DataType::kFp32, {2}, {1, 2});
  EXPECT_FALSE(Classify(t, 0, false, nullptr).ok());
  RequestedOutput o;
  o.name = "y";
  EXPECT_EQ(*ClassificationCount(o), 0);
  o.parameters["classification"] = int64_t{3};
  EXPECT_EQ(*ClassificationCount(o), 3);
  o.parameters["classification"] = std::string("3");
  EXPECT_THAT(ClassificationCount(o).status().message(), HasSubstr("positive integer"));
  o.parameters["classification"] = int64_t{-1};
  EXPECT_FALSE(ClassificationCount(o).ok());
}

TEST(ClassificationTest, ReadsLabelFiles) {
  std::string path = ::testing::TempDir() + "/nereid_labels.txt";
  std::ofstream(path) << "a\r\nb\n\nd";
  auto labels = ReadLabelFile(path);
  ASSERT_TRUE(labels.ok());
  EXPECT_THAT(*labels, ElementsAre("a", "b", "", "d"));
  std::remove(path.c_str());
  EXPECT_EQ(ReadLabelFile(path).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace nereid::core
