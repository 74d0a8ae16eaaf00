#include "core/repository/repository_scanner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

namespace fs = std::filesystem;

class ScannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("nereid_scan_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(ScannerTest, ListsModelsAndVersions) {
  for (auto v : {"1", "3", "10", "007", "abc", "0"}) fs::create_directories(root_ / "r1/m" / v);
  fs::create_directories(root_ / "r1/.hidden");
  fs::create_directories(root_ / "r2/n");
  auto scan = ScanRepositories({(root_ / "r1").string(), (root_ / "r2").string()});
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->models.size(), 2u);
  EXPECT_EQ(scan->models[0].name, "m");
  EXPECT_EQ(scan->models[1].name, "n");
  EXPECT_EQ(ListVersions(scan->models[0].dir), (std::vector<int64_t>{0, 1, 3, 10}));
}

TEST_F(ScannerTest, DuplicateNamesAcrossRootsAreRefused) {
  fs::create_directories(root_ / "r1/m/1");
  fs::create_directories(root_ / "r2/m/1");
  auto scan = ScanRepositories({(root_ / "r1").string(), (root_ / "r2").string()});
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->models.empty());
  EXPECT_FALSE(scan->conflicts.empty());
}

TEST_F(ScannerTest, MissingRootIsAnError) {
  auto scan = ScanRepositories({(root_ / "nope").string()});
  ASSERT_FALSE(scan.ok());
  EXPECT_THAT(scan.status().message(), ::testing::HasSubstr("does not exist"));
}

TEST(SelectVersionsTest, Policies) {
  std::vector<int64_t> avail = {1, 2, 5, 9};
  inference::ModelVersionPolicy p;
  EXPECT_EQ(*SelectVersions(p, avail), (std::vector<int64_t>{9}));
  p.mutable_latest()->set_num_versions(2);
  EXPECT_EQ(*SelectVersions(p, avail), (std::vector<int64_t>{5, 9}));
  p.mutable_all();
  EXPECT_EQ(*SelectVersions(p, avail), avail);
  p.mutable_specific()->add_versions(2);
  EXPECT_EQ(*SelectVersions(p, avail), (std::vector<int64_t>{2}));
  p.mutable_specific()->add_versions(4);
  EXPECT_EQ(SelectVersions(p, avail).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(SelectVersions(inference::ModelVersionPolicy(), {}).ok());
}

}  // namespace
}  // namespace nereid::core
