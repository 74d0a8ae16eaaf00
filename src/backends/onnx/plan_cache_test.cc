#include "backends/onnx/plan_cache.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backends/onnx/plan_source.h"

namespace nereid::backends {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class PlanCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("nereid_plan_cache_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "model" / "1");
    model_ = (root_ / "model" / "1" / "model.onnx").string();
    fs::copy_file(NEREID_EXAMPLES_DIR "/model_repository/digits_mlp/1/model.onnx", model_);
  }
  void TearDown() override { fs::remove_all(root_); }

  core::ModelFiles Files() const {
    return {(root_ / "model").string(), (root_ / "model" / "1").string(), model_};
  }

  fs::path root_;
  std::string model_;
};

TEST_F(PlanCacheTest, KeyCoversModelFilesAndSettings) {
  auto key = PlanCache::Key(model_, "precision=fp32", "");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 64u);
  EXPECT_EQ(*PlanCache::Key(model_, "precision=fp32", ""), *key);  // stable
  EXPECT_NE(*PlanCache::Key(model_, "precision=bf16", ""), *key);
  {
    std::ofstream(model_, std::ios::app) << "x";  // the model's bytes changed
  }
  auto changed = PlanCache::Key(model_, "precision=fp32", "");
  EXPECT_NE(*changed, *key);
  { std::ofstream(root_ / "model" / "1" / "weights.bin") << "external data"; }
  EXPECT_NE(*PlanCache::Key(model_, "precision=fp32", ""), *changed);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(PlanCacheTest, StoreLoadAndUnusableEntries) {
  auto cache = PlanCache::Create((root_ / "cache").string());
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  const std::string key = *PlanCache::Key(model_, "", "");
  auto missing = (*cache)->Load(key, {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  auto plan = engine::CompileFileToPlan(model_, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE((*cache)->Store(key, **plan).ok());
  auto loaded = (*cache)->Load(key, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE((*loaded)->info().loaded_from_file);

  // A truncated entry is an error other than NotFound (the caller recompiles).
  fs::resize_file((*cache)->PathFor(key), 100);
  auto truncated = (*cache)->Load(key, {});
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(truncated.status().message(), HasSubstr("truncated plan file"));

  std::ofstream(root_ / "file") << "x";
  EXPECT_FALSE(PlanCache::Create((root_ / "file").string()).ok());
}

TEST_F(PlanCacheTest, ObtainPlanCompilesCachesAndReusesThePlan) {
  auto cache = PlanCache::Create((root_ / "cache").string());
  ASSERT_TRUE(cache.ok());
  inference::ModelConfig config;
  config.set_name("digits");
  auto first = ObtainPlan(config, Files(), 1, cache->get());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE((*first)->info().loaded_from_file);  // compiled
  auto second = ObtainPlan(config, Files(), 1, cache->get());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE((*second)->info().loaded_from_file);  // from the cache
  // A corrupt entry is replaced, not fatal.
  for (const auto& entry : fs::directory_iterator(root_ / "cache")) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(fs::file_size(entry.path()) - 3);
    f.seekg(at);
    const char byte = static_cast<char>(f.get());
    f.seekp(at);
    f.put(static_cast<char>(byte ^ 0xFF));
  }
  auto third = ObtainPlan(config, Files(), 1, cache->get());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_FALSE((*third)->info().loaded_from_file);
  EXPECT_TRUE((*ObtainPlan(config, Files(), 1, cache->get()))->info().loaded_from_file);
}

TEST_F(PlanCacheTest, PlanFilesAreLoadedAndRefuseCompileSettings) {
  auto plan = engine::CompileFileToPlan(model_, {});
  ASSERT_TRUE(plan.ok());
  const std::string path = (root_ / "model" / "1" / "model.plan").string();
  ASSERT_TRUE(engine::WritePlanFile(**plan, path).ok());
  inference::ModelConfig config;
  config.set_platform("nereid_plan");
  core::ModelFiles files = Files();
  files.model_path = path;
  auto loaded = ObtainPlan(config, files, 1, nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE((*loaded)->info().loaded_from_file);

  (*config.mutable_parameters())["precision"].set_string_value("fp32");
  auto refused = ObtainPlan(config, files, 1, nullptr);
  EXPECT_THAT(refused.status().message(), HasSubstr("is a compiled plan"));

  // platform nereid_plan with an ONNX file: not a plan, said plainly.
  config.clear_parameters();
  files.model_path = model_;
  EXPECT_THAT(ObtainPlan(config, files, 1, nullptr).status().message(),
              HasSubstr("not a Nereid plan file"));
}

}  // namespace
}  // namespace nereid::backends

namespace nereid::backends {
namespace {

TEST_F(PlanCacheTest, HandoffGivesAutoCompletesPlanToTheLoadThatFollows) {
  inference::ModelConfig config;
  config.set_name("digits");
  const std::string key = PlanHandoff::Key(config, Files(), 2);
  ASSERT_FALSE(key.empty());
  EXPECT_EQ(PlanHandoff::Key(config, Files(), 2), key);
  EXPECT_NE(PlanHandoff::Key(config, Files(), 1), key);  // other threads
  (*config.mutable_parameters())["precision"].set_string_value("fp32");
  EXPECT_EQ(PlanHandoff::Key(config, Files(), 2), key);  // the default, spelled out
  (*config.mutable_parameters())["shapes"].set_string_value("pixels:1x64");
  EXPECT_NE(PlanHandoff::Key(config, Files(), 2), key);  // other settings
  config.clear_parameters();

  PlanHandoff handoff;
  handoff.Put(key, std::move(engine::CompileFileToPlan(model_, {})).value());
  EXPECT_EQ(handoff.Take(key + "x"), nullptr);
  EXPECT_NE(handoff.Take(key), nullptr);
  EXPECT_EQ(handoff.Take(key), nullptr);  // taken once

  // A file of the model changing in between changes the key.
  handoff.Put(key, std::move(engine::CompileFileToPlan(model_, {})).value());
  {
    std::ofstream(root_ / "model" / "1" / "weights.bin") << "new external data";
  }
  EXPECT_EQ(handoff.Take(PlanHandoff::Key(config, Files(), 2)), nullptr);
}

}  // namespace
}  // namespace nereid::backends
