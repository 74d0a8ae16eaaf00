#include "backends/onnx/onnx_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

namespace nereid::backends {
namespace {

inference::ModelConfig Parse(const std::string& text) {
  inference::ModelConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config));
  return config;
}

TEST(OnnxIntraOpThreadsTest, CoresAreSharedAmongInstances) {
  EXPECT_EQ(*OnnxIntraOpThreads(Parse(R"(instance_group [ { count: 1 } ])"), 8), 8);
  EXPECT_EQ(*OnnxIntraOpThreads(Parse(R"(instance_group [ { count: 4 } ])"), 8), 2);
  EXPECT_EQ(*OnnxIntraOpThreads(Parse(R"(instance_group [ { count: 2 }, { count: 2 } ])"), 8), 2);
  EXPECT_EQ(*OnnxIntraOpThreads(Parse(R"(instance_group [ { count: 3 } ])"), 2), 1);
  EXPECT_EQ(*OnnxIntraOpThreads(Parse(""), 2), 2);
}

TEST(OnnxIntraOpThreadsTest, ParameterOverrides) {
  auto config = Parse(R"(instance_group [ { count: 2 } ]
    parameters { key: "intra_op_thread_count" value: { string_value: "3" } })");
  EXPECT_EQ(*OnnxIntraOpThreads(config, 2), 3);
  config = Parse(R"(parameters { key: "intra_op_thread_count" value: { string_value: "0" } })");
  EXPECT_EQ(*OnnxIntraOpThreads(config, 4), 4);  // 0 = default
}

TEST(OnnxIntraOpThreadsTest, BadParameterIsAClearError) {
  for (const char* bad : {"two", "-1", "", "3x", "100000"}) {
    auto config = Parse(std::string(R"(parameters { key: "intra_op_thread_count" value: { string_value: ")") +
                        bad + "\" } }");
    auto threads = OnnxIntraOpThreads(config, 2);
    ASSERT_FALSE(threads.ok()) << bad;
    EXPECT_EQ(threads.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(threads.status().message(), ::testing::HasSubstr("intra_op_thread_count"));
  }
}

}  // namespace
}  // namespace nereid::backends
