#include "common/npy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace nereid {
namespace {

TEST(NpyTest, RoundTrip) {
  auto path = (std::filesystem::temp_directory_path() / "nereid_npy_test.npy").string();
  Tensor t = Tensor::AllocateDense(DataType::kInt64, {2, 3});
  for (int i = 0; i < 6; ++i) t.mutable_data_as<int64_t>()[i] = i * 7 - 3;
  ASSERT_TRUE(WriteNpy(path, t).ok());
  auto r = ReadNpy(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->shape(), (Shape{2, 3}));
  EXPECT_EQ(r->data_as<int64_t>()[5], 32);
  Tensor s = Tensor::AllocateDense(DataType::kFp32, {4});
  ASSERT_TRUE(WriteNpy(path, s).ok());
  EXPECT_EQ(ReadNpy(path)->shape(), (Shape{4}));
  std::filesystem::remove(path);
}

TEST(NpyTest, BadFiles) {
  auto path = (std::filesystem::temp_directory_path() / "nereid_npy_bad.npy").string();
  std::ofstream(path) << "hello";
  EXPECT_EQ(ReadNpy(path).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadNpy("/nonexistent.npy").status().code(), StatusCode::kNotFound);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace nereid
