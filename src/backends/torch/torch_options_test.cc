#include "backends/torch/torch_options.h"

#include <gtest/gtest.h>

namespace nereid::backends::pytorch {
namespace {

inference::ModelConfig With(std::initializer_list<std::pair<const char*, const char*>> params) {
  inference::ModelConfig c;
  for (const auto& [k, v] : params) (*c.mutable_parameters())[k].set_string_value(v);
  return c;
}

TEST(TorchOptionsTest, Defaults) {
  auto o = ParseTorchOptions(inference::ModelConfig());
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->inference_mode);
  EXPECT_TRUE(o->optimized_execution);
  EXPECT_EQ(o->intra_op_threads, 0);
  EXPECT_EQ(o->inter_op_threads, 0);
  EXPECT_FALSE(o->jit_executor.has_value());
  EXPECT_FALSE(o->jit_profiling.has_value());
  EXPECT_FALSE(o->weight_sharing);
}

TEST(TorchOptionsTest, TritonParameters) {
  auto o = ParseTorchOptions(With({{"INFERENCE_MODE", "false"},
                                   {"DISABLE_OPTIMIZED_EXECUTION", "TRUE"},
                                   {"INTRA_OP_THREAD_COUNT", "2"},
                                   {"INTER_OP_THREAD_COUNT", "1"},
                                   {"ENABLE_JIT_EXECUTOR", "off"},
                                   {"ENABLE_JIT_PROFILING", "1"},
                                   {"ENABLE_WEIGHT_SHARING", "On"},
                                   {"DISABLE_CUDNN", "whatever: GPU only, ignored"}}));
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_FALSE(o->inference_mode);
  EXPECT_FALSE(o->optimized_execution);
  EXPECT_EQ(o->intra_op_threads, 2);
  EXPECT_EQ(o->inter_op_threads, 1);
  EXPECT_EQ(o->jit_executor, false);
  EXPECT_EQ(o->jit_profiling, true);
  EXPECT_TRUE(o->weight_sharing);
}

TEST(TorchOptionsTest, BadValuesNameTheParameter) {
  auto b = ParseTorchOptions(With({{"INFERENCE_MODE", "maybe"}}));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "parameter 'INFERENCE_MODE' must be true or false, got 'maybe'");
  for (const char* bad : {"-1", "1025", "two", "2 ", ""}) {
    auto n = ParseTorchOptions(With({{"INTRA_OP_THREAD_COUNT", bad}}));
    ASSERT_FALSE(n.ok()) << bad;
    EXPECT_EQ(n.status().message(), std::string("parameter 'INTRA_OP_THREAD_COUNT' must be an "
                                                "integer in [0, 1024], got '") +
                                        bad + "'");
  }
}

}  // namespace
}  // namespace nereid::backends::pytorch
